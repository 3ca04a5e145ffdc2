#!/usr/bin/env python3
"""Condenses BenchmarkDotNet's GitHub-markdown reports of the suite into one table: for every case, the
TorchSharp baseline's mean, ours, BenchmarkDotNet's Ratio (verbatim) and what ours allocated.

usage: headline.py RESULTS_DIR   (BenchmarkDotNet's <artifacts>/results; run-cpu.sh calls it)
"""
import os
import sys

CLASSES = [
    ("GanStepBenchmarks", "GAN training step"),
    ("VaeStepBenchmarks", "VAE training step"),
    ("DcganStepBenchmarks", "DCGAN training step"),
    ("ConvVaeStepBenchmarks", "Conv VAE training step"),
    ("SamplingBenchmarks", "Sampling"),
    ("SamplingTwoThreadsBenchmarks", "Sampling, 2 threads per call"),
    ("BulkGenerationBenchmarks", "Bulk generation, generator forward"),
    ("SgemmBenchmarks", "SGEMM"),
]
STATISTICS = {"Mean", "Error", "StdDev", "Median", "Ratio", "RatioSD", "Threads", "Gen0", "Gen1", "Gen2",
              "Allocated", "Alloc Ratio", "GFLOP/s", "% of peak", "Min", "Max"}


def table(path):
    """The report's summary table as a list of dicts (bold markers and separator rows dropped)."""
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip().startswith("|")]
    rows = [[cell.strip().replace("**", "") for cell in line.strip("|").split("|")] for line in lines]
    header, body = rows[0], rows[2:]
    return header, [dict(zip(header, row)) for row in body if any(row)]


def main(results):
    print("| Benchmark | Case | Threads | TorchSharp | FinGen | FinGen vs TorchSharp | FinGen allocated | FinGen GFLOP/s (% of peak) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, title in CLASSES:
        path = os.path.join(results, f"FinGen.Benchmarks.{name}-report-github.md")
        if not os.path.exists(path):
            continue
        header, rows = table(path)
        keys = [h for h in header if h != "Method" and h not in STATISTICS]

        def case(row):
            return ", ".join(f"{k} {row[k]}" if k[0].isupper() else row[k]
                             for k in keys if row.get(k, "?") not in ("?", "", "-"))

        torch = {case(r): r for r in rows if r["Method"] == "TorchSharp"}
        for row in rows:
            if row["Method"] != "FinGen":
                continue
            baseline = torch.get(case(row), {})
            gflops = f"{row['GFLOP/s']} ({row['% of peak']})" if "GFLOP/s" in row else "—"
            allocated = "0 B" if row.get("Allocated") == "-" else row.get("Allocated", "?")
            print(f"| {title} | {case(row)} | {row.get('Threads', '?')} | {baseline.get('Mean', '?')} | {row['Mean']} "
                  f"| {row.get('Ratio', '?')} | {allocated} | {gflops} |")
        for row in rows:
            if row["Method"] == "FmaPeak":
                print(f"| FMA peak (fastest iteration is the 100 %) | {case(row)} | {row.get('Threads', '?')} | — | {row['Mean']} "
                      f"| — | — | {row['GFLOP/s']} at the mean |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: headline.py RESULTS_DIR")
    main(sys.argv[1])
