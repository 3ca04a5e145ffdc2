#!/usr/bin/env python3
"""Where a training step's time goes on this CPU, and what the speed targets ask of it.

Runs `fingen bench --profile` for each model and batch of issue 14's targets, and writes
benchmarks/results/<machine>-profile.md: per case the op table (host wall time per op, its share of the step, the
GFLOP/s of the ops that count FLOPs), and a summary that holds each target against the machine's FMA peak. The
TorchSharp step times and the FMA peak come from benchmarks/results/<machine>.md (run-cpu.sh's run on the same
machine), so the target time (TorchSharp's mean / target ratio) and the floor (the step's counted FLOPs at the
all-thread FMA peak, every other op free) are from one run of the suite.

Each case runs RUNS times (default 3) and the run with the lowest median step is kept: on a shared 2-core VM a run
can lose a core to another tenant for seconds (steal time), and the fastest run is the one least disturbed; the
kept run's median and the other runs' medians are both printed.

usage: profile_cpu.py FINGEN_DLL MACHINE [RUNS]   (run-cpu.sh calls it after the suite)
"""
import os
import re
import statistics
import subprocess
import sys

from spread import seconds  # '4,004.0 μs' -> 0.004004

# (model, batch, target ratio over TorchSharp, headline benchmark name, headline case): issue 14's targets.
CASES = [
    ("gan", 64, 6.0, "GAN training step", "Batch 64"),
    ("gan", 256, 3.5, "GAN training step", "Batch 256"),
    ("vae", 64, 4.0, "VAE training step", "Batch 64"),
    ("vae", 256, 4.0, "VAE training step", "Batch 256"),
    ("dcgan", 64, 2.0, "DCGAN training step", "Batch 64"),
    ("conv-vae", 64, 2.0, "Conv VAE training step", "Batch 64"),
]


