#!/usr/bin/env python3
"""Numerical parity of fingen and its PyTorch twins: same weights, same inputs, same losses.

For each model, fingen trains one step on the embedded MNIST (`fingen train --steps 1 --data mnist`), which writes
a checkpoint, then resumes from it for one more step (`--resume ... --steps 1`), whose metrics are step 2's.
The twin (twins.py) loads that checkpoint (weights, batch-norm statistics, Adam's m, v and step count), draws the
same batch rows and noise as fingen from Philox at the checkpoint's RNG offsets (philox.py, checked against
the C# by test_philox.py), reads the same MNIST CSV (data/mnist_28x28_10k.csv.gz, the file fingen embeds),
runs one step in fp32 with TF32 off, and its metrics must equal fingen's step-2 metrics within
|fingen - pytorch| <= ATOL + RTOL * |pytorch|.

Why step 2 and not step 1: `fingen train` has no way to write untrained weights (--steps must be >= 1); a
resumed step also checks the checkpoint's optimizer state. GAN metrics: d_loss and d_real/d_fake come from the
weights as loaded, g_loss after one D update (so it checks Adam too); VAE metrics come before the update.

Usage (GPU machine): python3 benchmarks/pytorch/parity.py --fingen PATH/fingen [--models ...] [--work DIR]
Prints a table and a last line "parity: PASS ..." or "parity: FAIL ..."; exits 1 on any mismatch.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys

import fingen_files
import philox

RTOL = 1e-4  # fp32 sums in a different order differ by ~1e-6 relative; a wrong layer or input by far more
ATOL = 1e-4  # for the small metrics (the conv VAE's KL is ~0.03 at the start)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MNIST = os.path.join(ROOT, "data", "mnist_28x28_10k.csv.gz")


def run_fingen(fingen, args, log):
    with open(log, "a") as out:
        print("$ fingen " + " ".join(args), file=out, flush=True)
        subprocess.run([fingen, *args], check=True, stdout=out, stderr=subprocess.STDOUT)


def fingen_second_step(fingen, model, batch, device, work, log):
    """Runs fingen's step 1 and a resumed step 2: returns (the step-1 checkpoint, step 2's metrics by name)."""
    first, second = os.path.join(work, model, "step1"), os.path.join(work, model, "step2")
    run_fingen(fingen, ["train", "--model", model, "--data", "mnist", "--steps", "1", "--batch", str(batch),
                        "--device", device, "--out", first], log)
    checkpoint = os.path.join(first, "checkpoint.safetensors")
    run_fingen(fingen, ["train", "--resume", checkpoint, "--steps", "1", "--device", device, "--out", second], log)
    with open(os.path.join(second, "metrics.csv"), newline="") as f:
        last = list(csv.DictReader(f))[-1]
    if last["step"] != "2":
        raise RuntimeError(f"{model}: fingen's resumed run reported step {last['step']}, expected 2")
    return fingen_files.Checkpoint(checkpoint), {k: float(v) for k, v in last.items() if k != "step"}


def batch_and_noise(checkpoint, images, draws):
    """The next batch's pixels as a list of rows, and `draws` noise blocks [B x latent] as flat lists, exactly as fingen
    draws them after `checkpoint` (Trainer.GatherBatch, Gan.DrawNoise / Vae.Step)."""
    config = checkpoint.config()
    seed, b, latent = config["seed"], config["batch_size"], config["latent_size"]
    if int(checkpoint.metadata["fingen.data.count"]) != len(images):
        raise RuntimeError(f"{MNIST} has {len(images)} images, fingen's data had {checkpoint.metadata['fingen.data.count']}")
    rows = philox.batch_rows(seed, checkpoint.number("rng.batch_offset"), b, len(images))
    offset = checkpoint.number("rng.noise_offset")
    noise = [philox.normals(seed, philox.NOISE, offset + k * b * latent, b * latent) for k in range(draws)]
    return [images[r] for r in rows], noise


def pytorch_metrics(checkpoint, images):
    """The twin's metrics for the step after `checkpoint`, in fp32 on CUDA."""
    import torch
    import twins

    device = torch.device("cuda")
    c = twins.config_from_checkpoint(checkpoint.config())
    twin = twins.create(c, device)
    load_checkpoint(twin, checkpoint, device)
    pixels, noise = batch_and_noise(checkpoint, images, 2 if c["model"] in ("gan", "dcgan") else 1)
    scale = torch.tensor([i / 255 for i in range(256)], dtype=torch.float32)  # = fingen's i / 255f for every i
    x = scale[torch.tensor([list(row) for row in pixels])].to(device)
    z = [torch.tensor(n, dtype=torch.float32).reshape(x.shape[0], c["latent"]).to(device) for n in noise]
    twin.step(x, *z)
    return twin.metrics()


