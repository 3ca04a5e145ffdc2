"""PyTorch twins of FinGen's four models, built layer for layer as src/FinGen.Native/Models builds them.

- gan: G z(100)->128->128->784 LeakyReLU 0.2, sigmoid out; D 784->128->128->1 logits (Mlp: fingen names its
  Linear layers prefix.0, prefix.1, ... where nn.Sequential counts the activations too, hence mlp_names).
- vae: encoder 784->128 ReLU -> mu, logvar heads of 16; decoder 16->128 ReLU->784 logits.
- dcgan (ModelConfig.BuildGenerator/BuildDiscriminator, nn.Sequential indices = fingen's Sequential indices):
  G Linear(z, c2*q*q), Unflatten, BN, ReLU, ConvT(c2->c1), BN, ReLU, ConvT(c1->1), Sigmoid;
  D Conv(1->c1), LeakyReLU, Conv(c1->c2), LeakyReLU, Flatten, Linear(c2*q*q, 1). All convs 4x4, stride 2, pad 1.
- conv-vae (BuildEncoder): encoder Conv, ReLU, Conv, ReLU, Flatten, Linear(c2*q*q, 128), ReLU; heads as vae;
  decoder Linear(z, c2*q*q), ReLU, Unflatten, ConvT(c2->c1), ReLU, ConvT(c1->1) -> logits.

Losses as Gan.cs and Vae.cs: D sees real rows then fake rows as one batch of 2B, BCE-with-logits summed / B
(= mean over real + mean over fake); G's non-saturating BCE(D(G(z)), 1), a mean; VAE: BCE on the decoder's
logits summed over pixels / B + KL / B. Adam as the config says (lr 2e-4, beta1 0.5 for GANs, 0.9 for VAEs).
Every step takes its inputs (data rows, noise) as arguments, so parity.py can feed fingen's exact ones.
Images are rows of side*side values, as in fingen; the conv layers see them as [B, 1, side, side].
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

MODELS = ("gan", "vae", "dcgan", "conv-vae")


def default_config(model):
    """The parts of ModelConfig.Default(kind) the twins need."""
    gan = model in ("gan", "dcgan")
    return {"model": model, "latent": 100 if gan else 16, "hidden": 128, "channels": (32, 64), "side": 28,
            "slope": 0.2, "real_label": 1.0, "lr": 2e-4, "betas": (0.5 if gan else 0.9, 0.999), "eps": 1e-8}


def config_from_checkpoint(config):
    """default_config's keys from a checkpoint's ModelConfig JSON (snake_case, enum names as strings)."""
    model = {"Gan": "gan", "Vae": "vae", "Dcgan": "dcgan", "ConvVae": "conv-vae"}[config["model"]]
    widths = [config[k] for k in ("generator_hidden", "discriminator_hidden", "encoder_hidden", "decoder_hidden")]
    if widths != [[128, 128], [128, 128], [128], [128]] or config["reconstruction"] != "Bce" or config["optimizer"]["kind"] != "Adam":
        raise ValueError("the twins cover the default hidden widths, BCE reconstruction and Adam only")
    optimizer = config["optimizer"]
    return {"model": model, "latent": config["latent_size"], "hidden": 128, "channels": tuple(config["conv_channels"]),
            "side": config["image_side"], "slope": config["leaky_slope"], "real_label": float(config["real_label"]),
            "lr": optimizer["learning_rate"], "betas": (optimizer["beta1"], optimizer["beta2"]), "eps": optimizer["epsilon"]}


def mlp(widths, hidden, out):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        layers.append(hidden() if i < len(widths) - 2 else out())
    return nn.Sequential(*layers)


def mlp_names(prefix, seq):
    """fingen's names for an mlp(): its l-th Linear is prefix.l (nn.Sequential's index 2l)."""
    names = {}
    for index, module in enumerate(seq):
        if isinstance(module, nn.Linear):
            names[f"{prefix}.{index // 2}.weight"] = module.weight
            names[f"{prefix}.{index // 2}.bias"] = module.bias
    return names


def sequential_names(prefix, seq):
    """fingen's names for a Sequential: PyTorch's own, parameters and batch-norm running statistics."""
    names = {f"{prefix}.{n}": t for n, t in seq.named_parameters()}
    names.update({f"{prefix}.{n}": t for n, t in seq.named_buffers() if not n.endswith("num_batches_tracked")})
    return names


def down(c_in, c_out):
    return nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)


def up(c_in, c_out):
    """The transpose of down(c_out, c_in): ConvTranspose2dSpec(Down(c_out, ..., c_in)) in fingen."""
    return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)


def dcgan_generator(c):
    c1, c2 = c["channels"]
    q = c["side"] // 4
    return nn.Sequential(nn.Linear(c["latent"], c2 * q * q), nn.Unflatten(1, (c2, q, q)), nn.BatchNorm2d(c2), nn.ReLU(),
                         up(c2, c1), nn.BatchNorm2d(c1), nn.ReLU(), up(c1, 1), nn.Sigmoid())


def dcgan_discriminator(c):
    c1, c2 = c["channels"]
    q = c["side"] // 4
    slope = c["slope"]
    return nn.Sequential(down(1, c1), nn.LeakyReLU(slope), down(c1, c2), nn.LeakyReLU(slope), nn.Flatten(),
                         nn.Linear(c2 * q * q, 1))


def conv_encoder(c):
    c1, c2 = c["channels"]
    q = c["side"] // 4
    return nn.Sequential(down(1, c1), nn.ReLU(), down(c1, c2), nn.ReLU(), nn.Flatten(), nn.Linear(c2 * q * q, c["hidden"]), nn.ReLU())


def conv_decoder(c):
    c1, c2 = c["channels"]
    q = c["side"] // 4
    return nn.Sequential(nn.Linear(c["latent"], c2 * q * q), nn.ReLU(), nn.Unflatten(1, (c2, q, q)), up(c2, c1), nn.ReLU(), up(c1, 1))


def adam(c, parameters, capturable):
    return torch.optim.Adam(parameters, lr=c["lr"], betas=c["betas"], eps=c["eps"], capturable=capturable)


class GanTwin:
    """gan or dcgan. `named` maps fingen's tensor names to this twin's tensors; `networks` pairs each
    optimizer with its parameters' fingen names, in the optimizer's order."""

    def __init__(self, c, device, capturable=False):
        self.c = c
        if c["model"] == "gan":
            width = c["side"] ** 2
            self.g = mlp([c["latent"], 128, 128, width], lambda: nn.LeakyReLU(c["slope"]), nn.Sigmoid).to(device)
            self.d = mlp([width, 128, 128, 1], lambda: nn.LeakyReLU(c["slope"]), nn.Identity).to(device)
            g_names, d_names = mlp_names("generator", self.g), mlp_names("discriminator", self.d)
            self.image = lambda rows: rows
        else:
            self.g, self.d = dcgan_generator(c).to(device), dcgan_discriminator(c).to(device)
            g_names, d_names = sequential_names("generator", self.g), sequential_names("discriminator", self.d)
            self.image = lambda rows: rows.view(-1, 1, c["side"], c["side"])
        self.named = {**g_names, **d_names}
        g_params = [n for n, t in g_names.items() if isinstance(t, nn.Parameter)]
        d_params = [n for n, t in d_names.items() if isinstance(t, nn.Parameter)]
        self.g_opt = adam(c, [self.named[n] for n in g_params], capturable)
        self.d_opt = adam(c, [self.named[n] for n in d_params], capturable)
        self.networks = {"generator": (self.g_opt, g_params), "discriminator": (self.d_opt, d_params)}
        self._targets = None
        self.last = None

    def step(self, real, z_d, z_g):
        """One D step on real [B, side*side] and G(z_d), then one G step on z_g; returns the two losses.
        Nothing else is computed per step (the benchmark times this); metrics() gives fingen's metrics afterwards."""
        b = real.shape[0]
        targets, ones = self.targets(b, real.device)
        self.d_opt.zero_grad(set_to_none=False)
        fake = self.g(z_d).detach()
        logits = self.d(torch.cat([self.image(real), self.image(fake)]))
        d_loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / b
        d_loss.backward()
        self.d_opt.step()
        self.g_opt.zero_grad(set_to_none=False)
        g_loss = F.binary_cross_entropy_with_logits(self.d(self.image(self.g(z_g))), ones)
        g_loss.backward()
        self.g_opt.step()
        self.last = (d_loss, g_loss, logits)
        return d_loss, g_loss

    def targets(self, b, device):
        """D's targets (real label for the B real rows, then 0) and G's (1), made once per batch size."""
        if self._targets is None or self._targets[1].shape[0] != b:
            real = torch.full((b, 1), self.c["real_label"], device=device)
            self._targets = (torch.cat([real, torch.zeros(b, 1, device=device)]), torch.ones(b, 1, device=device))
        return self._targets

    def metrics(self):
        """The last step's metrics under fingen's names (Gan.MetricNames)."""
        d_loss, g_loss, logits = self.last
        probabilities = torch.sigmoid(logits.detach().double())
        b = logits.shape[0] // 2
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
                "d_real": probabilities[:b].mean().item(), "d_fake": probabilities[b:].mean().item()}


