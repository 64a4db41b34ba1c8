#!/usr/bin/env bash
# KBS replicas on one PostgreSQL server (issue 18), measured with the load generator in one run:
#   1. scaling: rounds/s of one KBS on SQLite, then of 1, 2 and 3 replicas on PostgreSQL, every
#      round spread over the replicas (/auth on one, /attest on the next, /resource on the third);
#   2. kill -9 of one replica under load (the load generator ejects a replica that stops
#      answering, as a load balancer's health check would): errors, and every acknowledged round
#      counted against the release entries in the audit log;
#   3. PostgreSQL stopped for 10 s under load: the answers meanwhile, and how long after it is
#      back the replicas serve without errors again.
# Writes bench-results/replicas.json (and the load generator's own files beside it).
#   bash scripts/replicas.sh
# Environment: WARDEN_REPLICAS_SECONDS (per scaling level, default 8),
# WARDEN_REPLICAS_CONCURRENCY (default 32).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_dependencies
ensure_debian_packages postgresql bc
seconds=${WARDEN_REPLICAS_SECONDS:-8}
concurrency=${WARDEN_REPLICAS_CONCURRENCY:-32}
cargo build --release --locked -p warden-kbs -p warden-tests --bin warden-kbs --bin warden-bench
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
out=bench-results
mkdir -p "$out"
work=$(mktemp -d)
# PostgreSQL's cluster is made in it as an unprivileged user, which must be able to enter it.
chmod 711 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  bash scripts/postgres.sh destroy "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
secret="replica-secret-0123456789abcdef"

# A KBS directory for the sample TEE, no per-client /auth limit (the load comes from one address).
init_kbs() { # dir [store-url]
  local dir=$1
  shift
  "$bin/warden-kbs" init --dir "$dir" --listen 127.0.0.1:0 --insecure-allow-sample ${1:+--store-url "$1"} >/dev/null
  sed -i 's/^auth_per_second = .*/auth_per_second = 0/' "$dir/kbs.toml"
}

# Starts a replica of the KBS in $1; sets $replica_url and $replica_pid.
start_replica() { # dir name
  local dir=$1 name=$2
  rm -f "$work/$name.ready"
  RUST_LOG=warn "$bin/warden-kbs" serve --config "$dir/kbs.toml" --ready-file "$work/$name.ready" 2>"$work/$name.log" &
  replica_pid=$!
  pids+=("$replica_pid")
  wait_for_file "$work/$name.ready" 30
  replica_url="https://$(cat "$work/$name.ready")"
}

provision() { # dir url
  local dir=$1 url=$2 ca="$1/tls/ca.pem"
  WARDEN_ADMIN_TOKEN=$("$bin/warden-kbs" admin token --role admin --key "$dir/keys/admin.key")
  export WARDEN_ADMIN_TOKEN
  printf '%s' "$secret" | "$bin/warden-kbs" admin resource --url "$url" --ca-file "$ca" set demo/key/one --file -
  echo '{"min_svn": 1}' | "$bin/warden-kbs" admin reference-value --url "$url" --ca-file "$ca" set sample --file - >/dev/null
  "$bin/warden-kbs" admin policy --url "$url" --ca-file "$ca" set-release --prefix demo/ --file policies/allow-insecure-sample.rego >/dev/null
}

# CPU seconds used so far by PostgreSQL's processes (all of the server's user).
postgres_cpu() {
  local ticks=0 pid
  for pid in $(pgrep -u "${WARDEN_PG_USER:-warden-pg}" 2>/dev/null); do
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc
}

# CPU seconds used so far by this script's finished children (the load generator), from the
# shell's own `times` (so not in a subshell, whose children are others).
children_cpu_into() { # variable
  times >"$work/times"
  printf -v "$1" '%s' "$(tail -1 "$work/times" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')"
}

