"""A VAE on its own (AutoencoderKL) as a diffusers pipeline: the decoder's cost without a UNet.

Two modes, fixed per pipeline (`mode` in its config):

- `decode` (the default): decode random latents, N(0, 1) at the latent size of the requested
  image, divided by the VAE's scaling factor as Stable Diffusion's pipeline does before its
  decode. This is the VAE stage of a text-to-image generation, timed alone.
- `encode-decode`: encode images and decode their latents (the posterior's mode), i.e. a
  reconstruction. Images are given to the call (`image=`, NCHW or NHWC in [0, 1]), or else
  crops of scikit-image's immunohistochemistry image (models/ihc.py, offline) at positions
  drawn from the call's generator, so a seed always picks the same crops.

The only registered module is `vae`, so `.components`, dtype casts and the variant cache
work as for any diffusers pipeline; latents and images are made in float32 on the CPU from
the seeded generator and only cast to the VAE's dtype at its input.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, ImagePipelineOutput
from diffusers.utils.torch_utils import randn_tensor

from models.configs import Config
from models.errors import ModelError
from models.gan import module_device_dtype, to_numpy_images

DECODE = "decode"
ENCODE_DECODE = "encode-decode"
MODES = (DECODE, ENCODE_DECODE)

Generators = torch.Generator | list[torch.Generator] | None


@functools.lru_cache(maxsize=1)
def _ihc_float() -> torch.Tensor:
    """The 512x512 IHC image as float32 CHW in [0, 1], read once per process."""
    from models.ihc import ihc_image

    return torch.from_numpy(ihc_image()).permute(2, 0, 1).float() / 255.0


def ihc_crops(count: int, height: int, width: int, generator: Generators) -> torch.Tensor:
    """`count` crops (N, 3, height, width) in [0, 1]; crop i's position comes from generator i."""
    image = _ihc_float()
    rows, cols = image.shape[1] - height + 1, image.shape[2] - width + 1
    if rows < 1 or cols < 1:
        raise ValueError(
            f"resolution {width}x{height}: the IHC image is {image.shape[2]}x{image.shape[1]}; "
            "encode-decode crops at most 512x512"
        )
    generators = generator if isinstance(generator, list) else [generator] * count
    crops = []
    for one in generators:
        top = int(torch.randint(rows, (1,), generator=one))
        left = int(torch.randint(cols, (1,), generator=one))
        crops.append(image[:, top : top + height, left : left + width])
    return torch.stack(crops)


def _as_nchw(image: torch.Tensor | np.ndarray) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
    tensor = tensor.to(torch.float32)
    if tensor.dim() == 3:
        tensor = tensor[None]
    if tensor.dim() != 4:
        raise ValueError(f"image of shape {tuple(tensor.shape)}: expected (N, C, H, W) or (N, H, W, C)")
    if tensor.shape[1] not in (1, 3, 4) and tensor.shape[-1] in (1, 3, 4):
        tensor = tensor.permute(0, 3, 1, 2)
    return tensor


class VaePipeline(DiffusionPipeline):
    """`pipeline(batch_size, generator=..., height=, width=)` -> images decoded by `vae`."""

    model_cpu_offload_seq = "vae"

    def __init__(self, vae: AutoencoderKL, mode: str = DECODE) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not one of {', '.join(MODES)}")
        self.register_modules(vae=vae)
        self.register_to_config(mode=mode)

    @property
    def scale_factor(self) -> int:
        """Pixels per latent cell: 2 per down block after the first (8 for SD's VAE)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def latent_shape(self, batch_size: int, height: int, width: int) -> tuple[int, int, int, int]:
        factor = self.scale_factor
        if height % factor or width % factor:
            raise ValueError(
                f"resolution {width}x{height}: this VAE needs sides that are multiples of {factor}"
            )
        return (batch_size, self.vae.config.latent_channels, height // factor, width // factor)

    @torch.no_grad()
    def __call__(
        self,
        batch_size: int = 1,
        generator: Generators = None,
        height: int = 64,
        width: int = 64,
        image: torch.Tensor | np.ndarray | None = None,
        output_type: str = "np",
    ) -> ImagePipelineOutput:
        if isinstance(generator, list):
            batch_size = len(generator)
        device, dtype = module_device_dtype(self.vae)
        if self.config.mode == DECODE:
            shape = self.latent_shape(batch_size, height, width)
            latents = randn_tensor(
                shape, generator=generator, device=torch.device("cpu"), dtype=torch.float32
            )
            latents = latents / self.vae.config.scaling_factor
        else:
            pixels = ihc_crops(batch_size, height, width, generator) if image is None else _as_nchw(image)
            self.latent_shape(*pixels.shape[:1], *pixels.shape[2:])  # refuses sizes the VAE can't take
            posterior = self.vae.encode((pixels * 2 - 1).to(device=device, dtype=dtype)).latent_dist
            latents = posterior.mode()
        decoded = self.vae.decode(latents.to(device=device, dtype=dtype)).sample.to(torch.float32)
        images = decoded / 2 + 0.5
        if output_type == "pt":
            return ImagePipelineOutput(images=images.clamp(0, 1))
        return ImagePipelineOutput(images=to_numpy_images(images))


def build_vae_pipeline(components: dict[str, Config], seed: int) -> VaePipeline:
    """Random weights at the spec's architecture (same seed, same weights), in the spec's mode."""
    torch.manual_seed(seed)
    vae = AutoencoderKL(**components["vae"])
    vae.eval()
    vae.requires_grad_(False)
    return VaePipeline(vae=vae, mode=components.get("pipeline", {}).get("mode", DECODE))


def load_vae_folder(path: Path, mode: str, allow_pickle: bool) -> VaePipeline:
    """Real VAE weights: a diffusers AutoencoderKL folder (config.json + weights), e.g. SD's `vae/`."""
    if not (path / "config.json").is_file():
        raise ModelError(f"{path} is not a diffusers VAE folder: it has no config.json (give e.g. SD's vae/)")
    try:
        # use_safetensors=True makes diffusers refuse a folder that only has pickle weights.
        vae = AutoencoderKL.from_pretrained(
            path, local_files_only=True, use_safetensors=None if allow_pickle else True
        )
    except (OSError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(
            f"cannot load the VAE folder {path}: {reason} (safetensors weights only, unless --allow-pickle)"
        ) from error
    vae.eval()
    vae.requires_grad_(False)
    return VaePipeline(vae=vae, mode=mode)
