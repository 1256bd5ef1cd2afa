"""Passes: one module each, registering itself (`@register`); the registry finds them on the
first lookup (optimize/passes/registry.py), so importing this package imports no pass."""

from optimize.passes.base import BuildContext, Param, Pass
from optimize.passes.registry import PASSES, pass_class, register

__all__ = ["PASSES", "BuildContext", "Param", "Pass", "pass_class", "register"]
