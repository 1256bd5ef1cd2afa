"""`onnx` (export, run in ONNX Runtime) and `ort` (ONNX Runtime tuned: provider, graph
optimisation, the optimised graph saved; fp16 with the transformer fusions on GPU).

Recipes read: `onnx` = the exported graph as the exporter wrote it, run with basic
optimisations (constant folding); `ort` = the same graph fully optimised by ONNX Runtime.
`ort` on its own exports with `onnx`'s defaults; `onnx(exporter=dynamo)+ort` picks the exporter.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DiffusionPipeline

from optimize.export.build import (
    ExportOptions,
    SessionSettings,
    ensure_exported,
    export_pipeline,
    record_providers,
    release_runner,
    replace_graph,
)
from optimize.export.fp16 import fused_fp16
from optimize.export.modules import exported_components
from optimize.export.onnx_export import EXPORTERS, MODEL_FILE
from optimize.export.ort_runtime import (
    OPT_LEVELS,
    PROVIDERS,
    provider_for,
    provider_unsupported_reason,
    writes_optimized_graph,
)
from optimize.export.parity import parity, require_parity
from optimize.formats.names import ONNX_FORMAT
from optimize.passes.base import BuildContext, Param, Pass
from optimize.passes.registry import register

RUNTIME_PASSES = ("onnx", "ort", "ort-int8", "trt")


def torch_pass_clash(name: str, earlier: list[Pass]) -> str | None:
    """Exports start from the float32 torch model; a dtype cast or compile before them can't be exported."""
    for step in earlier:
        if step.sets_dtype is not None and step.sets_dtype != torch.float32:
            return (
                f"{name} after {step.name}: the export takes the float32 torch model "
                "(for half precision use ort(precision=fp16) on a CUDA device)"
            )
        if step.name == "compile":
            return f"{name} after compile: a compiled module can't be exported; drop compile"
    return None


def runtime_after(name: str, earlier: list[Pass], allowed: tuple[str, ...]) -> str | None:
    """Runtime passes chain in one order: onnx, then at most one of ort / ort-int8 / trt."""
    for step in earlier:
        if step.name in RUNTIME_PASSES and step.name not in allowed:
            if name == "onnx":
                return f"onnx after {step.name}: the components are already exported"
            return f"{name} after {step.name}: runtime passes go onnx+{name} or {name} alone"
    return None


def cast_after_runtime(name: str, later: Pass) -> str | None:
    """A dtype pass after an export would cast nothing: the components are ORT sessions or engines now."""
    if later.sets_dtype is None:
        return None
    return (
        f"{later.name} after {name}: the components are exported graphs by then and a torch cast "
        f"does not reach them; drop {later.name} (exports run the float32 graph; for half precision "
        "use ort(precision=fp16) on a CUDA device)"
    )


class RuntimePass(Pass):
    """A pass whose output runs outside torch (ONNX Runtime, TensorRT): no torch dtype pass may follow it."""

    # It reads the torch modules (export, recordings, parity references) and swaps in new modules,
    # never changing one in place: the build shares the source's modules instead of deep-copying
    # them (optimize/working_copy.py).
    reads_torch_modules_only = True

    def refuses_later(self, later: Pass) -> str | None:
        return cast_after_runtime(self.name, later)


@register
class Onnx(RuntimePass):
    name = "onnx"
    in_default_suite = False
    summary = (
        "export text encoder, UNet and VAE decoder with torch.onnx; run them in ONNX Runtime (basic opt)"
    )
    params = (
        Param("exporter", str, "legacy", choices=EXPORTERS),
        Param("opset", int, 17, low=13, high=25),
    )
    output_format = ONNX_FORMAT
    # The defaults (legacy exporter, opset 17): exporter and opset choose how the graph is
    # written, not what runs it, and `ort`/`ort-int8`/`trt` on their own export the same way.
    tune_stage = "runtime"

    def unsupported_reason(self, device: torch.device, earlier: list[Pass]) -> str | None:
        return (
            runtime_after(self.name, earlier, ())
            or torch_pass_clash(self.name, earlier)
            or provider_unsupported_reason(device, "auto")
        )

    def apply(self, pipeline: DiffusionPipeline, context: BuildContext) -> DiffusionPipeline:
        options = ExportOptions(exporter=self.arguments["exporter"], opset=self.arguments["opset"])
        return export_pipeline(pipeline, context.device, context.checks, options, SessionSettings())


@register
class Ort(RuntimePass):
    name = "ort"
    in_default_suite = False
    summary = "ONNX Runtime tuned: provider by device (IO binding on CUDA), full graph optimisation, saved"
    params = (
        Param("opt", str, "all", choices=OPT_LEVELS),
        Param("provider", str, "auto", choices=("auto", *PROVIDERS)),
        Param("precision", str, "fp32", choices=("fp32", "fp16")),
    )
    output_format = ONNX_FORMAT
    # fp32 and fp16: a dtype pass cannot precede an export (torch_pass_clash), so precision=fp16
    # is the only half-precision ONNX Runtime candidate on a GPU (refused on a CPU, with why).
    # Provider and optimisation level stay auto / all: the device's own provider, fully optimised.
    tune_stage = "runtime"
    tune_grid = ({}, {"precision": "fp16"})

    def unsupported_reason(self, device: torch.device, earlier: list[Pass]) -> str | None:
        reason = (
            runtime_after(self.name, earlier, ("onnx",))
            or torch_pass_clash(self.name, earlier)
            or provider_unsupported_reason(device, self.arguments["provider"])
        )
        if reason is None and self.arguments["precision"] == "fp16" and device.type != "cuda":
            reason = (
                "ort(precision=fp16) is a GPU variant (ORT's fp16 fusions target CUDA kernels); "
                f"this run is on {device}"
            )
        return reason

    def apply(self, pipeline: DiffusionPipeline, context: BuildContext) -> DiffusionPipeline:
        pipeline = ensure_exported(pipeline, context.device, context.checks)
        settings = SessionSettings(provider=self.arguments["provider"], opt_level=self.arguments["opt"])
        precision = self.arguments["precision"]
        report: dict[str, Any] = {"opt": settings.opt_level, "precision": precision, "parity": {}}
        for name, part in exported_components(pipeline).items():
            source = part.onnx_path
            release_runner(part)  # closed before the fp16 converter and the tuned session load the graph
            if precision == "fp16":
                source, fused = fused_fp16(name, source, part.workdir.path / f"{name}-fp16")
                report.setdefault("fused_operators", {})[name] = fused
            folder = part.workdir.path / f"{name}-ort"
            folder.mkdir(parents=True, exist_ok=True)
            # ORT writes the graph it optimised: a cache hit loads that instead of optimising again.
            # Not under TensorRT, whose compiled nodes ORT cannot save: the cache keeps the source graph.
            saved = writes_optimized_graph(provider_for(context.device, settings.provider))
            written = folder / MODEL_FILE if saved else None
            tuned = replace_graph(part, source, context.device, settings, written)
            report["parity"][name] = check = parity(tuned.runner, tuned.parity_cases)
            require_parity(f"ort(precision={precision})", name, check, precision)
            setattr(pipeline, name, tuned)
        context.checks["ort"] = report
        record_providers(pipeline, context.checks)
        return pipeline
