#!/usr/bin/env bash
# The test command: installs what the tests need, builds once, runs every test in the workspace
# (unit tests, policy tests, and end-to-end tests that start the real binaries on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_dependencies
# The TPM tests run a real software TPM (swtpm).
ensure_tpm_dependencies
# The provenance tests check DSSE envelopes with securesystemslib (PyPI) both ways; the
# launch-digest tests compare with AMD's sev-snp-measure (PyPI).
ensure_python_dependencies
# Real firmware for the launch-measurement calculators (Debian's OVMF: SEV and TDX metadata), and
# osslsigncode, the judge of the kernel Authenticode digest the TDX calculator computes.
ensure_debian_packages ovmf osslsigncode
# inotifywait observes which real evidence sets the tests read.
ensure_debian_packages inotify-tools
# A real PostgreSQL server (Debian's), in a throwaway cluster on a loopback port: the store's
# unit tests run on it and on SQLite; the KBS and verifier-service suites run once per backend.
ensure_debian_packages postgresql
# Appraisal never touches the network: the core verifier crate links no async runtime, HTTP,
# gRPC, database or CLI crate (ARCHITECTURE.md, invariant 3).
forbidden=$(cargo tree --locked -p warden-verifier -e normal --prefix none | grep -E '^(tokio|tonic|reqwest|sqlx|clap) ' | sort -u || true)
if [ -n "$forbidden" ]; then
  echo "error: warden-verifier depends on: $forbidden" >&2
  exit 1
fi
echo "layering: warden-verifier links none of tokio, tonic, reqwest, sqlx, clap"
# The end-to-end tests run the real binaries: build them first, in the same (debug) profile.
cargo build --workspace --bins --locked
log=$(mktemp)
reads=$(mktemp)
watch_log=$(mktemp)
watcher=""
pg_dir=$(mktemp -d)
# The server runs as an unprivileged user (it refuses root), which must be able to enter it.
chmod 711 "$pg_dir"
cleanup() {
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
  bash scripts/postgres.sh destroy "$pg_dir/cluster" >/dev/null 2>&1 || true
  rm -rf "$log" "$reads" "$watch_log" "$pg_dir"
}
trap cleanup EXIT
# Durability across a machine crash is PostgreSQL's, not under test here: fsync off for speed
# (a KBS killed with kill -9 loses nothing either way: its commits are the server's).
WARDEN_TEST_POSTGRES=$(WARDEN_PG_FSYNC=off bash scripts/postgres.sh start "$pg_dir/cluster")
export WARDEN_TEST_POSTGRES
export WARDEN_TEST_POSTGRES_DATA="$pg_dir/cluster/data"
export WARDEN_TEST_POSTGRES_DIR="$pg_dir/cluster"
# Which real evidence sets the tests read is observed, not declared: inotify reports every file
# opened under tests/vectors while the tests run (directory listings, e.g. cargo's own scans of
# the package, do not count).
vectors=tests/vectors
inotifywait -m -r -e open --format '%e %w%f' "$vectors" >"$reads" 2>"$watch_log" &
watcher=$!
for _ in $(seq 100); do
  grep -q "Watches established" "$watch_log" && break
  sleep 0.1
done
grep -q "Watches established" "$watch_log" || { cat "$watch_log" >&2; echo "error: cannot watch $vectors" >&2; exit 1; }
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
# The KBS end-to-end suite once more, every KBS appraising through a verifier service over
# mutual TLS: one KBS code path, either backend (the KBS uses one VerifierBackend interface).
WARDEN_E2E_REMOTE_VERIFIER=1 cargo test --locked -p warden-tests --test e2e 2>&1 | tee -a "$log" || status=$?
# The KBS and verifier-service suites again, every store (KBS, verifier service, init's) in a
# fresh PostgreSQL database: the test matrix (the tests are the same; the harness picks).
WARDEN_TEST_STORE=postgres cargo test --locked --no-fail-fast -p warden-tests -p warden-kbs \
  -p warden-verifier-service 2>&1 | tee -a "$log" || status=$?
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null || true
watcher=""
# The sets (tee/set directories holding a PROVENANCE.toml) and those the tests opened a file of.
all_sets=$(cd "$vectors" && find . -mindepth 3 -maxdepth 3 -name PROVENANCE.toml -printf '%h\n' | sed 's#^\./##' | sort -u)
read_sets=$(sed -n "s#^OPEN $vectors/\([^/]*/[^/]*\)/.*#\1#p" "$reads" | sort -u | comm -12 - <(echo "$all_sets"))
unread=$(comm -23 <(echo "$all_sets") <(echo "$read_sets") | tr '\n' ' ')
# A missing set fails its test; an ignored test would be a skip, so none may be.
ignored=$(awk '/^test result:/ { ignored += $8 } END { print ignored + 0 }' "$log")
echo "vectors: $(echo "$read_sets" | grep -c .) of $(echo "$all_sets" | grep -c .) real evidence sets in $vectors read by the tests; $ignored tests skipped"
[ -n "$unread" ] && echo "vectors not read (no Warden verifier for these TEEs yet): $unread"
if [ "$ignored" -ne 0 ]; then
  echo "error: $ignored tests were skipped (ignored)" >&2
  status=1
fi
# One closing line over all test binaries (cargo prints one result line per binary).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
