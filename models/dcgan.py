"""A DCGAN-style generator (Radford et al., 2015): z -> transposed convolutions -> a tanh image.

`tiny-dcgan` is this class at random weights (DCGAN's own init: conv weights N(0, 0.02),
batch-norm scales N(1, 0.02); batch-norm statistics measured on random z), the offline
stand-in for a real GAN: its cost (parameters, MACs, time, memory) is the architecture's,
its pictures are noise. It is a diffusers
`ModelMixin`, so `.config`, `.dtype` and `save_pretrained` work like any diffusers model.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from models.configs import Config
from models.gan import GanPipeline

TINY_DCGAN: dict[str, Config] = {
    "generator": {"z_dim": 100, "base_channels": 32, "image_size": 64, "out_channels": 3},
}


def _up(in_channels: int, out_channels: int) -> list[nn.Module]:
    """One doubling of the side: 4x4 transposed conv, stride 2, then batch norm and ReLU."""
    return [
        nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class DCGANGenerator(ModelMixin, ConfigMixin):
    """`G(z)`: z of shape (N, z_dim, 1, 1) or (N, z_dim) -> images (N, C, S, S) in [-1, 1]."""

    @register_to_config
    def __init__(
        self, z_dim: int = 100, base_channels: int = 64, image_size: int = 64, out_channels: int = 3
    ) -> None:
        super().__init__()
        if image_size < 8 or image_size & (image_size - 1):
            raise ValueError(f"image_size={image_size}: a DCGAN generator needs a power of two, 8 or more")
        doublings = image_size.bit_length() - 1 - 2  # the first layer makes 4x4; each step doubles
        width = base_channels * 2 ** (doublings - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        for _ in range(doublings - 1):
            layers += _up(width, width // 2)
            width //= 2
        layers += [nn.ConvTranspose2d(width, out_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.net(z)


def dcgan_init_(generator: nn.Module) -> nn.Module:
    """DCGAN's initialisation, drawn from torch's global generator (seed it first)."""
    for module in generator.modules():
        if isinstance(module, nn.ConvTranspose2d | nn.Conv2d):
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)
    return generator


def calibrate_batch_norm_(generator: DCGANGenerator, batches: int = 4, batch_size: int = 16) -> None:
    """Set the batch norms' running statistics from random z, drawn from torch's global generator.

    At DCGAN's init (weights N(0, 0.02)) activations shrink layer by layer, so an eval-mode
    generator with fresh statistics (mean 0, variance 1) outputs a flat grey picture, and every
    variant's drift from it would look negligible. A trained generator's statistics match its
    activations; measuring them on random z gives the random model the same unit-scale
    activations and images that use the whole [-1, 1] range.
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the calibration batches
    generator.train()
    with torch.no_grad():
        for _ in range(batches):
            generator(torch.randn(batch_size, generator.config.z_dim, 1, 1))
    for norm in norms:
        norm.momentum = 0.1
    generator.eval()


def build_dcgan_pipeline(components: dict[str, Config], seed: int) -> GanPipeline:
    """Random weights at the spec's architecture: same seed, same weights."""
    config = components["generator"]
    torch.manual_seed(seed)
    generator = dcgan_init_(DCGANGenerator(**config))
    calibrate_batch_norm_(generator)
    generator.requires_grad_(False)
    return GanPipeline(
        generator=generator,
        z_shape=(config["z_dim"], 1, 1),
        image_size=config["image_size"],
        output_range="tanh",
    )
