#!/usr/bin/env bash
# The test command: installs what the tests need, builds once, runs every test in the workspace
# (unit tests, policy tests, and end-to-end tests that start the real binaries on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_dependencies
# The TPM tests run a real software TPM (swtpm).
ensure_tpm_dependencies
# The provenance tests check DSSE envelopes with securesystemslib (PyPI) both ways.
ensure_python_dependencies
# The end-to-end tests run the real binaries: build them first, in the same (debug) profile.
cargo build --workspace --bins --locked
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
# One closing line over all test binaries (cargo prints one result line per binary).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
# Tests on real hardware evidence skip (and pass) without the shared vectors: say which it was.
vectors=${WARDEN_VECTORS:-$PWD/../shared/vectors}
if [ -d "$vectors/snp" ] && [ -d "$vectors/tdx" ] && [ -d "$vectors/tpm" ] && [ -d "$vectors/az-snp-vtpm" ]; then
  echo "vectors: real evidence from $vectors was used"
else
  echo "WARNING: no vectors at $vectors (set WARDEN_VECTORS): tests on real evidence were SKIPPED"
fi
exit "$status"