class VaeTwin:
    """vae or conv-vae; `named` and `networks` as in GanTwin (one network, fingen's "vae")."""

    def __init__(self, c, device, capturable=False):
        self.c = c
        width = c["side"] ** 2
        if c["model"] == "vae":
            self.trunk = mlp([width, c["hidden"]], nn.ReLU, nn.ReLU).to(device)
            self.decoder = mlp([c["latent"], 128, width], nn.ReLU, nn.Identity).to(device)
            names = {**mlp_names("encoder", self.trunk), **mlp_names("decoder", self.decoder)}
            self.image = lambda rows: rows
        else:
            self.trunk, self.decoder = conv_encoder(c).to(device), conv_decoder(c).to(device)
            names = {**sequential_names("encoder", self.trunk), **sequential_names("decoder", self.decoder)}
            self.image = lambda rows: rows.view(-1, 1, c["side"], c["side"])
        self.mu = nn.Linear(c["hidden"], c["latent"]).to(device)
        self.logvar = nn.Linear(c["hidden"], c["latent"]).to(device)
        for prefix, head in (("encoder.mu", self.mu), ("encoder.logvar", self.logvar)):
            names[f"{prefix}.0.weight"], names[f"{prefix}.0.bias"] = head.weight, head.bias
        self.named = names
        params = [n for n, t in names.items() if isinstance(t, nn.Parameter)]
        self.opt = adam(c, [names[n] for n in params], capturable)
        self.networks = {"vae": (self.opt, params)}
        self.last = None

    def step(self, x, epsilon):
        """One step on x [B, side*side] with reparameterization noise epsilon [B, latent]; returns the loss."""
        b = x.shape[0]
        self.opt.zero_grad(set_to_none=False)
        h = self.trunk(self.image(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * epsilon
        logits = self.decoder(z).reshape(b, -1)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / b
        kl = -0.5 * torch.sum(1 + logvar - mu * mu - torch.exp(logvar)) / b
        loss = recon + kl
        loss.backward()
        self.opt.step()
        self.last = (loss, recon, kl)
        return loss

    def metrics(self):
        """The last step's metrics under fingen's names (Vae.MetricNames)."""
        return dict(zip(("loss", "recon", "kl"), (t.item() for t in self.last)))


def create(c, device, capturable=False):
    return (GanTwin if c["model"] in ("gan", "dcgan") else VaeTwin)(c, device, capturable)
