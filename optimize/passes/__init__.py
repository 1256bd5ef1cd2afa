"""Every pass module is imported here so that it registers its passes."""

from optimize.passes import dtype_cast  # noqa: F401
from optimize.passes.base import BuildContext, Param, Pass
from optimize.passes.registry import PASSES, pass_class, register

__all__ = ["PASSES", "BuildContext", "Param", "Pass", "pass_class", "register"]
