"""`ort-int8`: the UNet quantised to int8 by ONNX Runtime, dynamic or static (QDQ, calibrated
on UNet inputs recorded from a few real denoising runs); text encoder and VAE stay float32,
fully optimised. On its own it exports first with `onnx`'s defaults."""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DiffusionPipeline

from optimize.cpu_features import int8_basis, reduce_range_for
from optimize.export.build import (
    SessionSettings,
    ensure_exported,
    record_providers,
    refuse_unexportable,
    release_runner,
    replace_graph,
)
from optimize.export.modules import exported_components
from optimize.export.ort_runtime import provider_unsupported_reason
from optimize.export.parity import parity
from optimize.export.quantize import OP_SETS, quantize
from optimize.export.recording import CALIBRATION_PROMPTS, RecordingPlan, default_size, record_inputs
from optimize.formats.names import ONNX_FORMAT
from optimize.passes.base import BuildContext, Param, Pass
from optimize.passes.onnx_runtime import RuntimePass, runtime_after, torch_pass_clash
from optimize.passes.registry import register

QUANTISED = "unet"


@register
class OrtInt8(RuntimePass):
    name = "ort-int8"
    in_default_suite = False
    summary = "UNet int8 in ONNX Runtime: dynamic, or static QDQ calibrated on recorded denoising inputs"
    params = (
        Param("mode", str, "dynamic", choices=("dynamic", "static")),
        Param("ops", str, "matmul", choices=tuple(OP_SETS)),
        Param("prompts", int, 2, low=0, high=len(CALIBRATION_PROMPTS) + 1),
        Param("steps", int, 4, low=0, high=51),
    )
    output_format = ONNX_FORMAT
    # Both modes with the default ops (MatMul/Gemm: quantising Conv makes the UNet slower on a
    # CPU, docs/results) and the default calibration recording for static.
    tune_stage = "runtime"
    tune_grid = ({}, {"mode": "static"})

    def unsupported_reason(self, device: torch.device, earlier: list[Pass]) -> str | None:
        return (
            runtime_after(self.name, earlier, ("onnx",))
            or torch_pass_clash(self.name, earlier)
            or provider_unsupported_reason(device, "auto")
        )

    def apply(self, pipeline: DiffusionPipeline, context: BuildContext) -> DiffusionPipeline:
        mode = self.arguments["mode"]
        calibration = None
        recording = None
        if mode == "static":
            if not exported_components(pipeline):
                refuse_unexportable(pipeline)  # before recording: it needs the SD components too
            # Hooks on the UNet the pipeline has now: the torch one when ort-int8 stands alone, else
            # the float32 ONNX one (equal to torch within the export's parity check).
            plan = RecordingPlan(
                size=default_size(pipeline),
                steps=self.arguments["steps"],
                prompts=CALIBRATION_PROMPTS[: self.arguments["prompts"]],
            )
            recording = record_inputs(pipeline, plan, "recording calibration inputs")
            calibration = recording["unet"]
        pipeline = ensure_exported(pipeline, context.device, context.checks, recording)
        settings = SessionSettings(opt_level="all")
        # Chosen for the device the variant is built for: an x86 CPU without VNNI saturates
        # full-range int8 weights (optimize/cpu_features.py); the manifest says which and why.
        reduce_range = reduce_range_for(context.device)
        report: dict[str, Any] = {
            "mode": mode,
            "ops": list(OP_SETS[self.arguments["ops"]]),
            "calibration_samples": len(calibration or []),
            "reduce_range": reduce_range,
            "reduce_range_basis": int8_basis(reduce_range, context.device),
            "parity": {},
        }
        for name, part in exported_components(pipeline).items():
            source = part.onnx_path
            if name == QUANTISED:
                release_runner(part)  # the fp32 session is not needed while the quantiser loads the graph
                folder = part.workdir.path / f"{name}-int8"
                source = quantize(source, folder, mode, self.arguments["ops"], calibration, reduce_range)
            replaced = replace_graph(part, source, context.device, settings)
            report["parity"][name] = parity(replaced.runner, replaced.parity_cases)
            setattr(pipeline, name, replaced)
        context.checks["ort-int8"] = report
        record_providers(pipeline, context.checks)
        return pipeline
