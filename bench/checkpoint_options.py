"""`--lora`, `--textual-inversion`, `--unet-checkpoint`: fine-tuning artefacts on top of the model.

Validated at start-up (files exist, safetensors unless `--allow-pickle`, headers sound:
bench/preflight.py), so a typo or a damaged file stops the run with one line before anything
is built. SuiteConfig keeps them as plain values;
`adapters_of` turns them into what `models.adapters.apply_adapters` takes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import preflight
from models.adapters import Adapters, EmbeddingFile, LoraFile, parse_embedding, parse_lora, split_list

if TYPE_CHECKING:
    from bench.suite_config import SuiteConfig


def checkpoint_options(option: Callable[[str], Any]) -> dict[str, Any]:
    """SuiteConfig's adapter fields; ModelError (one line) for a bad value."""
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
    return {
        "lora": tuple((str(item.path), item.scale) for item in loras),
        "textual_inversion": tuple((str(item.path), item.token) for item in embeddings),
        "unet_checkpoint": str(adapters.unet_checkpoint) if adapters.unet_checkpoint else None,
    }


def adapters_of(config: SuiteConfig) -> Adapters:
    return Adapters(
        loras=tuple(LoraFile(Path(path), scale) for path, scale in config.lora),
        embeddings=tuple(EmbeddingFile(Path(path), token) for path, token in config.textual_inversion),
        unet_checkpoint=Path(config.unet_checkpoint) if config.unet_checkpoint else None,
    )
