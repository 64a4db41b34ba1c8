"""Warden's Sigstore client trust configuration and Rekor v2 log entries, read by the Sigstore
project's own code before the `sigstore` CLI judges them (signing/tests/sigstore_offline.rs):

1. `sigstore` 4.5.1 loads the trust configuration as `sigstore --trust-config` does
   (`ClientTrustConfig.from_json`), and everything it reads from it builds: the trusted root
   (media type), the log, CT and CA sets, the TSA chains, and the signing configuration
   (`SigningConfig`, which needs a CA and a log of a supported API version).
2. `sigstore-protobuf-specs` (the generated protobuf classes) parses the same configuration and
   each bundle, as a second reading of the protobuf JSON.
3. Each bundle's log entry is read by `sigstore.models.Bundle` (which requires an inclusion
   proof with a checkpoint, and a timestamp when there is no inclusion promise), and its
   `logId.keyId` starts with the checkpoint signature's key hint and equals the trust root's
   `tlogs[0].logId`.

Usage: python3 sigstore_trust_config.py TRUST_CONFIG.json BUNDLE.json...
Prints one line per check; exits non-zero on any failure.
"""

import base64
import json
import sys

from sigstore._internal.rekor.checkpoint import SignedCheckpoint
from sigstore._internal.trust import KeyringPurpose
from sigstore.models import Bundle, ClientTrustConfig
from sigstore_protobuf_specs.dev.sigstore.bundle import v1 as bundle_pb
from sigstore_protobuf_specs.dev.sigstore.trustroot import v1 as trustroot_pb


def main(config_path: str, bundle_paths: list[str]) -> None:
    text = open(config_path).read()
    config = ClientTrustConfig.from_json(text)
    root = config.trusted_root
    root.rekor_keyring(KeyringPurpose.VERIFY)
    root.ct_keyring(KeyringPurpose.VERIFY)
    if not root.get_fulcio_certs():
        raise SystemExit("no CA certificates")
    (tsa,) = root.get_timestamp_authorities()
    if len(tsa.certificates(allow_expired=True)) != 2:
        raise SystemExit("the TSA chain is not TSA certificate then root")
    signing = config.signing_config
    if not signing.get_tsas():
        raise SystemExit("no TSA in the signing configuration")
    print("sigstore 4.5.1 ClientTrustConfig: trusted root and signing config OK")

    # `from_dict` is a classmethod in this betterproto (2.0.0b7); see sigstore_bundle.py.
    proto = trustroot_pb.ClientTrustConfig.from_dict(json.loads(text))
    (tlog,) = proto.trusted_root.tlogs
    if tlog.log_id.key_id != tlog.checkpoint_key_id.key_id or len(tlog.log_id.key_id) != 32:
        raise SystemExit("the log's logId and checkpointKeyId differ")
    print("sigstore-protobuf-specs ClientTrustConfig: OK")

    root_log_id = base64.b64encode(tlog.log_id.key_id).decode()
    for path in bundle_paths:
        raw = open(path).read()
        (proto_entry,) = bundle_pb.Bundle.from_dict(
            json.loads(raw)
        ).verification_material.tlog_entries
        bundle = Bundle.from_json(raw)
        entry = bundle.log_entry._inner
        if (
            proto_entry.canonicalized_body != entry.canonicalized_body
            or proto_entry.inclusion_proof.checkpoint.envelope
            != entry.inclusion_proof.checkpoint.envelope
            or proto_entry.log_index != entry.log_index
        ):
            raise SystemExit(f"{path}: the two libraries read the entry differently")
        checkpoint = SignedCheckpoint.from_text(entry.inclusion_proof.checkpoint.envelope)
        hints = [s.sig_hash for s in checkpoint.signed_note.signatures]
        if entry.log_id.key_id[:4] not in hints:
            raise SystemExit(f"{path}: no checkpoint signature has the log ID's key hint")
        if base64.b64encode(entry.log_id.key_id).decode() != root_log_id:
            raise SystemExit(f"{path}: the entry's log ID is not the trust root's")
        print(f"{path}: bundle and Rekor v2 entry read by both libraries; log IDs agree")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
