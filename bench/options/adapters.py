"""The adapter options: fine-tuning artefacts on top of the model (`--lora`, `--textual-inversion`,
`--unet-checkpoint`; models/adapters.py applies them).

Validated at start-up (files exist, safetensors unless `--allow-pickle`, headers sound:
bench/preflight.py), so a typo or a damaged file stops the run with one line before anything
is built. The values stay plain (paths as text) so that the suite's config is plain data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.options.spec import Option, OptionGroup, OptionLookup


@dataclass(frozen=True)
class AdapterOptions(OptionGroup):
    TITLE: ClassVar[str] = "diffbench adapters"
    DESCRIPTION: ClassVar[str] = "diffbench: LoRA, textual inversion and fine-tuned UNet on top of the model"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option(
            "--lora",
            action="append",
            help="LoRA file FILE[:SCALE] (.safetensors), loaded unfused; repeatable or comma-separated "
            "(time the fused one with --variants fp32,lora-fuse)",
        ),
        Option(
            "--textual-inversion",
            action="append",
            help="textual-inversion embedding FILE[:TOKEN] (.safetensors); repeatable or comma-separated",
        ),
        Option(
            "--unet-checkpoint",
            help="fine-tuned UNet replacing the model's: a diffusers unet/ folder, a folder holding one, "
            "or a .safetensors state dict",
        ),
    )

    lora: tuple[tuple[str, float], ...]
    textual_inversion: tuple[tuple[str, str | None], ...]
    unet_checkpoint: str | None

    @classmethod
    def parse(cls, option: OptionLookup) -> AdapterOptions:
        """ModelError (one line) for a bad value. `--allow-pickle` (a model option) lets pickle files in."""
        # Imported here: declaring the options (pytest --help, a study's parser) imports no torch.
        from bench import preflight
        from models.adapters import Adapters, parse_embedding, parse_lora, split_list

        loras = tuple(parse_lora(text) for text in split_list(option("--lora")))
        embeddings = tuple(parse_embedding(text) for text in split_list(option("--textual-inversion")))
        unet = option("--unet-checkpoint")
        adapters = Adapters(loras, embeddings, Path(unet).expanduser() if unet else None)
        allow_pickle = bool(option("--allow-pickle"))
        adapters.check(allow_pickle)
        # Past existence and suffix: each file's safetensors header, read now rather than at load time.
        for lora in loras:
            preflight.lora_file(lora.path, allow_pickle)
        for embedding in embeddings:
            preflight.embedding_file(embedding.path, allow_pickle)
        if adapters.unet_checkpoint is not None:
            preflight.unet_checkpoint(adapters.unet_checkpoint, allow_pickle)
        return cls(
            lora=tuple((str(item.path), item.scale) for item in loras),
            textual_inversion=tuple((str(item.path), item.token) for item in embeddings),
            unet_checkpoint=str(adapters.unet_checkpoint) if adapters.unet_checkpoint else None,
        )

    def fields(self) -> dict[str, Any]:
        return asdict(self)
