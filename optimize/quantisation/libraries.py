"""Is the quantisation library a pass needs importable here, with the features it uses?

Each check returns None when usable, else the reason (the text of an `unsupported` row).
"""

from __future__ import annotations

import functools
import importlib
from importlib import metadata

from packaging.version import InvalidVersion, Version

# The oldest releases whose APIs these passes use (torchao's Int8Tensor configs and its
# safetensors flattening; bitsandbytes' CPU backend for Linear8bitLt / Linear4bit).
MINIMUM = {"torchao": "0.14.0", "bitsandbytes": "0.48.0"}
_PINNED = {"torchao": "0.18.0", "bitsandbytes": "0.50.2"}
# module -> names the passes import from it.
_FEATURES = {
    "torchao": {
        "torchao.quantization": (
            "quantize_",
            "Int8DynamicActivationInt8WeightConfig",
            "Int8WeightOnlyConfig",
            "Int8Tensor",
        ),
        "torchao.prototype.safetensors.safetensors_support": (
            "flatten_tensor_state_dict",
            "unflatten_tensor_state_dict",
        ),
    },
    "bitsandbytes": {"bitsandbytes.nn": ("Linear8bitLt", "Linear4bit", "Int8Params", "Params4bit")},
}


@functools.cache
def missing_feature(package: str) -> str | None:
    install = f"pip install -c constraints.txt {package}=={_PINNED[package]}"
    try:
        installed = metadata.version(package)
    except metadata.PackageNotFoundError:
        return f"{package} is not installed ({install})"
    try:
        too_old = Version(installed) < Version(MINIMUM[package])
    except InvalidVersion:
        too_old = False
    if too_old:
        return f"{package} {installed} is older than {MINIMUM[package]}, which this pass needs ({install})"
    for module_name, names in _FEATURES[package].items():
        try:
            module = importlib.import_module(module_name)
        except Exception as error:  # a broken install raises anything from import
            return f"{package} {installed}: cannot import {module_name} ({type(error).__name__}: {error})"
        absent = [name for name in names if not hasattr(module, name)]
        if absent:
            return f"{package} {installed} lacks {module_name}.{absent[0]} ({install})"
    return None
