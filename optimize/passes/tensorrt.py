"""`trt`: TensorRT engines for the text encoder, UNet and VAE decoder, built from the exported
ONNX graphs with one optimisation profile over batch and resolution. On its own it exports
first with `onnx`'s defaults; `ort-int8(mode=static)+trt(precision=int8)` builds from the
Q/DQ graph (explicit quantisation), rewritten into TensorRT's symmetric int8 dialect
(qdq_tensorrt.py). Each engine's parity against torch must be within its precision's bound
(parity.TOLERANCES), or the build fails."""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DiffusionPipeline

from optimize.export.build import (
    SessionSettings,
    ensure_exported,
    open_component,
    record_providers,
    release_runner,
)
from optimize.export.fp16 import plain_fp16
from optimize.export.modules import exported_components
from optimize.export.parity import parity, require_parity
from optimize.export.qdq_tensorrt import tensorrt_qdq
from optimize.export.tensorrt_engine import ENGINE_FILE, ShapeRange, build_engine, unsupported_reason
from optimize.export.vram import gpu_memory_cap
from optimize.formats.names import ONNX_FORMAT
from optimize.passes.base import BuildContext, Param, Pass
from optimize.passes.onnx_runtime import RuntimePass, runtime_after, torch_pass_clash
from optimize.passes.registry import register


@register
class TensorRT(RuntimePass):
    name = "trt"
    in_default_suite = False
    summary = "TensorRT engines (fp16 / fp32 / int8 from Q/DQ) with a batch x resolution profile"
    params = (
        Param("precision", str, "fp16", choices=("fp16", "fp32", "int8")),
        Param("min_size", int, 256, low=63, high=4097),
        Param("max_size", int, 1024, low=63, high=4097),
        Param("max_batch", int, 4, low=0, high=65),
    )
    output_format = ONNX_FORMAT
    # fp16 (the default) and int8, the reduced precisions TensorRT is used for; int8 needs the
    # Q/DQ graph of ort-int8(mode=static) before it, a chain tune finds within the runtime stage.
    # The shape profile keeps its defaults (sides 256..1024, batch up to 4).
    tune_stage = "runtime"
    tune_grid = ({}, {"precision": "int8"})

    def unsupported_reason(self, device: torch.device, earlier: list[Pass]) -> str | None:
        reason = (
            runtime_after(self.name, earlier, ("onnx", "ort-int8"))
            or torch_pass_clash(self.name, earlier)
            or unsupported_reason(device)
        )
        if reason:
            return reason
        if self.arguments["min_size"] > self.arguments["max_size"]:
            return f"trt: min_size {self.arguments['min_size']} > max_size {self.arguments['max_size']}"
        static_int8 = any(s.name == "ort-int8" and s.arguments.get("mode") == "static" for s in earlier)
        if self.arguments["precision"] == "int8" and not static_int8:
            return (
                "trt(precision=int8) needs an explicitly quantised (Q/DQ) graph: "
                "use ort-int8(mode=static)+trt(precision=int8)"
            )
        return None

    def apply(self, pipeline: DiffusionPipeline, context: BuildContext) -> DiffusionPipeline:
        pipeline = ensure_exported(pipeline, context.device, context.checks)
        precision = self.arguments["precision"]
        # An emulated profile's cap bounds the builder's workspace; the engines themselves
        # allocate through torch, under the same cap (tensorrt_engine.py).
        cap = gpu_memory_cap(context.device)
        report: dict[str, Any] = {"precision": precision, "engines": {}, "parity": {}}
        for name, part in exported_components(pipeline).items():
            example = part.parity_cases[0].inputs
            default = min(int(pipeline.vae_scale_factor) * 64, self.arguments["max_size"])
            shapes = ShapeRange(
                min_size=self.arguments["min_size"],
                opt_size=max(default, self.arguments["min_size"]),
                max_size=self.arguments["max_size"],
                max_batch=self.arguments["max_batch"],
                vae_scale=int(pipeline.vae_scale_factor),
            )
            source = part.onnx_path
            release_runner(part)  # the ORT session's weights are not needed while TensorRT builds
            graph_precision = "fp32" if precision == "fp32" else "fp16"
            if name == "unet" and precision == "int8":
                source, report["qdq"] = tensorrt_qdq(source, part.workdir.path / f"{name}-trt-qdq")
                graph_precision = "int8"
            elif graph_precision == "fp16":
                source = plain_fp16(source, part.workdir.path / f"{name}-trt-fp16")
            engine = part.workdir.path / f"{name}-trt" / ENGINE_FILE
            profile = shapes.profile(name, example)
            report["engines"][name] = build_engine(source, engine, profile, context.device, cap)
            runner = open_component(
                name, engine, part.config, context.device, SessionSettings(runtime="trt"), part.workdir
            )
            runner.parity_cases = part.parity_cases
            report["parity"][name] = check = parity(runner.runner, runner.parity_cases)
            require_parity(f"trt(precision={precision})", name, check, graph_precision)
            setattr(pipeline, name, runner)
        context.checks["trt"] = report
        record_providers(pipeline, context.checks)
        return pipeline
