"""Model specs and loaders: a name or path in, a runnable diffusers pipeline out."""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# transformers warns about torchvision on import; the harness output must stay readable.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

# torchao/bitsandbytes, imported by diffusers when installed, log harmless lines on import:
# importing this module filters exactly those lines (before diffusers is imported by the loader).
from models import import_noise  # noqa: F401
from models.errors import ModelError

if TYPE_CHECKING:
    from models.families import ModelFamily, family_of
    from models.loader import RANDOM, LoadedModel, load_model
    from models.registry import DEFAULT_MODEL, REGISTRY, ModelSpec, get_spec, model_names

# Loaded on first use (PEP 562): the loader, the registry and the families import diffusers
# and torch (seconds), which `diffbench --help` and the torch-free commands must not pay by
# importing bench.
_LAZY = {
    "ModelFamily": "models.families",
    "family_of": "models.families",
    "RANDOM": "models.loader",
    "LoadedModel": "models.loader",
    "load_model": "models.loader",
    "DEFAULT_MODEL": "models.registry",
    "REGISTRY": "models.registry",
    "ModelSpec": "models.registry",
    "get_spec": "models.registry",
    "model_names": "models.registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEFAULT_MODEL",
    "RANDOM",
    "REGISTRY",
    "LoadedModel",
    "ModelError",
    "ModelFamily",
    "ModelSpec",
    "family_of",
    "get_spec",
    "load_model",
    "model_names",
]