def checkpoint_tensor(checkpoint, name, device):
    import torch

    flat = torch.frombuffer(bytearray(checkpoint.raw(name)), dtype=torch.float32)
    return flat.reshape(checkpoint.shapes[name]).to(device)


def load_checkpoint(twin, checkpoint, device):
    """Copies every tensor of the checkpoint into the twin; the names and shapes must match one to one."""
    import torch

    saved = {n for n in checkpoint.shapes if not n.endswith((".adam_m", ".adam_v"))}
    if saved != set(twin.named):
        raise RuntimeError(f"names differ: only in fingen {sorted(saved - set(twin.named))}, only in the twin {sorted(set(twin.named) - saved)}")
    with torch.no_grad():
        for name, t in twin.named.items():
            if list(t.shape) != checkpoint.shapes[name]:
                raise RuntimeError(f"{name}: fingen's shape {checkpoint.shapes[name]}, the twin's {list(t.shape)}")
            t.copy_(checkpoint_tensor(checkpoint, name, device))
    for network, (optimizer, names) in twin.networks.items():
        steps = float(checkpoint.number(f"optimizer.{network}.steps"))
        state = optimizer.state_dict()  # state is keyed by the parameter's index in the optimizer, = its index in names
        for i, name in enumerate(names):
            state["state"][i] = {"step": torch.tensor(steps), "exp_avg": checkpoint_tensor(checkpoint, name + ".adam_m", device),
                                 "exp_avg_sq": checkpoint_tensor(checkpoint, name + ".adam_v", device)}
        optimizer.load_state_dict(state)


def compare(model, ours, theirs):
    """Table rows (model, metric, fingen, pytorch, |diff|, allowed, ok) for every metric fingen reported."""
    rows = []
    for metric, value in ours.items():
        reference = theirs[metric]
        diff, allowed = abs(value - reference), ATOL + RTOL * abs(reference)
        rows.append((model, metric, value, reference, diff, allowed, diff <= allowed))
    return rows


def print_table(rows):
    print(f"{'model':9} {'metric':7} {'fingen':>14} {'pytorch':>14} {'|diff|':>10} {'allowed':>10}  ok")
    for model, metric, ours, theirs, diff, allowed, ok in rows:
        print(f"{model:9} {metric:7} {ours:14.7g} {theirs:14.7g} {diff:10.3g} {allowed:10.3g}  {'yes' if ok else 'NO'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fingen", required=True, help="the fingen executable")
    parser.add_argument("--models", default=",".join(("gan", "vae", "dcgan", "conv-vae")))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cuda", help="fingen's --device (PyTorch always runs on CUDA)")
    parser.add_argument("--work", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "fingen-parity"))
    parser.add_argument("--fingen-only", action="store_true", help="run fingen and draw the inputs, without PyTorch (a check for machines without it)")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    log = os.path.join(args.work, "fingen.log")
    images = fingen_files.mnist_pixels(MNIST)
    if not args.fingen_only:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    rows = []
    for model in args.models.split(","):
        checkpoint, ours = fingen_second_step(args.fingen, model, args.batch, args.device, args.work, log)
        if args.fingen_only:
            pixels, noise = batch_and_noise(checkpoint, images, 2)
            print(f"{model}: fingen step 2 {ours}; first row sum {sum(pixels[0]) / 255:.4f}, first noise {noise[0][:3]}")
            continue
        rows += compare(model, ours, pytorch_metrics(checkpoint, images))
    if args.fingen_only:
        return 0
    print_table(rows)
    failed = [f"{r[0]} {r[1]}" for r in rows if not r[6]]
    verdict = "PASS" if not failed else "FAIL (" + ", ".join(failed) + ")"
    print(f"parity: {verdict}: {len(rows) - len(failed)}/{len(rows)} metrics within {ATOL:g} + {RTOL:g}*|pytorch|")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
