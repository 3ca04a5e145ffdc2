#!/usr/bin/env python3
"""PyTorch baseline of FinGen's seed GAN and VAE training steps, for the GPU machine.

The same networks and losses as src/FinGen.Native/Models (GAN: G z(100)->128->128->784 LeakyReLU 0.2,
sigmoid out; D 784->128->128->1 logits, BCE-with-logits, one D step then one non-saturating G step; VAE:
784->128 ReLU->(mu, logvar) of 16, decoder 16->128 ReLU->784 logits, BCE summed over pixels + KL, both
meaned over the batch), Adam lr 2e-4 (beta1 0.5 for the GAN, 0.9 for the VAE).

Modes: eager, and "graph" (the whole training step captured once with torch.cuda.graph and replayed,
Adam with capturable=True). Each step is timed with CUDA events; the median of the timed steps is reported
after a warm-up. Output: CSV rows with the same columns as `fingen bench --csv`, so one table holds both.
Pixels are random uniforms: timing does not depend on the digits.
"""
import argparse
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(widths, hidden, out):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        layers.append(hidden() if i < len(widths) - 2 else out())
    return nn.Sequential(*layers)


class Gan:
    def __init__(self, batch, device):
        self.g = mlp([100, 128, 128, 784], lambda: nn.LeakyReLU(0.2), nn.Sigmoid).to(device)
        self.d = mlp([784, 128, 128, 1], lambda: nn.LeakyReLU(0.2), nn.Identity).to(device)
        kw = dict(lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
        self.g_opt = torch.optim.Adam(self.g.parameters(), capturable=True, **kw)
        self.d_opt = torch.optim.Adam(self.d.parameters(), capturable=True, **kw)
        self.real = torch.rand(batch, 784, device=device)
        self.targets = torch.cat([torch.ones(batch, 1), torch.zeros(batch, 1)]).to(device)
        self.ones = torch.ones(batch, 1, device=device)
        self.batch = batch

    def step(self):
        b = self.batch
        self.d_opt.zero_grad(set_to_none=False)
        fake = self.g(torch.randn(b, 100, device=self.real.device)).detach()
        logits = self.d(torch.cat([self.real, fake]))
        d_loss = F.binary_cross_entropy_with_logits(logits, self.targets, reduction="sum") / b
        d_loss.backward()
        self.d_opt.step()
        self.g_opt.zero_grad(set_to_none=False)
        logits = self.d(self.g(torch.randn(b, 100, device=self.real.device)))
        g_loss = F.binary_cross_entropy_with_logits(logits, self.ones)
        g_loss.backward()
        self.g_opt.step()
        return d_loss, g_loss


class Vae:
    def __init__(self, batch, device):
        self.trunk = nn.Sequential(nn.Linear(784, 128), nn.ReLU()).to(device)
        self.mu = nn.Linear(128, 16).to(device)
        self.logvar = nn.Linear(128, 16).to(device)
        self.decoder = mlp([16, 128, 784], nn.ReLU, nn.Identity).to(device)
        params = [*self.trunk.parameters(), *self.mu.parameters(), *self.logvar.parameters(), *self.decoder.parameters()]
        self.opt = torch.optim.Adam(params, lr=2e-4, betas=(0.9, 0.999), eps=1e-8, capturable=True)
        self.x = torch.rand(batch, 784, device=device)
        self.batch = batch

    def step(self):
        self.opt.zero_grad(set_to_none=False)
        h = self.trunk(self.x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.decoder(z)
        recon = F.binary_cross_entropy_with_logits(logits, self.x, reduction="sum") / self.batch
        kl = -0.5 * torch.sum(1 + logvar - mu * mu - torch.exp(logvar)) / self.batch
        (recon + kl).backward()
        self.opt.step()
        return recon, kl


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


def captured(model, warmup):
    """The whole step as one CUDA graph (the documented whole-network capture recipe)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(max(warmup, 3)):
            model.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        model.step()
    return graph.replay


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["gan", "vae"], default="gan")
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
            model = (Gan if args.model == "gan" else Vae)(batch, device)
            step = model.step if mode == "eager" else captured(model, args.warmup)
            median, p10, p90 = time_steps(step, args.steps, args.warmup)
            print(f"pytorch-{mode},{args.model},{batch},{torch.cuda.get_device_name()},{median:.4f},{p10:.4f},{p90:.4f},"
                  f"{1000 / median:.1f},{batch * 1000 / median:.0f}", flush=True)


if __name__ == "__main__":
    main()
