#!/usr/bin/env python3
"""PyTorch baseline of FinGen's GAN, VAE, DCGAN and conv-VAE training steps, for the GPU machine.

The same networks, losses and optimizers as src/FinGen.Native/Models, from twins.py (which parity.py checks
against fingen's own losses): one D step then one non-saturating G step for the GANs, one step of
BCE-on-logits + KL for the VAEs, Adam lr 2e-4 (beta1 0.5 for the GANs, 0.9 for the VAEs).

Modes: eager, and "graph" (the whole training step captured once with torch.cuda.graph and replayed,
Adam with capturable=True). Each step is timed with CUDA events; the median of the timed steps is reported
after a warm-up. Output: CSV rows with the same columns as `fingen bench --csv`, so one table holds both.
Pixels are random uniforms: timing does not depend on the digits.
"""
import argparse
import sys

import torch

import twins


def training_step(model, batch, device, capturable):
    """A step function over random inputs: uniform pixels (timing does not depend on the digits) and fresh noise."""
    c = twins.default_config(model)
    twin = twins.create(c, device, capturable)
    pixels = torch.rand(batch, c["side"] ** 2, device=device)
    if model in ("gan", "dcgan"):
        return lambda: twin.step(pixels, torch.randn(batch, c["latent"], device=device), torch.randn(batch, c["latent"], device=device))
    return lambda: twin.step(pixels, torch.randn(batch, c["latent"], device=device))


def time_steps(step, steps, warmup):
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    times = []
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(steps):
        start.record()
        step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2], times[len(times) // 10], times[len(times) * 9 // 10]


def captured(step, warmup):
    """The whole step as one CUDA graph (the documented whole-network capture recipe)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(max(warmup, 3)):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=twins.MODELS, default="gan")
    parser.add_argument("--batch", default="64,256")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--modes", default="eager,graph")
    parser.add_argument("--header", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench.py: no CUDA device for PyTorch")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 GEMMs, as FinGen's default
    torch.backends.cudnn.allow_tf32 = False
    if args.header:
        print("engine,model,batch,backend,median_ms,p10_ms,p90_ms,steps_per_s,samples_per_s")
    device = torch.device("cuda")
    for batch in (int(b) for b in args.batch.split(",")):
        for mode in args.modes.split(","):
            torch.manual_seed(0)
            step = training_step(args.model, batch, device, capturable=True)
            if mode != "eager":
                step = captured(step, args.warmup)
            median, p10, p90 = time_steps(step, args.steps, args.warmup)
            print(f"pytorch-{mode},{args.model},{batch},{torch.cuda.get_device_name()},{median:.4f},{p10:.4f},{p90:.4f},"
                  f"{1000 / median:.1f},{batch * 1000 / median:.0f}", flush=True)


if __name__ == "__main__":
    main()