def headline(results):
    """The results file's headline rows: {(benchmark, case): TorchSharp seconds} and the all-thread FMA peak (GFLOP/s):
    the FMA benchmark's best width at the most threads, or, in a file of a few classes without it, the peak measured
    before the suite ("FMA peak (measured before the suite) | ... N GFLOP/s on T threads" in the machine table)."""
    torch, peaks = {}, {}
    with open(results, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("## Headline", 1)[1].split("\n## ", 1)[0].splitlines()
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 8 or not cells[2].isdigit():
            continue
        name, case, threads = cells[0], cells[1], int(cells[2])
        if name.startswith("FMA peak"):
            peaks.setdefault(threads, []).append(float(cells[7].split()[0]))
        elif seconds(cells[3]) is not None:
            torch[(name, case)] = seconds(cells[3])
    if not peaks:
        m = re.search(r"^\| FMA peak \(measured before the suite\) \|.*?([0-9.]+) GFLOP/s on (\d+) threads", text, re.M)
        if m:
            peaks[int(m.group(2))] = [float(m.group(1))]
    all_threads = max(peaks) if peaks else None
    return torch, (max(peaks[all_threads]) if all_threads else None), all_threads


def profile(fingen, model, batch):
    """One `fingen bench --profile` run: (median step ms, [(op, calls, µs, share, GFLOP/s or None)], outside µs)."""
    out = subprocess.run(["dotnet", fingen, "bench", "--model", model, "--batch", str(batch), "--steps", "200", "--profile"],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    median = float(out[1].split()[3])
    header = out[3]
    gflops_end = header.index("GFLOP/s") + len("GFLOP/s")  # the table is right-aligned in fixed-width columns
    ops, outside = [], 0.0
    for line in out[4:]:
        parts = line.split()
        if line.strip().startswith("(outside ops)"):
            outside = float(parts[2])
        elif len(parts) >= 4 and re.fullmatch(r"[a-z0-9_]+", parts[0]):
            flops = None
            for m in re.finditer(r"\S+", line):
                if m.end() == gflops_end:
                    flops = float(m.group())
            ops.append((parts[0], float(parts[1]), float(parts[2]), parts[3], flops))
    return median, ops, outside


def counted(ops, outside):
    """(GFLOP per step of the ops that count FLOPs, their µs, the µs of every other op and the gaps between ops)."""
    gflop = sum(us * 1e-6 * f for _, _, us, _, f in ops if f is not None)
    return gflop, sum(us for _, _, us, _, f in ops if f is not None), sum(us for _, _, us, _, f in ops if f is None) + outside


def bound(gflop, peak, torch_seconds, target):
    """(ms those FLOPs take at the FMA peak, ms the target allows a step, the first as a % of the second)."""
    floor_ms = gflop / peak * 1e3
    target_ms = torch_seconds / target * 1e3
    return floor_ms, target_ms, floor_ms / target_ms * 100


def main():
    fingen, machine = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    results = os.path.join(repo, "benchmarks", "results", f"{machine}.md")
    torch, peak, peak_threads = headline(results)
    print(f"# Where the time of a training step goes: {machine}")
    print()
    print("Generated by `benchmarks/profile_cpu.py` (run-cpu.sh runs it after the suite); do not edit by hand.")
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    with open("/proc/loadavg", encoding="utf-8") as f:
        load = f.read().strip()
    print(f"Commit `{commit}`, load average before: {load}. TorchSharp's step times and the FMA peak "
          f"({peak:.1f} GFLOP/s on {peak_threads} threads, the best width's mean) are from [{machine}.md]({machine}.md).")
    print()
    print("`fingen bench --model M --batch B --steps 200 --profile` on every core, each case run "
          f"{runs} times; the run with the lowest median step is shown (the least disturbed by other tenants). "
          "Per op: host wall time per step, its share of the profiled step, and for the ops that count their "
          "FLOPs (the GEMMs and convolutions) their GFLOP/s. The profiled step is slower than the unprofiled one "
          "by the clock reads around each op.")
    print()
    summary, details = [], []
    # A file of a few classes profiles just its cases.
    cases = [c for c in CASES if (c[3], c[4]) in torch] or CASES
    for model, batch, target, name, case in cases:
        measured = [profile(fingen, model, batch) for _ in range(runs)]
        best = min(measured, key=lambda m: m[0])
        median, ops, outside = best
        gflop, gemm_us, other_us = counted(ops, outside)
        t = torch.get((name, case))
        floor_ms, target_ms, need = bound(gflop, peak, t, target)
        top = sorted(ops, key=lambda o: -o[2])[:3]
        summary.append(
            f"| {model} | {batch} | {median:.3f} ms ({', '.join(f'{m[0]:.3f}' for m in measured)}) | "
            f"{t * 1e3:.3f} ms | {target:g}× → {target_ms:.3f} ms | {gflop * 1e3:.1f} | {floor_ms:.3f} ms | "
            f"{need:.0f} % | {gemm_us / 1e3:.3f} ms ({gflop / (gemm_us * 1e-6):.0f} GFLOP/s) | {other_us / 1e3:.3f} ms | "
            f"{'; '.join(f'{o[0]} {o[3]}' for o in top)} |" if t else f"| {model} | {batch} | {median:.3f} ms | — | — | | | | | | |")
        details.append((model, batch, best))
    print("| model | batch | FinGen step, profiled (each run's median) | TorchSharp step | target → step time it needs | "
          "counted GFLOP ×1e-3 per step | those FLOPs at the FMA peak | … as a share of the needed step time | "
          "GEMM/conv ops: time (rate) | every other op and the gaps | largest ops |")
    print("|---|---:|---|---:|---|---:|---:|---:|---|---:|---|")
    for row in summary:
        print(row)
    print()
    print("A share above 100 % means the target needs more than the FMA peak in the GEMMs alone: it cannot be met on "
          "this CPU by any kernel, only by doing fewer FLOPs. Below it, the gap between the GEMMs' rate and the peak, "
          "and the time of every other op, are what hold the step back.")
    print()
    for model, batch, (median, ops, outside) in details:
        print(f"## {model}, batch {batch}: median step {median:.3f} ms")
        print()
        print("| op | calls/step | µs/step | share | GFLOP/s |")
        print("|---|---:|---:|---:|---:|")
        for op, calls, us, share, f in ops:
            print(f"| {op} | {calls:g} | {us:.1f} | {share} | {'' if f is None else f'{f:.1f}'} |")
        print(f"| (outside ops) | | {outside:.1f} | | |")
        print()


if __name__ == "__main__":
    main()
