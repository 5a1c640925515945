#!/usr/bin/env python3
"""TTFT percentiles per run pooled over every swept value of a `gorgo sim --sweep` directory (e.g. seeds).

Usage: python3 benchmarks/pooled_percentiles.py benchmarks/results/paper-3region-seeds

One seed's P99 over 400 requests is its 4th-worst request; pooling the seeds' completed requests gives a tail
statistic that one unlucky burst does not decide.
"""
import csv
import glob
import os
import statistics
import sys


def percentile(values, p):
    """Nearest-rank percentile of the exact values (the reports read theirs from an HdrHistogram, within 0.1 %)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def main(directory):
    runs = {}
    files = sorted(glob.glob(os.path.join(directory, "*", "requests.csv")))
    if not files:
        sys.exit(f"no */requests.csv under {directory}")
    for path in files:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row["completed"] == "true":
                    runs.setdefault(row["run"], []).append(float(row["ttft_ms"]))
    print(f"{len(files)} swept values pooled from {directory}")
    print("| run | completed | TTFT mean | P50 | P90 | P99 | P99.9 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run, ttfts in runs.items():
        cells = [f"{statistics.mean(ttfts):.0f}"] + [f"{percentile(ttfts, p):.0f}" for p in (50, 90, 99, 99.9)]
        print(f"| {run} | {len(ttfts)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
