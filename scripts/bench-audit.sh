#!/usr/bin/env bash
# The audit log's cost, in one run: full rounds (auth + attest + resource + JWE decrypt, a fresh
# agent each, INSECURE sample TEE) against two release-built KBSs in turn, one with the audit
# log (the default) and one with `[transparency] audit = false` (measurement only; INSECURE),
# at 1, 16 and 64 clients for WARDEN_BENCH_SECONDS each (default 10), WARDEN_BENCH_ROUNDS times
# (default 2, on and off interleaved: run-to-run noise on a small VM is large). Per
# configuration and level: rounds/s, p50/p99, the KBS's CPU ms per round (/proc utime+stime),
# and with the audit log the entries appended per second and the group-commit batch sizes
# (read from the store with sqlite3: the log's size and one checkpoint per batch). A round
# writes 2 entries (attestation, release). Writes bench-results/audit.json.
#   bash scripts/bench-audit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_dependencies
ensure_debian_packages sqlite3
cargo build --release --locked -p warden-kbs -p warden-tests --bin warden-kbs --bin warden-bench
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
kbs=$target_dir/release/warden-kbs
work=$(mktemp -d)
trap 'kill ${kbs_pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p bench-results
levels=${WARDEN_BENCH_CONCURRENCY:-1,16,64}
seconds=${WARDEN_BENCH_SECONDS:-10}
rounds=${WARDEN_BENCH_ROUNDS:-2}
secret="bench-secret-0123456789abcdef"

# The audit log's size and its checkpoint sizes (one per committed batch) in store $1.
log_size() { sqlite3 "$1" "SELECT size FROM transparency_logs WHERE name = 'audit'"; }
checkpoint_sizes() {
  sqlite3 "$1" "SELECT size FROM log_checkpoints WHERE log = 'audit' AND size > $2 AND size <= $3 ORDER BY size"
}

