#!/usr/bin/env python3
"""spread.py on made-up BenchmarkDotNet reports: three runs of the GAN class, one of them missing a case, and a
VAE class in other time units. Plain python3; prints 'test_spread: N passed, M failed' last."""
import contextlib
import io
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spread  # noqa: E402

GAN = """
| Method     | Batch | Mean        | Error    | Ratio        | Threads | Allocated |
|----------- |------ |------------:|---------:|-------------:|--------:|----------:|
| **TorchSharp** | **1**     |  **{t1} μs** |    **27.88 μs** | **baseline** |       **2** | **25880 B** |
| FinGen     | 1     |    {f1} μs |     3.67 μs | 5.79x faster |       2 |         - |
|            |       |             |          |              |         |           |
| **TorchSharp** | **64**    |  **{t64}** |    **79.15 μs** | **baseline** |       **2** | **25890 B** |
| FinGen     | 64    |    {f64} |    13.51 μs | 4.58x faster |       2 |         - |
"""
VAE = """
| Method     | Batch | Mean     | Ratio        | Threads |
|----------- |------ |---------:|-------------:|--------:|
| TorchSharp | 256   | 8.000 ms |     baseline |       2 |
| FinGen     | 256   | 2.000 ms | 4.00x faster |       2 |
"""


def main():
    failures, checks = [], []

    def check(what, ok):
        checks.append(what)
        if not ok:
            failures.append(what)

    check("seconds μs", abs(spread.seconds("4,335.0 μs") - 0.004335) < 1e-12)
    check("seconds ms", abs(spread.seconds("1.356 ms") - 0.001356) < 1e-12)
    check("seconds ns", abs(spread.seconds("12.5 ns") - 12.5e-9) < 1e-18)
    check("seconds of a non-time", spread.seconds("NA") is None)
    with tempfile.TemporaryDirectory() as root:
        runs = []
        for i, (t1, f1, t64, f64) in enumerate([(1500, 250, "4,000.0 μs", "1,000.0 μs"), (1500, 300, "4.500 ms", "1.000 ms"), (1500, 500, "", "")]):
            folder = os.path.join(root, f"run{i}")
            os.makedirs(folder)
            text = GAN.format(t1=t1, f1=f1, t64=t64, f64=f64)
            if not t64:  # the third run lost its batch-64 rows
                text = "\n".join(line for line in text.splitlines() if "64" not in line)
            with open(os.path.join(folder, "FinGen.Benchmarks.GanStepBenchmarks-report-github.md"), "w", encoding="utf-8") as f:
                f.write(text)
            runs.append(folder)
        with open(os.path.join(runs[0], "FinGen.Benchmarks.VaeStepBenchmarks-report-github.md"), "w", encoding="utf-8") as f:
            f.write(VAE)
        check("ratios of one run", spread.ratios(os.path.join(runs[0], "FinGen.Benchmarks.GanStepBenchmarks-report-github.md"))
              == {("Batch 1", "2"): 6.0, ("Batch 64", "2"): 4.0})
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            spread.main(runs)
        lines = out.getvalue().splitlines()
        check("header", lines[0].startswith("| Benchmark | Case | Threads | Runs | FinGen vs TorchSharp, median"))
        check("batch 1: median of 6, 5, 3", "| GAN training step | Batch 1 | 2 | 3 | 5.00x faster | 3.00x – 6.00x | 6.00x, 5.00x, 3.00x |" in lines)
        check("batch 64: two runs", "| GAN training step | Batch 64 | 2 | 2 | 4.25x faster | 4.00x – 4.50x | 4.00x, 4.50x |" in lines)
        check("VAE: one run", "| VAE training step | Batch 256 | 2 | 1 | 4.00x faster | 4.00x – 4.00x | 4.00x |" in lines)
        check("rows in order", [l.split("|")[2].strip() for l in lines[2:]] == ["Batch 1", "Batch 64", "Batch 256"])
    check("slower", spread.speedup(0.5) == "2.00x slower")
    for line in failures:
        print("FAIL", line)
    print(f"test_spread: {len(checks) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