bench() { # name urls pids seconds [extra args...]
  local name=$1 urls=$2 bench_pids=$3 secs=$4
  shift 4
  local pg_before gen_before gen_after
  pg_before=$(postgres_cpu)
  children_cpu_into gen_before
  "$bin/warden-bench" --kbs "$urls" --kbs-pid "$bench_pids" --ca-file "$ca" --concurrency "$concurrency" \
    --seconds "$secs" --expect "$secret" --out "$out/replicas-$name.json" "$@"
  children_cpu_into gen_after
  printf '{"postgres_cpu_s": %.2f, "generator_cpu_s": %.2f}\n' "$(echo "$(postgres_cpu) - $pg_before" | bc)" \
    "$(echo "$gen_after - $gen_before" | bc)" >"$out/replicas-$name.cpu.json"
}

# Release entries in a KBS's audit log (the KBS may be running).
releases_logged() { # dir
  "$bin/warden-kbs" audit export --config "$1/kbs.toml" --out "$work/audit.export" >/dev/null
  "$bin/warden-kbs" audit search --kind release "$work/audit.export" | grep -c . || true
}

echo "== 1. scaling"
init_kbs "$work/sqlite"
start_replica "$work/sqlite" sqlite
ca="$work/sqlite/tls/ca.pem"
provision "$work/sqlite" "$replica_url"
bench sqlite "$replica_url" "$replica_pid" "$seconds"
kill "$replica_pid"

pg_url=$(bash scripts/postgres.sh start "$work/pg")
init_kbs "$work/pgkbs" "$pg_url"
ca="$work/pgkbs/tls/ca.pem"
urls=() rpids=()
for n in 0 1 2; do
  start_replica "$work/pgkbs" "r$n"
  urls+=("$replica_url")
  rpids+=("$replica_pid")
done
provision "$work/pgkbs" "${urls[0]}"
bench pg-1 "${urls[0]}" "${rpids[0]}" "$seconds"
# Whole rounds per replica (a load balancer keeping each client on one), then every round's
# steps on three different replicas (one TLS connection and one session lookup more per step).
bench pg-2 "${urls[0]},${urls[1]}" "${rpids[0]},${rpids[1]}" "$seconds" --spread rounds
bench pg-3 "${urls[0]},${urls[1]},${urls[2]}" "${rpids[0]},${rpids[1]},${rpids[2]}" "$seconds" --spread rounds
bench pg-3-steps "${urls[0]},${urls[1]},${urls[2]}" "${rpids[0]},${rpids[1]},${rpids[2]}" "$seconds"

echo "== 2. kill -9 of one replica under load"
before=$(releases_logged "$work/pgkbs")
bench kill "${urls[0]},${urls[1]},${urls[2]}" "${rpids[0]},${rpids[1]},${rpids[2]}" 12 \
  --eject-for 10000 --timeline "$out/replicas-kill.timeline" --error-log "$out/replicas-kill.errors" &
bench_pid=$!
sleep 4
kill_ms=$(date +%s%3N)
kill -9 "${rpids[2]}"
wait "$bench_pid"
after=$(releases_logged "$work/pgkbs")
start_replica "$work/pgkbs" r2
urls[2]=$replica_url
rpids[2]=$replica_pid

echo "== 3. PostgreSQL stopped for 10 s under load"
bench pgdown "${urls[0]},${urls[1]},${urls[2]}" "${rpids[0]},${rpids[1]},${rpids[2]}" 25 \
  --timeline "$out/replicas-pgdown.timeline" --error-log "$out/replicas-pgdown.errors" &
bench_pid=$!
sleep 5
stop_ms=$(date +%s%3N)
bash scripts/postgres.sh stop "$work/pg" >/dev/null
sleep 10
bash scripts/postgres.sh start "$work/pg" >/dev/null
back_ms=$(date +%s%3N)
wait "$bench_pid"
alive=0
for pid in "${rpids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=$((alive + 1)); done

python3 - "$out" "$kill_ms" "$before" "$after" "$stop_ms" "$back_ms" "$alive" <<'EOF'
import json, subprocess, sys
out, kill_ms, before, after, stop_ms, back_ms, alive = sys.argv[1], *map(int, sys.argv[2:])
def load(name):
    return json.load(open(f"{out}/replicas-{name}.json"))
def level(report):
    return report["results"][0]