# Starts a KBS with the audit log $1 (on|off), provisions it and drives every level; the
# results go to $work/$1-$2/ (round $2).
measure() {
  local audit=$1 round=$2 home="$work/$1-$2"
  "$kbs" init --dir "$home" --listen 127.0.0.1:0 --insecure-allow-sample >/dev/null
  # The load comes from one address: lift the per-client /auth limit and connection cap for the
  # benchmark only (64 clients opening a fresh connection per round otherwise meet the cap of
  # 64 while closed connections drain, and are reset).
  sed -i 's/^auth_per_second = .*/auth_per_second = 0/' "$home/kbs.toml"
  printf '\n[server]\nmax_connections_per_client = 4096\n' >>"$home/kbs.toml"
  if [ "$audit" = off ]; then
    printf '\n[transparency]\naudit = false\n' >>"$home/kbs.toml"
  fi
  RUST_LOG=warn "$kbs" serve --config "$home/kbs.toml" --ready-file "$home/ready" 2>"$home/kbs.log" &
  kbs_pid=$!
  wait_for_file "$home/ready" 30
  local url ca="$home/tls/ca.pem" store="$home/data/warden.db"
  url="https://$(cat "$home/ready")"
  WARDEN_ADMIN_TOKEN=$("$kbs" admin token --role admin --key "$home/keys/admin.key" 2>/dev/null)
  export WARDEN_ADMIN_TOKEN
  printf '%s' "$secret" | "$kbs" admin resource --url "$url" --ca-file "$ca" set demo/key/one --file - >/dev/null
  echo '{"min_svn": 1}' | "$kbs" admin reference-value --url "$url" --ca-file "$ca" set sample --file - >/dev/null
  "$kbs" admin policy --url "$url" --ca-file "$ca" set-release --prefix demo/ \
    --file policies/allow-insecure-sample.rego >/dev/null
  for level in ${levels//,/ }; do
    local before after
    before=$(log_size "$store")
    "$target_dir/release/warden-bench" --kbs "$url" --ca-file "$ca" --kbs-pid "$kbs_pid" \
      --concurrency "$level" --seconds "$seconds" --expect "$secret" \
      --out "$home/level-$level.json" >/dev/null
    after=$(log_size "$store")
    if [ "$audit" = on ]; then
      checkpoint_sizes "$store" "${before:-0}" "${after:-0}" >"$home/checkpoints-$level.txt"
    fi
    # No audit log (off): no row, size 0.
    echo "${before:-0} ${after:-0}" >"$home/log-$level.txt"
  done
  kill "$kbs_pid"
  wait "$kbs_pid" 2>/dev/null || true
  if [ "$audit" = off ]; then
    grep -q 'INSECURE: the audit log is off' "$home/kbs.log" \
      || { echo "error: the audit-off KBS did not say its audit log is off" >&2; return 1; }
  fi
}

for round in $(seq "$rounds"); do
  measure on "$round"
  measure off "$round"
done

python3 - "$work" "$rounds" "$levels" "$seconds" "$(nproc)" "$(git rev-parse HEAD)" \
  "$(git status --porcelain --untracked-files=no | grep -q . && echo dirty || echo clean)" \
  <<'PY' >bench-results/audit.json
import json, statistics, sys
work, rounds, levels, seconds, cores, commit, tree = sys.argv[1:8]
rounds, levels = int(rounds), [int(level) for level in levels.split(",")]

def level_result(audit, run, level):
    home = f"{work}/{audit}-{run}"
    result = json.load(open(f"{home}/level-{level}.json"))["results"][0]
    before, after = (int(x) for x in open(f"{home}/log-{level}.txt").read().split())
    out = {
        "rounds_per_s": round(result["throughput_per_s"], 1),
        "completed": result["completed"],
        "errors": result["errors"],
        "p50_ms": round(result["p50_ms"], 2),
        "p99_ms": round(result["p99_ms"], 2),
        "kbs_cpu_ms_per_round": round(result["kbs_cpu_ms_per_op"], 3),
        "kbs_cpu_utilisation": round(result["kbs_cpu_utilisation"], 2),
        "audit_entries_appended": after - before,
    }
    if audit == "on":
        sizes = [before] + [int(x) for x in open(f"{home}/checkpoints-{level}.txt").read().split()]
        batches = [b - a for a, b in zip(sizes, sizes[1:])]
        out["audit_appends_per_s"] = round((after - before) / result["seconds"], 1)
        out["audit_entries_per_round"] = round((after - before) / max(result["completed"], 1), 3)
        out["group_commits"] = len(batches)
        out["group_commit_batch"] = {
            "mean": round(statistics.mean(batches), 2) if batches else 0,
            "p50": statistics.median(batches) if batches else 0,
            "max": max(batches, default=0),
        }
    return out

measured = {
    audit: [{str(level): level_result(audit, r, level) for level in levels} for r in range(1, rounds + 1)]
    for audit in ("on", "off")
}
mean = lambda audit, level, key: statistics.mean(run[str(level)][key] for run in measured[audit])
summary = {
    str(level): {
        "rounds_per_s_on": round(mean("on", level, "rounds_per_s"), 1),
        "rounds_per_s_off": round(mean("off", level, "rounds_per_s"), 1),
        "kbs_cpu_ms_per_round_on": round(mean("on", level, "kbs_cpu_ms_per_round"), 3),
        "kbs_cpu_ms_per_round_off": round(mean("off", level, "kbs_cpu_ms_per_round"), 3),
        # The headline: the KBS's cost per release with the audit log over without it.
        "cpu_per_round_ratio_on_off": round(
            mean("on", level, "kbs_cpu_ms_per_round") / mean("off", level, "kbs_cpu_ms_per_round"), 3),
        "throughput_ratio_on_off": round(
            mean("on", level, "rounds_per_s") / mean("off", level, "rounds_per_s"), 3),
        "audit_appends_per_s": round(mean("on", level, "audit_appends_per_s"), 1),
    }
    for level in levels
}
print(json.dumps({
    "what": "full rounds (auth + attest + resource + JWE decrypt; fresh agent, sample TEE) against a KBS with the audit log on (default) and off ([transparency] audit = false), interleaved; audit entries per round: attestation + release",
    "cores": int(cores),
    "commit": commit,
    "tree": tree,
    "seconds_per_level": int(seconds),
    "rounds": rounds,
    "summary": summary,
    "measured": measured,
}, indent=2))
PY

python3 - <<'PY'
import json
report = json.load(open("bench-results/audit.json"))
print(f"audit log cost: {report['cores']} cores, commit {report['commit'][:12]} ({report['tree']}), "
      f"{report['seconds_per_level']} s per level, {report['rounds']} round(s) each, on/off interleaved")
print(f"{'audit':5} {'round':>5} {'clients':>7} {'rounds/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
      f"{'cpu ms/rnd':>10} {'errors':>6} {'appends/s':>9} {'ent/rnd':>7} {'batch mean/p50/max':>18}")
for audit in ("on", "off"):
    for number, run in enumerate(report["measured"][audit], 1):
        for level, r in run.items():
            batch = r.get("group_commit_batch")
            batch = f"{batch['mean']}/{batch['p50']}/{batch['max']}" if batch else "-"
            print(f"{audit:5} {number:>5} {level:>7} {r['rounds_per_s']:>9} {r['p50_ms']:>8} {r['p99_ms']:>8} "
                  f"{r['kbs_cpu_ms_per_round']:>10} {r['errors']:>6} {r.get('audit_appends_per_s', '-'):>9} "
                  f"{r.get('audit_entries_per_round', '-'):>7} {batch:>18}")
print()
print(f"{'clients':>7} {'rounds/s on':>11} {'off':>7} {'cpu ms on':>9} {'off':>7} {'cpu on/off':>10} {'rounds/s on/off':>15}")
for level, s in report["summary"].items():
    print(f"{level:>7} {s['rounds_per_s_on']:>11} {s['rounds_per_s_off']:>7} {s['kbs_cpu_ms_per_round_on']:>9} "
          f"{s['kbs_cpu_ms_per_round_off']:>7} {s['cpu_per_round_ratio_on_off']:>10} {s['throughput_ratio_on_off']:>15}")
PY
