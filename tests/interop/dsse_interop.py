"""DSSE interoperability with securesystemslib (the in-toto project's signing library).

Usage: python3 dsse_interop.py DIR

1. Verifies every envelope Warden's tests wrote to DIR/warden/<name>.json with the public key
   DIR/warden/<name>.pem, its keyid (<name>.keyid) and its securesystemslib scheme
   (<name>.scheme). Any failure exits non-zero.
2. Signs a Warden reference-value statement (DIR/statement.json) with a fresh key of every kind
   securesystemslib offers and writes DIR/python/<kind>.json (envelope) and <kind>.pem (public
   key), for Warden to verify in turn.
"""

import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"


def verify_ours(directory: Path) -> int:
    count = 0
    for envelope_file in sorted((directory / "warden").glob("*.json")):
        stem = envelope_file.with_suffix("")
        public = serialization.load_pem_public_key(stem.with_suffix(".pem").read_bytes())
        key = SSlibKey.from_crypto(
            public,
            keyid=stem.with_suffix(".keyid").read_text().strip(),
            scheme=stem.with_suffix(".scheme").read_text().strip(),
        )
        envelope = Envelope.from_dict(json.loads(envelope_file.read_text()))
        if envelope.payload_type != PAYLOAD_TYPE:
            raise SystemExit(f"{envelope_file.name}: payload type {envelope.payload_type}")
        envelope.verify([key], 1)
        statement = json.loads(envelope.payload)
        if statement["_type"] != "https://in-toto.io/Statement/v1":
            raise SystemExit(f"{envelope_file.name}: not an in-toto statement")
        print(f"securesystemslib verified {envelope_file.name} ({key.scheme})")
        count += 1
    return count


def sign_theirs(directory: Path) -> int:
    payload = (directory / "statement.json").read_bytes()
    rsa_pkcs1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_keys = {
        "ecdsa-p256": (ec.generate_private_key(ec.SECP256R1()), None),
        "ecdsa-p384": (ec.generate_private_key(ec.SECP384R1()), None),
        "ed25519": (ed25519.Ed25519PrivateKey.generate(), None),
        "rsa-pss": (rsa.generate_private_key(public_exponent=65537, key_size=2048), None),
        "rsa-pkcs1": (rsa_pkcs1, "rsa-pkcs1v15-sha256"),
    }
    signers = {}
    for name, (private_key, scheme) in private_keys.items():
        public = SSlibKey.from_crypto(private_key.public_key(), scheme=scheme)
        signers[name] = (CryptoSigner(private_key, public), private_key.public_key())
    out = directory / "python"
    out.mkdir(exist_ok=True)
    for name, (signer, public_key) in signers.items():
        envelope = Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})
        envelope.sign(signer)
        (out / f"{name}.json").write_text(json.dumps(envelope.to_dict()))
        pem = public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (out / f"{name}.pem").write_bytes(pem)
        print(f"securesystemslib signed {name}.json ({signer.public_key.scheme})")
    return len(signers)


def main() -> None:
    directory = Path(sys.argv[1])
    verified = verify_ours(directory)
    if verified == 0:
        raise SystemExit("no Warden envelope to verify")
    signed = sign_theirs(directory)
    print(f"verified {verified}, signed {signed}")


if __name__ == "__main__":
    main()
