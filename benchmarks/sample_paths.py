#!/usr/bin/env python3
"""Bulk scenario generation end to end: `fingen sample --checkpoint C --paths N --length 252 --out x.parquet` from a
default price GAN, each run timed by /usr/bin/time -v (wall, user + system CPU, peak resident memory), and fingen's
own breakdown of its time. Prints a markdown section for a results file (run-cpu.sh includes it).

usage: sample_paths.py FINGEN_DLL [--baseline NAME=FINGEN_DLL] [--paths 10000,100000] [--runs 3] [--steps 300]

The model is trained here for --steps steps with the defaults of `fingen train` (the GAN on GJR-GARCH-filtered,
Lambert-W-transformed raw windows, calibrated): the architecture and the decoding pipeline are the default's whatever
the steps, and so is the cost of sampling. --baseline times another build (e.g. of an older commit) on the same
checkpoint, run for run in turn with this one, so both see the same load.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile


def timed(command, out_file):
    """(wall s, cpu s, peak MiB, stdout) of one run under /usr/bin/time -v."""
    if os.path.exists(out_file):
        os.remove(out_file)
    run = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"sample_paths: {' '.join(command)} failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    report = run.stderr

    def field(name):
        return re.search(rf"{re.escape(name)}: (.+)", report).group(1).strip()

    wall = 0.0
    for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = wall * 60 + float(part)
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    peak = int(field("Maximum resident set size (kbytes)")) / 1024
    os.remove(out_file)
    return wall, cpu, peak, run.stdout


def spread(values, digits):
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f} – {max(values):.{digits}f})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("fingen")
    parser.add_argument("--baseline", action="append", default=[], help="NAME=FINGEN_DLL")
    parser.add_argument("--paths", default="10000,100000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    builds = [("this build", args.fingen)] + [tuple(b.split("=", 1)) for b in args.baseline]
    work = tempfile.mkdtemp(prefix="fingen-sample-")
    try:
        model = os.path.join(work, "model")
        subprocess.run(["dotnet", args.fingen, "train", "--steps", str(args.steps), "--device", "cpu", "--out", model],
                       check=True, capture_output=True, text=True)
        checkpoint = os.path.join(model, "checkpoint.safetensors")
        loads = [open("/proc/loadavg").read().strip()]
        rows = []
        for paths in [int(p) for p in args.paths.split(",")]:
            results = {name: [] for name, _ in builds}
            for _ in range(args.runs):
                for name, dll in builds:  # in turn, so every build sees the same load
                    out = os.path.join(work, "paths.parquet")
                    results[name].append(timed(["dotnet", dll, "sample", "--checkpoint", checkpoint, "--paths", str(paths),
                                                "--length", "252", "--out", out], out))
            for name, _ in builds:
                runs = results[name]
                walls = [r[0] for r in runs]
                median_run = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
                breakdown = next((line.strip() for line in median_run[3].splitlines() if line.strip().startswith("time:")), "—")
                rows.append(f"| {name} | {paths:,} | {spread(walls, 2)} | {spread([r[1] for r in runs], 2)} "
                            f"| {spread([r[2] for r in runs], 0)} | {breakdown} |")
        loads.append(open("/proc/loadavg").read().strip())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("## Bulk scenario generation, end to end")
    print()
    print(f"`fingen sample --checkpoint C --paths N --length 252 --out x.parquet` (`--path-days independent`, the default), "
          f"from a default price GAN trained for {args.steps} steps (the default's architecture and decoding pipeline), "
          f"{args.runs} runs per row{', the builds in turn' if len(builds) > 1 else ''}, each timed by `/usr/bin/time -v`: "
          "wall and CPU (user + system) seconds and peak resident memory, median (min – max). The last column is fingen's "
          "own breakdown of its median run (CPU time by phase, summed over threads). "
          f"Load average before: {loads[0]}; after: {loads[1]}.")
    print()
    print("| Build | Paths | Wall s | CPU s | Peak RSS MiB | fingen's breakdown |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
