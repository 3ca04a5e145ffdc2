#!/usr/bin/env python3
"""profile_cpu.py on made-up inputs: a results file's headline rows, a `fingen bench --profile` table (GFLOP/s
and GB/s columns told apart by position), and the floor/target arithmetic. Plain python3; prints
'test_profile_cpu: N passed, M failed' last."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_cpu  # noqa: E402

RESULTS = """# CPU benchmarks: test

## Headline

| Benchmark | Case | Threads | TorchSharp | FinGen | FinGen vs TorchSharp | FinGen allocated | FinGen GFLOP/s (% of peak) |
|---|---|---:|---:|---:|---:|---:|---:|
| GAN training step | Batch 64 | 2 | 4,335.0 μs | 875.0 μs | 4.95x faster | 0 B | — |
| DCGAN training step | Batch 64 | 2 | 75.26 ms | 32.78 ms | 2.30x faster | 0 B | — |
| FMA peak (fastest iteration is the 100 %) | 256-bit, 1 thread | 1 | — | 2,441.13 μs | — | — | 110.0 at the mean |
| FMA peak (fastest iteration is the 100 %) | 256-bit, 2 threads | 2 | — | 2,592.11 μs | — | — | 207.1 at the mean |
| FMA peak (fastest iteration is the 100 %) | 512-bit, 2 threads | 2 | — | 2,577.22 μs | — | — | 211.0 at the mean |

## Parity check (before timing)
| GAN training step | Batch 256 | 2 | 1.0 ms | 1.0 ms | 1x | 0 B | — |
"""

CLASSES_ONLY = """# CPU benchmarks: test-conv-steps

| | |
|---|---|
| FMA peak (measured before the suite) | 113 GFLOP/s per thread (256-bit), 222 GFLOP/s on 2 threads; 512-bit FMAs 0.99× the 256-bit rate on one thread |

## Headline

| Benchmark | Case | Threads | TorchSharp | FinGen | FinGen vs TorchSharp | FinGen allocated | FinGen GFLOP/s (% of peak) |
|---|---|---:|---:|---:|---:|---:|---:|
| DCGAN training step | Batch 64 | 2 | 43.00 ms | 30.45 ms | 1.42x faster | 0 B | — |
"""

PROFILE = """model    batch backend  median ms     p10 ms     p90 ms     steps/s   samples/s
gan         64 cpu          1.505      1.393      1.631       664.5       42531
  per op: host wall time; % of the measured step (1.610 ms, the mean of 200 profiled steps)
  op                             calls/step    µs/step % of step  GFLOP/s     GB/s
  linear_forward_fused                 12.0      655.3     40.7%    119.1         
  linear_backward                       9.0      572.7     35.5%    140.8         
  adam_step                             2.0      124.9      7.7%              55.6
  (outside ops)                                   72.4      4.5%
"""


def main():
    checks = []
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, encoding="utf-8") as f:
        f.write(RESULTS)
    torch, peak, threads = profile_cpu.headline(f.name)
    os.unlink(f.name)
    checks.append(("TorchSharp times in seconds, rows after the headline ignored",
                   sorted(torch) == [("DCGAN training step", "Batch 64"), ("GAN training step", "Batch 64")]
                   and abs(torch[("GAN training step", "Batch 64")] - 4.335e-3) < 1e-15
                   and abs(torch[("DCGAN training step", "Batch 64")] - 75.26e-3) < 1e-15))
    checks.append(("peak: the best width at the most threads", (peak, threads) == (211.0, 2)))

    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, encoding="utf-8") as f:
        f.write(CLASSES_ONLY)
    torch, peak, threads = profile_cpu.headline(f.name)
    os.unlink(f.name)
    checks.append(("a file of a few classes: the peak measured before the suite",
                   (peak, threads) == (222.0, 2) and sorted(torch) == [("DCGAN training step", "Batch 64")]))

    class Done:
        stdout = PROFILE
    real_run = subprocess.run
    subprocess.run = lambda *a, **k: Done
    try:
        median, ops, outside = profile_cpu.profile("fingen.dll", "gan", 64)
    finally:
        subprocess.run = real_run
    checks.append(("median step", median == 1.505))
    checks.append(("GFLOP/s read from its column, GB/s not taken for it",
                   [(o[0], o[4]) for o in ops] == [("linear_forward_fused", 119.1), ("linear_backward", 140.8), ("adam_step", None)]))
    checks.append(("outside ops", outside == 72.4))
    gflop, gemm_us, other_us = profile_cpu.counted(ops, outside)
    checks.append(("counted GFLOP", abs(gflop - (655.3e-6 * 119.1 + 572.7e-6 * 140.8)) < 1e-12))
    checks.append(("GEMM and other time", abs(gemm_us - 1228.0) < 1e-9 and abs(other_us - 197.3) < 1e-9))
    floor_ms, target_ms, need = profile_cpu.bound(0.2, 200.0, 4.2e-3, 6.0)
    checks.append(("floor 0.2 GFLOP at 200 GFLOP/s = 1 ms; 4.2 ms / 6 = 0.7 ms; 143 %",
                   abs(floor_ms - 1.0) < 1e-12 and abs(target_ms - 0.7) < 1e-12 and abs(need - 100 / 0.7) < 1e-9))

    failed = [name for name, ok in checks if not ok]
    for name in failed:
        print(f"FAILED: {name}")
    print(f"test_profile_cpu: {len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
