"""The suite config's adapter fields (`--lora`, `--textual-inversion`, `--unet-checkpoint`) as what
`models.adapters.apply_adapters` takes. The options themselves, their parsing and their checks
are bench/options/adapters.py's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.options.adapters import AdapterOptions
from models.adapters import Adapters, EmbeddingFile, LoraFile

if TYPE_CHECKING:
    from bench.suite_config import SuiteConfig


def checkpoint_options(option: Callable[[str], Any]) -> dict[str, Any]:
    """SuiteConfig's adapter fields; ModelError (one line) for a bad value."""
    return AdapterOptions.parse(option).fields()


def adapters_of(config: SuiteConfig) -> Adapters:
    return Adapters(
        loras=tuple(LoraFile(Path(path), scale) for path, scale in config.lora),
        embeddings=tuple(EmbeddingFile(Path(path), token) for path, token in config.textual_inversion),
        unet_checkpoint=Path(config.unet_checkpoint) if config.unet_checkpoint else None,
    )
