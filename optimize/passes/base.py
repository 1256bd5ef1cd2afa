"""The pass interface: a named, parametrised transformation of a pipeline."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from diffusers import DiffusionPipeline

from optimize.errors import RecipeError
from optimize.recipe_syntax import PassCall, Value

_REQUIRED = object()

# Where a pass acts, in the order `diffbench tune` stacks them (bench/tune/space.py): pruning
# changes the architecture, then the compute dtype is set, then weights are quantised, then a
# backend runs the result. The passes' own refusals enforce this order; tune uses it to put
# at most one choice of each stage into a candidate (one pass, or a chain of that stage's passes
# they accept, like onnx+ort) and to sort the candidates.
TUNE_STAGES = ("structure", "dtype", "weights", "runtime")


@dataclass(frozen=True)
class Param:
    name: str
    kind: type
    default: Any = _REQUIRED
    choices: tuple[Any, ...] | None = None
    # Inclusive-exclusive numeric bounds; None means unbounded on that side.
    low: float | None = None
    high: float | None = None

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def coerce(self, pass_name: str, value: Value) -> Any:
        if self.kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise RecipeError(f"{pass_name}: {self.name}={value!r} is not a {self.kind.__name__}")
        if self.choices is not None and value not in self.choices:
            accepted = ", ".join(map(str, self.choices))
            raise RecipeError(f"{pass_name}: {self.name}={value!r} is not one of {accepted}")
        if (self.low is not None and not value > self.low) or (
            self.high is not None and not value < self.high
        ):
            raise RecipeError(f"{pass_name}: {self.name}={value!r} is outside ({self.low}, {self.high})")
        return value


@dataclass
class BuildContext:
    """What a pass may need beyond the pipeline itself."""

    device: torch.device
    seed: int = 0
    # The unmodified model (a teacher for distillation, a reference for parity); never mutate it.
    base: DiffusionPipeline | None = None
    # Build-time checks (parity, forward check, ...) recorded in the variant's manifest.
    checks: dict[str, Any] = field(default_factory=dict)
    # The run's own generations by workload label, each run on the pipeline it is given: a pass
    # whose result depends on input shapes (compile) runs them in the build, so no recompilation
    # lands in a first or timed call. Empty (the default): the pass warms up at its own shape.
    warmups: Mapping[str, Callable[[DiffusionPipeline], object]] = field(default_factory=dict)


class Pass(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    # Passes that set the compute dtype; two in one recipe contradict each other.
    sets_dtype: ClassVar[torch.dtype | None] = None
    # The variant format its output needs (see optimize/formats); None: whatever came before.
    output_format: ClassVar[str | None] = None
    # In the suite's default variant list? Passes whose build takes minutes (exports, compile)
    # are run when asked for by name, so the default `pytest bench/` stays a few minutes.
    in_default_suite: ClassVar[bool] = True
    # Where `diffbench tune` searches this pass: one of TUNE_STAGES, or None when tune never
    # proposes it (the fp32 baseline is what candidates are compared against; lora-fuse needs
    # the user's own adapters).
    tune_stage: ClassVar[str | None] = None
    # The argument sets tune tries (keyword arguments of the pass; `{}` is its defaults). Each
    # is bound like recipe text, so a bad one is refused like a user's recipe would be.
    tune_grid: ClassVar[tuple[dict[str, Value], ...]] = ({},)

    def __init__(self, **arguments: Any) -> None:
        self.arguments = arguments

    @classmethod
    def bind(cls, call: PassCall) -> Pass:
        if len(call.args) > len(cls.params):
            raise RecipeError(f"{cls.name} takes at most {len(cls.params)} argument(s), got {len(call.args)}")
        bound: dict[str, Any] = {}
        for param, value in zip(cls.params, call.args, strict=False):
            bound[param.name] = param.coerce(cls.name, value)
        known = {param.name: param for param in cls.params}
        for key, value in call.kwargs.items():
            if key not in known:
                accepted = ", ".join(known) or "no arguments"
                raise RecipeError(f"{cls.name}: unknown argument {key!r}; it accepts {accepted}")
            if key in bound:
                raise RecipeError(f"{cls.name}: {key!r} given twice")
            bound[key] = known[key].coerce(cls.name, value)
        for param in cls.params:
            if param.name not in bound:
                if param.required:
                    raise RecipeError(f"{cls.name}: missing required argument {param.name!r}")
                bound[param.name] = param.default
        return cls(**bound)

    def canonical(self) -> str:
        """Required arguments positionally, then non-default ones by name, in declaration order."""
        parts: list[str] = []
        for param in self.params:
            value = self.arguments[param.name]
            if param.required:
                parts.append(_format(value))
            elif value != param.default:
                parts.append(f"{param.name}={_format(value)}")
        return f"{self.name}({','.join(parts)})" if parts else self.name

    def unsupported_reason(self, device: torch.device, earlier: list[Pass]) -> str | None:
        """None when the pass can run on this device after the earlier passes; otherwise why not."""
        return None

    def refuses_later(self, later: Pass) -> str | None:
        """Why `later` cannot come after this pass (e.g. a dtype cast after 4-bit quantisation), or None."""
        return None

    @abstractmethod
    def apply(self, pipeline: DiffusionPipeline, context: BuildContext) -> DiffusionPipeline:
        """Transform the pipeline (in place is fine) and return it."""


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)
