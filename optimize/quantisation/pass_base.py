"""The behaviour the four quantisation passes share: arguments, refusals, counting, checks.

Decisions (documented in docs/recipes.md and docs/results):
- Dtype passes go first: `bf16+int8` quantises bf16 weights and runs the remaining float
  work (convolutions, norms, attention maths, activations between layers) in bf16. A dtype
  pass after a quantisation pass is refused: quantised weights would keep their own dtype
  while the rest changes (for nf4 the 4-bit data cannot be cast at all).
- Without a dtype pass everything not quantised stays float32.
- A component is quantised once: a second quantisation pass over the same component is
  refused (re-quantising int8 or 4-bit data only loses precision).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from diffusers import DiffusionPipeline

from optimize.errors import PassUnsupported
from optimize.formats.names import QUANTISED_FORMAT
from optimize.passes.base import BuildContext, Param, Pass
from optimize.quantisation.apply import Quantiser, quantise_component
from optimize.quantisation.libraries import missing_feature
from optimize.quantisation.selection import (
    canonical_components,
    canonical_layers,
    named_components,
    resolve_components,
)
from optimize.quantisation.structure import structural_format, structure_reason


class QuantisationPass(Pass):
    library: ClassVar[str]
    bits: ClassVar[int]
    output_format = QUANTISED_FORMAT
    # int8, int8wo, bnb8 and nf4 are searched with their defaults (the UNet's Linear layers).
    # `layers` takes Linear groups only (selection.LAYER_GROUPS: linear, attention, ff; no conv),
    # and attention or ff alone quantise a subset of what `linear` does, so they add builds
    # without a different kind of candidate. bnb8 keeps threshold=6 (threshold=0 drops its
    # outlier handling, the accuracy LLM.int8 is for).
    tune_stage: ClassVar[str | None] = "weights"
    params: ClassVar[tuple[Param, ...]] = (
        Param("components", str, default="unet"),
        Param("layers", str, default="linear"),
    )

    def __init__(self, **arguments: Any) -> None:
        arguments["components"] = canonical_components(self.name, arguments["components"])
        arguments["layers"] = canonical_layers(self.name, arguments["layers"])
        super().__init__(**arguments)

    @property
    def components(self) -> set[str]:
        return named_components(self.arguments["components"])

    # -- refusals, before anything is built ------------------------------------------------
    def unsupported_reason(self, device: torch.device, earlier: list[Pass]) -> str | None:
        reason = missing_feature(self.library)
        if reason:
            return f"{self.name}: {reason}"
        for previous in earlier:
            if isinstance(previous, QuantisationPass):
                shared = sorted(self.components & previous.components)
                if shared:
                    state = "already 4-bit" if previous.bits == 4 else f"already {previous.bits}-bit"
                    return (
                        f"{self.name} after {previous.canonical()}: {', '.join(shared)} is {state}; "
                        "a component is quantised once"
                    )
        return structure_reason(self.name, earlier)

    def refuses_later(self, later: Pass) -> str | None:
        if later.sets_dtype is not None:
            return (
                f"{later.name} after {self.name}: cast before quantising ({later.name}+{self.name}); "
                f"{self.name}'s {self.bits}-bit weights would not follow a later cast"
            )
        if structural_format([later]) is not None:
            return (
                f"{later.canonical()} after {self.name}: it would have to rework {self.name}'s quantised "
                f"layers; apply {later.name} before quantising"
            )
        return None

    # -- the work ---------------------------------------------------------------------------
    def quantiser(self, device: torch.device) -> Quantiser:
        """Quantises one float Linear (in place, returning None, or returning its replacement)."""
        raise NotImplementedError

    def apply(self, pipeline: DiffusionPipeline, context: BuildContext) -> DiffusionPipeline:
        modules = resolve_components(self.name, self.arguments["components"], pipeline)
        quantiser = self.quantiser(context.device)
        reports = {
            name: quantise_component(module, self.arguments["layers"], quantiser)
            for name, module in modules.items()
        }
        total = sum(report.quantised_layers for report in reports.values())
        if total == 0:
            skipped = {k: v for report in reports.values() for k, v in report.skipped_layers.items()}
            why = f"; the library refused them all, e.g. {next(iter(skipped.items()))}" if skipped else ""
            raise PassUnsupported(
                f"{self.canonical()}: no {self.arguments['layers']} layer to quantise in "
                f"{', '.join(modules) or 'this model'}{why}"
            )
        fp32 = sum(report.fp32_bytes for report in reports.values())
        quantised = sum(report.quantised_bytes for report in reports.values())
        context.checks[self.canonical()] = {
            "library": self.library,
            "bits": self.bits,
            "quantised_layers": total,
            "skipped_layers": sum(len(report.skipped_layers) for report in reports.values()),
            "fp32_bytes": fp32,
            "quantised_bytes": quantised,
            "quantised_bytes_ratio": quantised / fp32,
            "components": {name: report.as_dict() for name, report in reports.items()},
        }
        return pipeline
