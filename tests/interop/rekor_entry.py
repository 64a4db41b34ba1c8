"""Warden's hashedrekord 0.0.2 entry bodies, judged by the stock `sigstore` client (4.5.1): the
client rebuilds the entry it expects for a bundle exactly as `sigstore verify` does
(`_validate_hashedrekord_v002_entry_body` for message signatures,
`_validate_hashedrekord_v002_dsse_entry_body` for DSSE) and compares it with Warden's body
parsed by the Sigstore models.

Usage: python3 rekor_entry.py BUNDLE.json ENTRY_BODY.json [ARTIFACT]
(ARTIFACT for a message-signature bundle). Prints one line; exits non-zero on a mismatch.
"""

import base64
import hashlib
import json
import sys

from cryptography import x509
from sigstore._internal.key_details import _get_prehash
from sigstore.verify.verifier import _v2_verifier_from_certificate
from sigstore_models.common import v1
from sigstore_models.rekor import v2


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def main(bundle_path: str, body_path: str, artifact_path: str | None) -> None:
    bundle = json.load(open(bundle_path))
    material = bundle["verificationMaterial"]
    certificate = x509.load_der_x509_certificate(
        base64.b64decode(material["certificate"]["rawBytes"])
    )
    verifier = _v2_verifier_from_certificate(certificate)
    if "dsseEnvelope" in bundle:
        envelope = bundle["dsseEnvelope"]
        algorithm, hash_func = _get_prehash(verifier.key_details)
        digest = hash_func(
            pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))
        ).digest()
        signature = base64.b64decode(envelope["signatures"][0]["sig"])
    else:
        algorithm = v1.HashAlgorithm.SHA2_256
        digest = hashlib.sha256(open(artifact_path, "rb").read()).digest()
        signature = base64.b64decode(bundle["messageSignature"]["signature"])
    expected = v2.entry.Entry(
        kind="hashedrekord",
        api_version="0.0.2",
        spec=v2.entry.Spec(
            hashed_rekord_v002=v2.hashedrekord.HashedRekordLogEntryV002(
                data=v1.HashOutput(algorithm=algorithm, digest=base64.b64encode(digest)),
                signature=v2.verifier.Signature(
                    content=base64.b64encode(signature), verifier=verifier
                ),
            )
        ),
    )
    actual = v2.entry.Entry.from_json(open(body_path, "rb").read())
    if actual != expected:
        raise SystemExit(f"MISMATCH {body_path}:\n  ours     {actual}\n  expected {expected}")
    print(f"OK {body_path}: the entry sigstore verify expects ({algorithm})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
