"""securesystemslib (the in-toto project's signing library) verifies the DSSE envelope of each
Sigstore bundle with the public key of the bundle's own certificate.

Usage: python3 bundle_sslib.py BUNDLE.json [BUNDLE.json ...]

The key id securesystemslib matches on is the lower-case hex SHA-256 of the certificate's
DER SubjectPublicKeyInfo (what Warden writes as the signature's keyid). One line per bundle;
any failure exits non-zero.
"""

import base64
import hashlib
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def verify(path: str) -> None:
    bundle = json.load(open(path))
    material = bundle["verificationMaterial"]
    certificate = x509.load_der_x509_certificate(
        base64.b64decode(material["certificate"]["rawBytes"])
    )
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = SSlibKey.from_crypto(certificate.public_key(), keyid=hashlib.sha256(spki).hexdigest())
    envelope = Envelope.from_dict(bundle["dsseEnvelope"])
    envelope.verify([key], 1)
    statement = json.loads(envelope.payload)
    if statement["_type"] != "https://in-toto.io/Statement/v1":
        raise SystemExit(f"FAIL {path}: not an in-toto statement")
    print(f"securesystemslib verified {path} ({key.scheme}, keyid {key.keyid[:16]}...)")


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        verify(argument)
