#!/usr/bin/env python3
# How close the router's TTFT estimates came to the TTFTs measured, per run, from a result's requests.csv (gorgo sim
# or gorgo bench): the median of measured over estimated TTFT, the share of requests within 2x either way
# (0.5 <= measured / estimate <= 2), and the same over the first N requests by arrival (a burst's first wave).
# No dependencies. Usage: python3 benchmarks/estimate_accuracy.py RESULTS_DIR_OR_CSV [FIRST_N]
import csv, os, statistics, sys, collections
path = sys.argv[1]; first_n = int(sys.argv[2]) if len(sys.argv) > 2 else 0
if os.path.isdir(path): path = os.path.join(path, "requests.csv")
runs = collections.defaultdict(list)
for r in csv.DictReader(open(path)):
    if r.get("estimated_ttft_ms") and r.get("ttft_ms") and float(r["estimated_ttft_ms"]) > 0:
        runs[r["run"]].append((float(r["arrival_ms"]), float(r["ttft_ms"]) / float(r["estimated_ttft_ms"])))
def describe(pairs):
    ratios = [x for _, x in pairs]
    return {"requests": len(ratios), "median_measured_over_estimate": round(statistics.median(ratios), 2),
            "within_2x": round(sum(0.5 <= x <= 2 for x in ratios) / len(ratios), 3)}
print(f"{'run':<36} {'requests':>8} {'median':>7} {'within 2x':>9}" + (f" | first {first_n}: median, within 2x" if first_n else ""))
for run, pairs in runs.items():
    d = describe(pairs)
    line = f"{run:<36} {d['requests']:>8} {d['median_measured_over_estimate']:>7} {d['within_2x']:>9.1%}"
    if first_n:
        f = describe(sorted(pairs)[:first_n])
        line += f" | {f['median_measured_over_estimate']}, {f['within_2x']:.1%}"
    print(line)
