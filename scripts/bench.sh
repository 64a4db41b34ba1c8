#!/usr/bin/env bash
# Benchmarks: criterion micro-benchmarks (JWE, token signing, policy evaluation, appraisal) and the
# load generator (full RCAR + resource fetch by N concurrent agents against a release-built KBS).
# Results: target/criterion/, bench-results/snp.json (SNP appraisal vs raw P-384),
# bench-results/tdx.json (TDX examination and appraisal vs raw P-256), bench-results/tpm.json (TPM
# quote appraisal, RSA-2048 and P-256 AKs, vs raw verification), bench-results/measure.json (the
# SEV-SNP launch digest of a 4 MiB firmware with 64 vCPUs vs SHA-384 of it), bench-results/service.json (SNP
# appraisals through the gRPC verifier service over mutual TLS vs embedded) and
# bench-results/load.json.
#   bash scripts/bench.sh            # both
#   bash scripts/bench.sh load       # only the load generator
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_dependencies
what=${1:-all}

if [ "$what" = all ] || [ "$what" = criterion ]; then
  cargo bench --locked -p warden-wire -p warden-verifier -p warden-verifier-service -p warden-kbs --bench jwe --bench appraisal --bench snp --bench tdx --bench tpm --bench measure --bench service --bench token_and_policy -- --warm-up-time 1 --measurement-time 3
fi

if [ "$what" = all ] || [ "$what" = load ]; then
  cargo build --release --locked -p warden-kbs -p warden-tests --bin warden-kbs --bin warden-bench
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release
  work=$(mktemp -d)
  trap 'kill ${kbs_pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
  "$bin/warden-kbs" init --dir "$work/kbs" --listen 127.0.0.1:0 --insecure-allow-sample >/dev/null
  # The load comes from one IP: lift the per-client /auth limit and the per-client connection
  # cap (64: a closing connection still counts, so 64 agents exceed it) for the benchmark only.
  sed -i 's/^auth_per_second = .*/auth_per_second = 0/' "$work/kbs/kbs.toml"
  printf '\n[server]\nmax_connections_per_client = 4096\n' >>"$work/kbs/kbs.toml"
  RUST_LOG=warn "$bin/warden-kbs" serve --config "$work/kbs/kbs.toml" --ready-file "$work/ready" 2>"$work/kbs.log" &
  kbs_pid=$!
  wait_for_file "$work/ready" 30
  url="https://$(cat "$work/ready")"
  ca="$work/kbs/tls/ca.pem"
  export WARDEN_ADMIN_TOKEN
  WARDEN_ADMIN_TOKEN=$("$bin/warden-kbs" admin token --role admin --key "$work/kbs/keys/admin.key")
  secret="bench-secret-0123456789abcdef"
  printf '%s' "$secret" | "$bin/warden-kbs" admin resource --url "$url" --ca-file "$ca" set demo/key/one --file -
  echo '{"min_svn": 1}' | "$bin/warden-kbs" admin reference-value --url "$url" --ca-file "$ca" set sample --file -
  "$bin/warden-kbs" admin policy --url "$url" --ca-file "$ca" set-release --prefix demo/ --file policies/allow-insecure-sample.rego >/dev/null
  "$bin/warden-bench" --kbs "$url" --ca-file "$ca" --kbs-pid "$kbs_pid" --concurrency "${WARDEN_BENCH_CONCURRENCY:-1,16,64}" \
    --seconds "${WARDEN_BENCH_SECONDS:-10}" --expect "$secret" --out bench-results/load.json
fi
