"""The embedded SCT of a Warden code-signing certificate, checked two ways nobody here wrote:

1. by the stock `sigstore` client's own SCT check (`sigstore._internal.sct.verify_sct`, what
   `sigstore verify` runs), with Warden's CT public key as the only CT log key;
2. independently, from the RFC 6962 §3.2 text with `cryptography`: rebuild the
   `digitally-signed` struct from the certificate's TBS without the SCT list and the issuer's
   key hash, and verify the SCT's ECDSA signature over it.

Usage: python3 sct_sigstore.py LEAF.pem ISSUER.pem CT_PUBLIC_KEY.pem
Prints one line per check; exits non-zero on any failure.
"""

import base64
import hashlib
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore._internal.sct import verify_sct
from sigstore._internal.trust import Keyring
from sigstore_models.common import v1 as common_v1


def main(leaf_path: str, issuer_path: str, ct_path: str) -> None:
    leaf = x509.load_pem_x509_certificate(open(leaf_path, "rb").read())
    issuer = x509.load_pem_x509_certificate(open(issuer_path, "rb").read())
    ct_key = serialization.load_pem_public_key(open(ct_path, "rb").read())
    ct_der = ct_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    keyring = Keyring(
        [
            common_v1.PublicKey(
                # The models hold bytes fields base64-encoded, as in trusted_root.json.
                raw_bytes=base64.b64encode(ct_der),
                key_details=common_v1.PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
            )
        ]
    )
    verify_sct(leaf, [issuer], keyring)
    print("sigstore verify_sct: OK")

    scts = leaf.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps
    ).value
    (sct,) = list(scts)
    if sct.log_id != hashlib.sha256(ct_der).digest():
        raise SystemExit("SCT log id is not SHA-256 of the CT key")
    issuer_spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tbs = leaf.tbs_precertificate_bytes
    timestamp_ms = int(sct.timestamp.timestamp() * 1000)
    signed = (
        struct.pack(">BBQH", 0, 0, timestamp_ms, 1)
        + hashlib.sha256(issuer_spki).digest()
        + len(tbs).to_bytes(3, "big")
        + tbs
        + struct.pack(">H", 0)
    )
    ct_key.verify(sct.signature, signed, ec.ECDSA(hashes.SHA256()))
    print("RFC 6962 digitally-signed struct rebuilt independently: signature OK")


if __name__ == "__main__":
    main(*sys.argv[1:4])
