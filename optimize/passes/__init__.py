"""Every pass module is imported here so that it registers its passes."""

from optimize.passes import (  # noqa: F401
    bnb8,
    compile,
    dtype_cast,
    int8,
    int8wo,
    lora_fuse,
    nf4,
    onnx_runtime,
    ort_int8,
    prune,
    tensorrt,
)
from optimize.passes.base import BuildContext, Param, Pass
from optimize.passes.registry import PASSES, pass_class, register

__all__ = ["PASSES", "BuildContext", "Param", "Pass", "pass_class", "register"]
