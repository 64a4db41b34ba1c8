"""Prints issue 20's performance targets beside the figures in bench-results/ (one run's files).

usage: python3 scripts/bench_table.py bench-results

Each row is a target, the figure before (the load run of an earlier build, or the shipped
default policy evaluated by regorus, measured in the same run) and after (this tree), and
whether the target is met. An absent file shows as "not run"; a file an earlier run left is
read as it is (`bash scripts/bench.sh` writes all of them in one run).
"""

import json
import os
import sys

results = sys.argv[1] if len(sys.argv) > 1 else "bench-results"


def read(name):
    path = os.path.join(results, name)
    if not os.path.exists(path):
        return None
    with open(path) as file:
        return json.load(file)


rows = []


def row(target, before, after, met):
    verdict = "n/a" if met is None else ("met" if met else "NOT met")
    rows.append((target, before, after, verdict))


def level(report, concurrency):
    if report is None:
        return None
    for result in report["results"]:
        if result["concurrency"] == concurrency:
            return result
    return None


def fmt(value, unit="", digits=3):
    if value is None:
        return "not run"
    return f"{value:.{digits}f}{unit}"


old, new = read("load-old.json"), read("load.json")
for concurrency in (1, 16, 64):
    before, after = level(old, concurrency), level(new, concurrency)
    cpu = lambda r: None if r is None else r["kbs_cpu_ms_per_op"]
    row(
        f"1. server CPU per round, {concurrency} clients <= 0.34 ms",
        fmt(cpu(before), " ms"),
        fmt(cpu(after), " ms"),
        None if after is None else cpu(after) <= 0.34,
    )


def tail(result):
    if result is None:
        return None, None
    # No round completed: no tail is within bound.
    bound = 2 * 64 / result["throughput_per_s"] * 1000 if result["throughput_per_s"] else 0.0
    return result["p99_ms"], bound


p99_before, bound_before = tail(level(old, 64))
p99_after, bound_after = tail(level(new, 64))
show = lambda p99, bound: "not run" if p99 is None else f"p99 {p99:.0f} ms, bound {bound:.0f} ms"
after64 = level(new, 64)
row(
    "2. 64 clients: p99 <= 2 x (64 / throughput), 0 errors",
    show(p99_before, bound_before),
    show(p99_after, bound_after) + ("" if after64 is None else f", {after64['errors']} errors"),
    None if after64 is None else (p99_after <= bound_after and after64["errors"] == 0),
)
peak = lambda r: None if r is None else r["kbs_peak_rss_kib"] / 1024
row(
    "3a. KBS peak RSS at 64 clients < 100 MiB",
    fmt(peak(level(old, 64)), " MiB", 0),
    fmt(peak(after64), " MiB", 0),
    None if after64 is None else peak(after64) < 100,
)


def returned(report):
    """RSS before the load, after each pass; the ratio of the last pass's end to its start."""
    if report is None or "kbs_rss_after_each_pass_kib" not in report:
        return None, "not measured"
    points = [report["kbs_rss_before_load_kib"]] + report["kbs_rss_after_each_pass_kib"]
    text = " -> ".join(f"{p / 1024:.0f}" for p in points) + " MiB"
    return points[-1] / points[-2], f"{text} (last pass {points[-1] / points[-2]:.2f}x)"


ratio_old, text_old = returned(old)
ratio_new, text_new = returned(new)
row(
    "3b. RSS after a load pass within 20% of before it",
    text_old,
    text_new,
    None if ratio_new is None else ratio_new <= 1.2,
)
auth = read("auth.json")
if auth and auth.get("new"):
    per = max(r["bytes_per_pending_challenge"] for r in auth["new"])
    before = max(r["bytes_per_pending_challenge"] for r in auth["old"]) if auth.get("old") else None
    row(
        "3c. 100,000 pending challenges < 100 MiB",
        "not run" if before is None else f"{before * 1e5 / 2**20:.1f} MiB",
        f"{per * 1e5 / 2**20:.2f} MiB ({per} B each)",
        per * 1e5 < 100 * 2**20,
    )
else:
    row("3c. 100,000 pending challenges < 100 MiB", "not run", "bash scripts/bench-auth.sh", None)

snp, tdx = read("snp.json"), read("tdx.json")
if snp:
    row(
        "4a. SNP appraisal with the default policy >= 0.8 x P-384 verify",
        fmt(snp.get("ratio_appraisal_in_regorus_to_raw_verify")) + " (regorus)",
        fmt(snp["ratio_appraisal_to_raw_verify"]) + " (native)",
        snp["ratio_appraisal_to_raw_verify"] >= 0.8,
    )
if tdx:
    row(
        "4b. TDX appraisal with the default policy >= 0.8 x (P-256 verify / 2)",
        fmt(tdx.get("ratio_appraisal_in_regorus")) + " (regorus)",
        fmt(tdx["ratio_appraisal"]) + " (native)",
        tdx["ratio_appraisal"] >= 0.8,
    )
service = read("service.json")
if service:
    embedded = service["embedded_appraisals_per_s"]
    ratio = service["grpc_mtls_appraisals_per_s_16_in_flight"] / embedded
    traced = service.get("grpc_mtls_appraisals_per_s_16_in_flight_with_trace")
    row(
        "5. verifier service, mTLS, 16 in flight >= 0.9 x embedded",
        "" if traced is None else f"{traced / embedded:.3f} with the trace",
        f"{ratio:.3f} ({service['grpc_mtls_appraisals_per_s_16_in_flight']:.0f} vs {embedded:.0f}/s)",
        ratio >= 0.9,
    )

widths = [max(len(str(r[i])) for r in rows + [("target", "before", "after", "")]) for i in range(4)]
line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
print(line(("target", "before", "after", "")))
for r in rows:
    print(line(r))
