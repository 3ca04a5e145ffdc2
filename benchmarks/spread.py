#!/usr/bin/env python3
"""The spread of FinGen-vs-TorchSharp ratios over repeated BenchmarkDotNet runs of the same classes: for every case,
the speed-up (TorchSharp's mean over FinGen's, both from one run) in each run, their median and their range.

usage: spread.py RESULTS_DIR [RESULTS_DIR ...]   (each BenchmarkDotNet's <artifacts>/results; run-cpu.sh calls it)
"""
import os
import re
import statistics
import sys

from headline import CLASSES, STATISTICS, table

UNITS = {"ns": 1e-9, "μs": 1e-6, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}


def seconds(text):
    """'4,335.0 μs' -> 0.004335; None for anything that is not a time."""
    match = re.fullmatch(r"([0-9][0-9,]*(?:\.[0-9]+)?)\s*(ns|μs|µs|us|ms|s)", text.strip())
    return float(match.group(1).replace(",", "")) * UNITS[match.group(2)] if match else None


def ratios(path):
    """{(case, threads): TorchSharp mean / FinGen mean} of one class's report."""
    header, rows = table(path)
    keys = [h for h in header if h != "Method" and h not in STATISTICS]

    def case(row):
        return ", ".join(f"{k} {row[k]}" if k[0].isupper() else row[k] for k in keys if row.get(k, "?") not in ("?", "", "-"))

    torch = {case(r): seconds(r["Mean"]) for r in rows if r["Method"] == "TorchSharp"}
    result = {}
    for row in rows:
        ours, theirs = seconds(row["Mean"]) if row["Method"] == "FinGen" else None, torch.get(case(row))
        if ours and theirs:
            result[(case(row), row.get("Threads", "?"))] = theirs / ours
    return result


def speedup(x):
    return f"{x:.2f}x faster" if x >= 1 else f"{1 / x:.2f}x slower"


def main(folders):
    print("| Benchmark | Case | Threads | Runs | FinGen vs TorchSharp, median | Range (min – max) | Each run |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name, title in CLASSES:
        runs = [ratios(p) for p in (os.path.join(f, f"FinGen.Benchmarks.{name}-report-github.md") for f in folders) if os.path.exists(p)]
        if not runs:
            continue
        for key in sorted({k for run in runs for k in run}, key=lambda k: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", k[0])]):
            values = [run[key] for run in runs if key in run]
            each = ", ".join(f"{v:.2f}x" for v in values)
            print(f"| {title} | {key[0]} | {key[1]} | {len(values)} | {speedup(statistics.median(values))} "
                  f"| {min(values):.2f}x – {max(values):.2f}x | {each} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: spread.py RESULTS_DIR [RESULTS_DIR ...]")
    main(sys.argv[1:])
