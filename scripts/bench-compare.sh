#!/usr/bin/env bash
# Same-run benchmark comparison of this tree against an earlier revision: builds both in release,
# runs the criterion benches both have (appraisal, TDX, service, token and policy) and the load
# generator, old and new in turn on the same machine, and writes bench-results/compare.json
# (criterion mean times in ns and load-generator rounds/s per concurrency, old vs new).
#   bash scripts/bench-compare.sh REV [OLD_DIR]
# OLD_DIR: where REV is (or will be) checked out as a git worktree; default a temporary one.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_dependencies
rev=${1:?usage: bench-compare.sh REV [OLD_DIR]}
old=${2:-$(mktemp -d)/old}
new=$PWD
[ -d "$old/.git" ] || [ -f "$old/.git" ] || git worktree add -f "$old" "$rev" >/dev/null
criterion_args=(--warm-up-time 1 --measurement-time 3)
# Bench names are the same in both trees; the service bench moved crates.
# Both trees read the evidence in this tree (older ones look for it through WARDEN_VECTORS).
export WARDEN_VECTORS=$new/tests/vectors
run_criterion() {
  local dir=$1 service_crate=$2
  (cd "$dir" && cargo bench --locked -p warden-verifier -p "$service_crate" -p warden-kbs \
    --bench appraisal --bench tdx --bench service --bench token_and_policy -- "${criterion_args[@]}" >/dev/null)
}
run_load() {
  (cd "$1" && WARDEN_BENCH_SECONDS=${WARDEN_BENCH_SECONDS:-10} bash scripts/bench.sh load >/dev/null 2>&1)
}
# Criterion's mean estimate of every benchmark under target/criterion, as "id ns" lines.
means() {
  find "$1/target/criterion" -path '*/new/estimates.json' | while read -r file; do
    id=${file#"$1/target/criterion/"}
    id=${id%/new/estimates.json}
    printf '%s %s\n' "$id" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean"]["point_estimate"])' "$file")"
  done | sort
}
# The service bench is in warden-verifier before issue 14 and in warden-verifier-service after.
old_service=warden-verifier
grep -q '^name = "service"' "$old/verifier-service/Cargo.toml" 2>/dev/null && old_service=warden-verifier-service
rm -rf "$old/target/criterion" "$new/target/criterion"
run_criterion "$old" "$old_service"
run_criterion "$new" warden-verifier-service
run_load "$old"
run_load "$new"
mkdir -p bench-results
python3 - "$rev" <(means "$old") <(means "$new") "$old/bench-results/load.json" "$new/bench-results/load.json" <<'EOF' >bench-results/compare.json
import json, sys
rev, old_means, new_means, old_load, new_load = sys.argv[1:]
read = lambda path: dict(line.split() for line in open(path) if line.strip())
old, new = read(old_means), read(new_means)
criterion = {
    name: {"old_ns": round(float(old[name]), 1), "new_ns": round(float(new[name]), 1),
           "new_over_old": round(float(new[name]) / float(old[name]), 3)}
    for name in sorted(set(old) & set(new))
}
load = {"old": json.load(open(old_load)), "new": json.load(open(new_load))}
print(json.dumps({"base": rev, "criterion": criterion, "load": load}, indent=2))
EOF
cat bench-results/compare.json
