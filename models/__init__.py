"""Model specs and loaders: a name or path in, a runnable diffusers pipeline out."""

import os

# transformers warns about torchvision on import; the harness output must stay readable.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

# torchao/bitsandbytes, imported by diffusers when installed, log harmless lines on import:
# importing this module filters exactly those lines (before diffusers is imported below).
from models import import_noise  # noqa: F401
from models.errors import ModelError
from models.loader import RANDOM, LoadedModel, load_model
from models.registry import DEFAULT_MODEL, REGISTRY, ModelSpec, get_spec, model_names

__all__ = [
    "DEFAULT_MODEL",
    "RANDOM",
    "REGISTRY",
    "LoadedModel",
    "ModelError",
    "ModelSpec",
    "get_spec",
    "load_model",
    "model_names",
]
