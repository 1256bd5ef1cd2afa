"""A GAN generator `G(z)` wrapped as a diffusers pipeline, so it is benchmarked like one.

The wrapper is a `DiffusionPipeline` with one registered module, `generator` (any torch
module: the shipped DCGAN, a user's class, a TorchScript module). Registering it keeps
diffusers' machinery working for the passes and the suite: `.components`, `.to()`, dtype
casts of every torch component, deep copies, the variant cache's state-dict format.

One call draws z from a CPU `torch.Generator` (float32, `randn_tensor`, one generator per
image when a list is given), so every device and dtype gets the same z for a seed; only the
generator's input is cast to its own dtype, and the images come back float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.utils.torch_utils import randn_tensor

# What the generator's last layer produces: tanh images in [-1, 1] (DCGAN, StyleGAN), or [0, 1].
OUTPUT_RANGES = ("tanh", "unit")


def module_device_dtype(module: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where a module computes and in which float dtype: its first floating parameter's (or buffer's)."""
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


def to_numpy_images(images: torch.Tensor) -> np.ndarray:
    """NCHW in [0, 1] -> float32 NHWC; clamp keeps NaN as NaN, so a broken variant shows as one."""
    return images.clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy().astype(np.float32)


class GanPipeline(DiffusionPipeline):
    """`pipeline(batch_size, generator=torch.Generator)` -> images of `image_size` x `image_size`."""

    model_cpu_offload_seq = "generator"

    def __init__(
        self,
        generator: torch.nn.Module,
        z_shape: Sequence[int] = (100, 1, 1),
        image_size: int = 64,
        output_range: str = "tanh",
    ) -> None:
        super().__init__()
        if output_range not in OUTPUT_RANGES:
            raise ValueError(f"output_range={output_range!r} is not one of {', '.join(OUTPUT_RANGES)}")
        self.register_modules(generator=generator)
        self.register_to_config(z_shape=list(z_shape), image_size=int(image_size), output_range=output_range)

    def check_size(self, height: int | None, width: int | None) -> None:
        """A generator's output size is fixed by its architecture: any other size is refused."""
        size = self.config.image_size
        if (height or size) != size or (width or size) != size:
            raise ValueError(
                f"resolution {width}x{height}: this GAN generates {size}x{size} images only "
                f"(use --resolution {size})"
            )

    def sample_z(
        self, batch_size: int, generator: torch.Generator | list[torch.Generator] | None
    ) -> torch.Tensor:
        shape = (batch_size, *self.config.z_shape)
        return randn_tensor(shape, generator=generator, device=torch.device("cpu"), dtype=torch.float32)

    def run_generator(self, z: torch.Tensor) -> torch.Tensor:
        """`G(z)`, in one method so that a stage timer can wrap it (TorchScript modules take no hooks)."""
        return self.generator(z)

    @torch.no_grad()
    def __call__(
        self,
        batch_size: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        height: int | None = None,
        width: int | None = None,
        output_type: str = "np",
    ) -> ImagePipelineOutput:
        self.check_size(height, width)
        if isinstance(generator, list):
            batch_size = len(generator)
        device, dtype = module_device_dtype(self.generator)
        z = self.sample_z(batch_size, generator)
        images = self.run_generator(z.to(device=device, dtype=dtype)).to(torch.float32)
        size = self.config.image_size
        if images.dim() != 4 or tuple(images.shape[2:]) != (size, size):
            raise ValueError(
                f"the generator returned shape {tuple(images.shape)}; expected (N, C, {size}, {size})"
            )
        if self.config.output_range == "tanh":
            images = images / 2 + 0.5
        if output_type == "pt":
            return ImagePipelineOutput(images=images.clamp(0, 1))
        return ImagePipelineOutput(images=to_numpy_images(images))
