#!/usr/bin/env bash
# The main job: start a KBS with its embedded verifier, provision a secret, and run an agent that
# attests to it and fetches the secret (decrypting the JWE inside the "TEE").
#
#   bash scripts/demo.sh            # a real TPM 2.0 protocol run against swtpm (default)
#   bash scripts/demo.sh sim-snp    # the SEV-SNP code path with an INSECURE development chain
#
# tpm: this machine has no TEE, but Debian's software TPM speaks the real TPM 2.0 protocol. It is
# manufactured with an EK certificate from its own local CA, which the KBS trusts as the TPM
# maker ([tpm] ek_ca_dir). The agent creates an attestation key, registers it by credential
# activation, pins the PCRs of this "known-good machine" as reference values, attests and fetches
# the secret under the shipped default release policy. No insecure flag is involved.
#
# sim-snp: genuine SEV-SNP-format reports, verified by the real SNP code path, but signed by a
# development chain minted here instead of an AMD chip. It is INSECURE, enabled explicitly on
# both sides (--insecure-dev-roots, --insecure-sim-snp-dir), and every token and result log line
# that touches it says so.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-tpm}
case $mode in
  tpm | sim-snp) ;;
  *) echo "usage: bash scripts/demo.sh [tpm|sim-snp]" >&2; exit 2 ;;
esac
source scripts/lib.sh
ensure_build_dependencies
[ "$mode" = tpm ] && ensure_tpm_dependencies
cargo build --workspace --bins --locked
bin=target/debug

demo=${WARDEN_DEMO_DIR:-$PWD/demo}
rm -rf "$demo"
mkdir -p "$demo"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT

"$bin/warden-kbs" init --dir "$demo/kbs" --listen 127.0.0.1:0 >/dev/null
serve_args=()
if [ "$mode" = tpm ]; then
  "$bin/warden-swtpm" --ready-file "$demo/swtpm.ready" 2>"$demo/swtpm.log" &
  pids+=($!)
  wait_for_file "$demo/swtpm.ready" 30
  tcti=$(sed -n 's/^tcti=//p' "$demo/swtpm.ready")
  mkdir -p "$demo/kbs/ek-cas"
  sed -n 's/^ek_ca=//p' "$demo/swtpm.ready" | while IFS= read -r ca; do cp "$ca" "$demo/kbs/ek-cas/"; done
  printf '\n[tpm]\nek_ca_dir = "ek-cas"\n' >>"$demo/kbs/kbs.toml"
  echo "== software TPM (swtpm) manufactured with an EK certificate; TCTI $tcti"
else
  "$bin/warden-agent" sim-snp-init --dir "$demo/sim-snp" 2>/dev/null
  serve_args=(--insecure-dev-roots "$demo/sim-snp")
fi
"$bin/warden-kbs" serve --config "$demo/kbs/kbs.toml" --ready-file "$demo/ready" "${serve_args[@]}" \
  2>"$demo/kbs.log" &
pids+=($!)
wait_for_file "$demo/ready" 30
url="https://$(cat "$demo/ready")"
ca="$demo/kbs/tls/ca.pem"
echo "== KBS with embedded verifier listening on $url (TLS, SQLite at $demo/kbs/data/warden.db)"

export WARDEN_ADMIN_TOKEN
WARDEN_ADMIN_TOKEN=$("$bin/warden-kbs" admin token --role admin --key "$demo/kbs/keys/admin.key" --ttl 10m)
admin=("$bin/warden-kbs" admin)
api=(--url "$url" --ca-file "$ca")
secret="hello from the Warden KBS $(date -u +%FT%TZ)"
printf '%s' "$secret" | "${admin[@]}" resource "${api[@]}" set demo/key/greeting --file -

if [ "$mode" = tpm ]; then
  agent=("$bin/warden-agent" --kbs "$url" --ca-file "$ca" --tee tpm --tpm-tcti "$tcti"
    --tpm-ak-file "$demo/ak.blob" --tpm-event-log none)
  ak_name=$("${agent[@]}" tpm-register 2>>"$demo/agent.log")
  echo "== agent created an attestation key and registered it by credential activation: $ak_name"
  pcrs=$("${agent[@]}" tpm-pcrs --pcrs 0,1,2,3,4,5,6,7,14 2>>"$demo/agent.log")
  printf '{"pcrs": %s}' "$pcrs" | "${admin[@]}" reference-value "${api[@]}" set tpm --file -
  echo "== provisioned demo/key/greeting (default release policy) and this TPM's PCRs 0-7, 14 as"
  echo "   the tpm reference value"
else
  agent=("$bin/warden-agent" --kbs "$url" --ca-file "$ca" --tee sim-snp --insecure-sim-snp-dir "$demo/sim-snp")
  printf '{"measurements": ["%s"], "allow_debug": false}' "$(cat "$demo/sim-snp/measurement")" |
    "${admin[@]}" reference-value "${api[@]}" set snp --file -
  "${admin[@]}" policy "${api[@]}" set-release --prefix demo/ --file policies/allow-insecure-sample.rego >/dev/null
  echo "== provisioned demo/key/greeting, the sim-snp guest measurement as SNP reference value, and"
  echo "   the INSECURE development release policy for demo/ (the default policy refuses insecure results)"
fi

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
