#!/usr/bin/env bash
# The main job: start a KBS with its embedded verifier, provision a secret, and run an agent that
# attests to it and fetches the secret (decrypting the JWE inside the "TEE").
#
# This machine has no TEE, so the demo uses `sim-snp`: genuine SEV-SNP-format reports, verified by
# the real SNP code path (report parser, VCEK chain, hwID/TCB binding, P-384 signature, report-data
# binding), but signed by a development chain minted here instead of an AMD chip. It is INSECURE,
# enabled explicitly on both sides (--insecure-dev-roots, --insecure-sim-snp-dir), and every token
# and result log line that touches it says so. Real deployments use hardware evidence and the
# default policies.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_dependencies
cargo build --workspace --bins --locked
bin=target/debug

demo=${WARDEN_DEMO_DIR:-$PWD/demo}
rm -rf "$demo"
mkdir -p "$demo"
"$bin/warden-agent" sim-snp-init --dir "$demo/sim-snp" 2>/dev/null
"$bin/warden-kbs" init --dir "$demo/kbs" --listen 127.0.0.1:0 >/dev/null
"$bin/warden-kbs" serve --config "$demo/kbs/kbs.toml" --ready-file "$demo/ready" \
  --insecure-dev-roots "$demo/sim-snp" 2>"$demo/kbs.log" &
kbs_pid=$!
trap 'kill $kbs_pid 2>/dev/null || true' EXIT
wait_for_file "$demo/ready" 30
url="https://$(cat "$demo/ready")"
ca="$demo/kbs/tls/ca.pem"
echo "== KBS with embedded verifier listening on $url (TLS, SQLite at $demo/kbs/data/warden.db)"

export WARDEN_ADMIN_TOKEN
WARDEN_ADMIN_TOKEN=$("$bin/warden-kbs" admin token --key "$demo/kbs/keys/admin.key" --ttl 10m)
admin=("$bin/warden-kbs" admin)
api=(--url "$url" --ca-file "$ca")
secret="hello from the Warden KBS $(date -u +%FT%TZ)"
printf '%s' "$secret" | "${admin[@]}" resource "${api[@]}" set demo/key/greeting --file -
printf '{"measurements": ["%s"], "allow_debug": false}' "$(cat "$demo/sim-snp/measurement")" |
  "${admin[@]}" reference-value "${api[@]}" set snp --file -
"${admin[@]}" policy "${api[@]}" set-release --prefix demo/ --file policies/allow-insecure-sample.rego >/dev/null
echo "== provisioned demo/key/greeting, the sim-snp guest measurement as SNP reference value, and"
echo "   the INSECURE development release policy for demo/ (the default policy refuses insecure results)"

agent=("$bin/warden-agent" --kbs "$url" --ca-file "$ca" --tee sim-snp --insecure-sim-snp-dir "$demo/sim-snp")
token=$("${agent[@]}" attest 2>>"$demo/agent.log")
echo "== agent attested; attestation result (EAR) claims:"
payload=$(printf '%s' "$token" | cut -d. -f2 | tr '_-' '/+')
while [ $(( ${#payload} % 4 )) -ne 0 ]; do payload="$payload="; done
printf '%s' "$payload" | base64 -d
echo
fetched=$("${agent[@]}" get-resource demo/key/greeting 2>>"$demo/agent.log")
echo "== agent fetched demo/key/greeting (JWE, decrypted with its TEE key): $fetched"
if [ "$fetched" != "$secret" ]; then
  echo "error: fetched secret does not match" >&2
  exit 1
fi
if "${agent[@]}" get-resource demo/key/missing >/dev/null 2>&1; then
  echo "error: a missing resource was served" >&2
  exit 1
fi
echo "== demo passed. KBS log: $demo/kbs.log"
