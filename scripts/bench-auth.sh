#!/usr/bin/env bash
# Unauthenticated /auth, before and after in one run: the KBS's resident memory per pending
# challenge (100,000 challenges nobody answers) and /auth requests per second, for this tree's
# release build and, when given, an earlier build of warden-kbs, old and new in turn
# (WARDEN_BENCH_ROUNDS rounds, default 2: run-to-run noise on a small VM is large, so each side
# is measured more than once, interleaved). Writes bench-results/auth.json.
#   bash scripts/bench-auth.sh [OLD_WARDEN_KBS_BINARY]
# An earlier build: git worktree add /tmp/old REV && (cd /tmp/old && cargo build --release -p warden-kbs)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_dependencies
old_binary=${1:-}
cargo build --release --locked -p warden-kbs -p warden-tests --bins
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
new_binary=$target_dir/release/warden-kbs
work=$(mktemp -d)
trap 'kill ${kbs_pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p bench-results

# Runs the auth-only load against the KBS built as $1; the result goes to $2.
measure() {
  local binary=$1 out=$2 home="$work/$(basename "$2" .json)"
  "$binary" init --dir "$home" --listen 127.0.0.1:0 --insecure-allow-sample >/dev/null
  # One client address drives the load: lift the per-client limit; room for every challenge
  # in a KBS that keeps them.
  sed -i -e 's/^auth_per_second = .*/auth_per_second = 0/' \
    -e 's/^max_sessions = .*/max_sessions = 1000000/' "$home/kbs.toml"
  RUST_LOG=warn "$binary" serve --config "$home/kbs.toml" --ready-file "$home/ready" 2>"$home/kbs.log" &
  kbs_pid=$!
  wait_for_file "$home/ready" 30
  "$target_dir/release/warden-bench" --kbs "https://$(cat "$home/ready")" --ca-file "$home/tls/ca.pem" \
    --kbs-pid "$kbs_pid" --auth-only "${WARDEN_BENCH_CHALLENGES:-100000}" \
    --concurrency "${WARDEN_BENCH_CONCURRENCY:-1,16}" --seconds "${WARDEN_BENCH_SECONDS:-10}" \
    --out "$out" >/dev/null
  kill "$kbs_pid"
  wait "$kbs_pid" 2>/dev/null || true
}

rounds=${WARDEN_BENCH_ROUNDS:-2}
for round in $(seq "$rounds"); do
  if [ -n "$old_binary" ]; then
    measure "$old_binary" "$work/old-$round.json"
  fi
  measure "$new_binary" "$work/new-$round.json"
done
python3 - "$work" "$rounds" <<'PY' >bench-results/auth.json
import json, os, sys
work, rounds = sys.argv[1], int(sys.argv[2])
summary = lambda report: {
    "bytes_per_pending_challenge": round(report["results"]["memory"]["kbs_bytes_per_pending_challenge"], 1),
    "rss_before_kib": report["results"]["memory"]["kbs_rss_before_kib"],
    "rss_after_100k_challenges_kib": report["results"]["memory"]["kbs_rss_after_kib"],
    "auth_per_s": {str(level["concurrency"]): round(level["auth_per_s"]) for level in report["results"]["throughput"]},
    "kbs_cpu_us_per_auth": {str(level["concurrency"]): round(level["kbs_cpu_us_per_auth"], 1) for level in report["results"]["throughput"]},
}
result = {}
for side in ("old", "new"):
    paths = [f"{work}/{side}-{r}.json" for r in range(1, rounds + 1)]
    if all(os.path.exists(path) for path in paths):
        result[side] = [summary(json.load(open(path))) for path in paths]
print(json.dumps(result, indent=2))
PY
cat bench-results/auth.json