scaling = {}
for name in ["sqlite", "pg-1", "pg-2", "pg-3", "pg-3-steps"]:
    r = level(load(name))
    cpu = json.load(open(f"{out}/replicas-{name}.cpu.json"))
    scaling[name] = {
        "kbs_cpu_s": r.get("kbs_cpu_utilisation", 0) * r["seconds"],
        "postgres_cpu_s": cpu["postgres_cpu_s"],
        "load_generator_cpu_s": cpu["generator_cpu_s"],
        "cpu_ms_per_round_all_processes": 1000 * (r.get("kbs_cpu_utilisation", 0) * r["seconds"] + cpu["postgres_cpu_s"] + cpu["generator_cpu_s"]) / max(r["completed"], 1),
        "rounds_per_second": r["throughput_per_s"],
        "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
        "errors": r["errors"], "acknowledged": r["completed"],
        "kbs_cpu_utilisation": r.get("kbs_cpu_utilisation"),
    }
def timeline(name):
    return [json.loads(line) for line in open(f"{out}/replicas-{name}.timeline")]
kill = load("kill")
kr = level(kill)
kill_at = kill_ms - kill["started_unix_ms"]
kill_errors = [b for b in timeline("kill") if b["errors"]]
down = load("pgdown")
dr = level(down)
start = down["started_unix_ms"]
buckets = timeline("pgdown")
width = buckets[1]["t_ms"] - buckets[0]["t_ms"] if len(buckets) > 1 else 250
back_at = back_ms - start
# Recovered: the first bucket from which on, to the end of the run, there are no errors.
recovered_at = None
for i, b in enumerate(buckets):
    if b["t_ms"] < stop_ms - start:
        continue
    if all(x["errors"] == 0 for x in buckets[i:]) and b["ok"] > 0:
        recovered_at = b["t_ms"]
        break
errors_during = {}
for line in open(f"{out}/replicas-pgdown.errors"):
    e = json.loads(line)
    errors_during[e["kind"]] = errors_during.get(e["kind"], 0) + 1
summary = {
    "cores": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
    "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
    "concurrency": kr["concurrency"],
    "scaling": scaling,
    "kill_9": {
        "killed_at_ms": kill_at,
        "acknowledged_rounds": kr["completed"],
        "failed_rounds": kr["errors"],
        "errors_by_kind": kr.get("errors_by_kind"),
        "error_window_ms": [kill_errors[0]["t_ms"], kill_errors[-1]["t_ms"] + width] if kill_errors else None,
        "release_entries_logged": after - before,
        "acknowledged_not_logged": max(0, kr["completed"] - (after - before)),
    },
    "postgres_down": {
        "stopped_at_ms": stop_ms - start,
        "back_at_ms": back_at,
        "acknowledged_rounds": dr["completed"],
        "failed_rounds": dr["errors"],
        "errors_by_kind": errors_during,
        "recovered_ms_after_back": None if recovered_at is None else max(0, recovered_at + width - back_at),
        "replicas_alive_after": alive,
    },
}
json.dump(summary, open(f"{out}/replicas.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
s = summary
print(f"scaling (rounds/s at {kr['concurrency']} clients): sqlite {scaling['sqlite']['rounds_per_second']:.0f}; "
      f"postgres 1 replica {scaling['pg-1']['rounds_per_second']:.0f}, 2 {scaling['pg-2']['rounds_per_second']:.0f}, "
      f"3 {scaling['pg-3']['rounds_per_second']:.0f} (whole rounds per replica); 3 with every round's steps on 3 replicas "
      f"{scaling['pg-3-steps']['rounds_per_second']:.0f}; errors {sum(v['errors'] for v in scaling.values())}")
k = s["kill_9"]
print(f"kill -9: {k['acknowledged_rounds']} acknowledged, {k['failed_rounds']} failed, "
      f"{k['release_entries_logged']} releases logged, {k['acknowledged_not_logged']} acknowledged but not logged")
d = s["postgres_down"]
print(f"postgres down 10 s: {d['failed_rounds']} failed ({d['errors_by_kind']}), "
      f"recovered {d['recovered_ms_after_back']} ms after it was back, {d['replicas_alive_after']} of 3 replicas alive")
ok = (sum(v["errors"] for v in scaling.values()) == 0 and k["acknowledged_not_logged"] == 0
      and d["recovered_ms_after_back"] is not None and d["recovered_ms_after_back"] <= 5000 and alive == 3)
sys.exit(0 if ok else 1)
EOF
