"""Sigstore bundle judges that Warden did not write: the Sigstore project's own models, from PyPI.

Usage: python3 sigstore_bundle.py [--out DIR] BUNDLE.json [BUNDLE.json ...]

For each bundle file:
  (a) sigstore-models (astral-sh, pydantic, strict: unknown keys, wrong types and a oneof with
      other than one member are refused) must parse it: `Bundle.from_json(text)`;
  (b) sigstore-protobuf-specs (the generated protobuf classes, betterproto) must parse it and
      write back the same JSON. betterproto silently drops keys it does not know, so the test is
      the comparison: its `to_json()` against the original with protobuf's empty defaults
      removed. A misspelt key disappears and the two differ (unless the member it names was
      empty, which protobuf would have left out anyway: then only (a) notices).
  (c) when the bundle carries a certificate, its signature must verify with the certificate's
      public key (cryptography): a message signature over its SHA-256 digest, a DSSE signature
      over the DSSE pre-authentication encoding written out here from the DSSE specification.
With --out DIR, what each package writes back (`<stem>.sigstore-models.json`,
`<stem>.protobuf-specs.json`) is saved there for Warden's reader to read in turn.

One line per file (`OK name: ...` or `FAIL name: ...`); the exit status is non-zero if any file
failed.
"""

import argparse
import base64
import json
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils
from sigstore_models.bundle.v1 import Bundle as ModelsBundle
from sigstore_protobuf_specs.dev.sigstore.bundle.v1 import Bundle as ProtoBundle

PREHASHED = {
    "SHA2_256": hashes.SHA256(),
    "SHA2_384": hashes.SHA384(),
    "SHA2_512": hashes.SHA512(),
}


def without_empty_defaults(value):
    """The JSON as a protobuf writer emits it: members equal to their default ("" / [] / {} /
    0 / false / null, and "0": an int64 is a JSON string, so a log index 0 is "0") are left
    out, after their own members were."""
    if isinstance(value, dict):
        cleaned = {key: without_empty_defaults(item) for key, item in value.items()}
        return {
            key: item
            for key, item in cleaned.items()
            if item not in ("", "0", [], {}, None, 0, False)
        }
    if isinstance(value, list):
        return [without_empty_defaults(item) for item in value]
    return value


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def verify_signature(original: dict) -> str:
    certificate = original["verificationMaterial"].get("certificate")
    if certificate is None:
        return "no certificate, signature not checked"
    leaf = x509.load_der_x509_certificate(base64.b64decode(certificate["rawBytes"]))
    key = leaf.public_key()
    if "messageSignature" in original:
        message = original["messageSignature"]
        digest = message["messageDigest"]
        signature = base64.b64decode(message["signature"], validate=True)
        prehashed = PREHASHED[digest["algorithm"]]
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return "message signature by a non-ECDSA key, not checked"
        key.verify(
            signature,
            base64.b64decode(digest["digest"], validate=True),
            ec.ECDSA(utils.Prehashed(prehashed)),
        )
        return "message signature verified"
    envelope = original["dsseEnvelope"]
    (only,) = envelope["signatures"]
    message = pae(envelope["payloadType"], base64.b64decode(envelope["payload"], validate=True))
    signature = base64.b64decode(only["sig"], validate=True)
    if isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, message)
    else:
        hash_for_curve = hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
        key.verify(signature, message, ec.ECDSA(hash_for_curve))
    return "DSSE signature verified"


def judge(path: Path, out: Path | None) -> list[str]:
    """What failed for this file (nothing: it passed), and what passed, as notes."""
    text = path.read_text()
    original = json.loads(text)
    failures, notes = [], []

    try:
        models = ModelsBundle.from_json(text)
        notes.append("sigstore-models parsed")
        if out is not None:
            (out / f"{path.stem}.sigstore-models.json").write_text(models.to_json())
    except Exception as error:  # pydantic.ValidationError, ValueError: any refusal
        failures.append(f"sigstore-models refused: {' '.join(str(error).split())}")

    try:
        # `Bundle().from_json(text)` cannot be used with this betterproto (2.0.0b7): the empty
        # `Bundle()` already fails pydantic's oneof check. `from_dict` is also a classmethod.
        proto = ProtoBundle.from_dict(json.loads(text))
        written = json.loads(proto.to_json())
        expected = without_empty_defaults(original)
        if written != expected:
            failures.append(
                "sigstore-protobuf-specs wrote back other JSON (a key it does not know?):\n"
                f"  ours:   {json.dumps(expected, sort_keys=True)}\n"
                f"  theirs: {json.dumps(written, sort_keys=True)}"
            )
        else:
            notes.append("sigstore-protobuf-specs round trip equal")
        if out is not None:
            (out / f"{path.stem}.protobuf-specs.json").write_text(proto.to_json())
    except Exception as error:
        failures.append(f"sigstore-protobuf-specs refused: {' '.join(str(error).split())}")

    if not failures:
        try:
            notes.append(verify_signature(original))
        except Exception as error:  # InvalidSignature has an empty message
            failures.append(f"signature does not verify: {type(error).__name__} {error}")
    return failures, notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write what each package writes back here")
    parser.add_argument("bundles", nargs="+", type=Path)
    arguments = parser.parse_args()
    if arguments.out is not None:
        arguments.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in arguments.bundles:
        try:
            failures, notes = judge(path, arguments.out)
        except Exception as error:  # not JSON, unreadable
            failures, notes = [f"{type(error).__name__}: {error}"], []
        if failures:
            failed += 1
            print(f"FAIL {path.name}: " + "; ".join(failures))
        else:
            print(f"OK {path.name}: " + ", ".join(notes))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
