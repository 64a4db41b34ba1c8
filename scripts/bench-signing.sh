#!/usr/bin/env bash
# The signing authority under load, against a release build of warden-kbs with the INSECURE
# sample TEE: certificates issued per second including the whole attestation round, and remote
# signatures per second, each next to the raw ECDSA signing rate measured in the same run.
# Writes bench-results/signing.json.
#   bash scripts/bench-signing.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_dependencies
cargo build --release --locked -p warden-kbs -p warden-tests --bins
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
kbs=$target_dir/release/warden-kbs
work=$(mktemp -d)
trap 'kill ${kbs_pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p bench-results

home=$work/kbs
"$kbs" init --dir "$home" --listen 127.0.0.1:0 --insecure-allow-sample >/dev/null
sed -i -e 's/^auth_per_second = .*/auth_per_second = 0/' "$home/kbs.toml"
RUST_LOG=warn "$kbs" serve --config "$home/kbs.toml" --ready-file "$home/ready" 2>"$home/kbs.log" &
kbs_pid=$!
wait_for_file "$home/ready" 30
url="https://$(cat "$home/ready")"
WARDEN_ADMIN_TOKEN=$("$kbs" admin token --key "$home/keys/admin.key" --role admin 2>/dev/null)
export WARDEN_ADMIN_TOKEN
admin() { "$kbs" admin "$1" --url "$url" --ca-file "$home/tls/ca.pem" "${@:2}" >/dev/null; }
echo '{"min_svn": 1}' >"$work/rv.json"
admin reference-value set sample --file "$work/rv.json"
cat >"$work/signing.rego" <<'REGO'
package warden.signing

default allow := false

default builder := ""

# Benchmark only: the INSECURE sample TEE may sign.
allow if input.token.submods.cpu0["ear.status"] == "affirming"

builder := "bench" if allow
REGO
admin signing set-policy --file "$work/signing.rego"
admin signing create-key bench --algorithm ecdsa-p256

for mode in certs remote-sign remote-sign-session; do
  "$target_dir/release/warden-bench" --kbs "$url" --ca-file "$home/tls/ca.pem" --kbs-pid "$kbs_pid" \
    --signing "$mode" --concurrency "${WARDEN_BENCH_CONCURRENCY:-1,16}" \
    --seconds "${WARDEN_BENCH_SECONDS:-10}" --out "$work/$mode.json" >/dev/null
done
python3 - "$work" <<'PY' >bench-results/signing.json
import json, sys
work = sys.argv[1]
out = {}
for mode in ("certs", "remote-sign", "remote-sign-session"):
    report = json.load(open(f"{work}/{mode}.json"))
    out[mode] = {
        "what": report["what"],
        "raw_signatures_per_s_one_thread": {k: round(v) for k, v in report["raw_signatures_per_s_one_thread"].items()},
        "raw_signing_operations_per_s": round(report["raw_signing_operations_per_s"]),
        "levels": [
            {
                "concurrency": level["concurrency"],
                "per_s": round(level["throughput_per_s"], 1),
                "errors": level["errors"],
                "p50_ms": round(level["p50_ms"], 2),
                "p99_ms": round(level["p99_ms"], 2),
                "kbs_cpu_ms_per_op": round(level["kbs_cpu_ms_per_op"], 3),
                "ratio_to_raw_signing": round(level["ratio_to_raw_signing"], 3),
            }
            for level in report["results"]
        ],
    }
print(json.dumps(out, indent=2))
PY
cat bench-results/signing.json
