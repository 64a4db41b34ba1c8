#!/usr/bin/env bash
# Benchmarks: criterion micro-benchmarks (JWE, token signing, policy evaluation, appraisal) and the
# load generator (full RCAR + resource fetch by N concurrent agents against a release-built KBS).
# Results: target/criterion/, bench-results/snp.json (SNP appraisal vs raw P-384),
# bench-results/tdx.json (TDX examination and appraisal vs raw P-256), bench-results/tpm.json (TPM
# quote appraisal, RSA-2048 and P-256 AKs, vs raw verification), bench-results/measure.json (the
# SEV-SNP launch digest of a 4 MiB firmware with 64 vCPUs vs SHA-384 of it), bench-results/service.json (SNP
# appraisals through the gRPC verifier service over mutual TLS vs embedded) and
# bench-results/load.json.
# Then prints the issue-20 targets against the figures (bench-results/table.txt), with the load
# run of an earlier warden-kbs beside this tree's when its binary is given (the "before").
#   bash scripts/bench.sh                      # both
#   bash scripts/bench.sh load [OLD_WARDEN_KBS] # only the load generator
# An earlier build: git worktree add /tmp/old REV && (cd /tmp/old && cargo build --release -p warden-kbs)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_dependencies
what=${1:-all}
old_binary=${2:-}
mkdir -p bench-results

if [ "$what" = all ] || [ "$what" = criterion ]; then
  cargo bench --locked -p warden-wire -p warden-verifier -p warden-verifier-service -p warden-kbs --bench jwe --bench appraisal --bench snp --bench tdx --bench tpm --bench measure --bench service --bench token_and_policy -- --warm-up-time 1 --measurement-time 3
fi

if [ "$what" = all ] || [ "$what" = load ]; then
  cargo build --release --locked -p warden-kbs -p warden-tests --bin warden-kbs --bin warden-bench
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release
  work=$(mktemp -d)
  trap 'kill ${kbs_pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT

  # One load run against the KBS built as $1 (fresh directory and store); the report goes to $2.
  load() {
    local binary=$1 out=$2 home
    home=$(mktemp -d -p "$work")
    "$binary" init --dir "$home/kbs" --listen 127.0.0.1:0 --insecure-allow-sample >/dev/null
    # The load comes from one IP: lift the per-client /auth limit and the per-client connection
    # cap (64: a closing connection still counts, so 64 agents exceed it) for the benchmark only.
    sed -i 's/^auth_per_second = .*/auth_per_second = 0/' "$home/kbs/kbs.toml"
    printf '\n[server]\nmax_connections_per_client = 4096\n' >>"$home/kbs/kbs.toml"
    RUST_LOG=warn "$binary" serve --config "$home/kbs/kbs.toml" --ready-file "$home/ready" 2>"$home/kbs.log" &
    kbs_pid=$!
    wait_for_file "$home/ready" 30
    local url="https://$(cat "$home/ready")" ca="$home/kbs/tls/ca.pem"
    WARDEN_ADMIN_TOKEN=$("$binary" admin token --role admin --key "$home/kbs/keys/admin.key")
    export WARDEN_ADMIN_TOKEN
    printf '%s' "$secret" | "$binary" admin resource --url "$url" --ca-file "$ca" set demo/key/one --file -
    echo '{"min_svn": 1}' | "$binary" admin reference-value --url "$url" --ca-file "$ca" set sample --file -
    "$binary" admin policy --url "$url" --ca-file "$ca" set-release --prefix demo/ --file policies/allow-insecure-sample.rego >/dev/null
    "$bin/warden-bench" --kbs "$url" --ca-file "$ca" --kbs-pid "$kbs_pid" --concurrency "${WARDEN_BENCH_CONCURRENCY:-1,16,64}" \
      --seconds "${WARDEN_BENCH_SECONDS:-10}" --passes "${WARDEN_BENCH_PASSES:-2}" --expect "$secret" --out "$out" >/dev/null
    kill "$kbs_pid"
    wait "$kbs_pid" 2>/dev/null || true
  }

  secret="bench-secret-0123456789abcdef"
  rm -f bench-results/load-old.json
  # Before and after in one run: an earlier build first, when given, then this tree's.
  if [ -n "$old_binary" ]; then
    load "$old_binary" bench-results/load-old.json
  fi
  load "$bin/warden-kbs" bench-results/load.json
fi

python3 scripts/bench_table.py bench-results | tee bench-results/table.txt
