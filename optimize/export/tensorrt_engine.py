"""TensorRT engines from the exported ONNX graphs, and a runner with the OrtRunner interface.

Written against TensorRT's Python API (10.x and 11.x): builder, network from the ONNX parser,
one optimisation profile spanning the batch and resolution range, the serialised engine
cached in the variant cache. 11.x removed the FP16/INT8 builder flags (networks are always
strongly typed), so precision lives in the graph: fp16 by converting the ONNX graph, int8 by
explicit Q/DQ nodes (`ort-int8(mode=static)` before `trt`). The variant cache key holds the
GPU name and the TensorRT version: an engine only runs where it was built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from optimize.errors import PassError, PassUnsupported
from optimize.export.graphs import SPECS
from optimize.export.recording import Inputs

ENGINE_FILE = "model.engine"
INSTALL_HINT = (
    'tensorrt is not installed: its wheels need a CUDA machine (pip install -c constraints.txt -e ".[gpu]")'
)


def tensorrt() -> ModuleType:
    try:
        import tensorrt as trt
    except ImportError as error:
        raise PassUnsupported(f"{INSTALL_HINT}; import failed: {error}") from None
    return trt


def unsupported_reason(device: torch.device) -> str | None:
    try:
        tensorrt()
    except PassUnsupported as why:
        return str(why)
    if device.type != "cuda":
        return f"TensorRT engines run on a CUDA device; this run is on {device}"
    return None


@dataclass(frozen=True)
class ShapeRange:
    """The optimisation profile: smallest, typical and largest batch and image side."""

    min_size: int
    opt_size: int
    max_size: int
    max_batch: int
    vae_scale: int  # pixels per latent

    def profile(self, component: str, example: Inputs) -> dict[str, tuple[tuple[int, ...], ...]]:
        """input name -> (min, opt, max) shapes; the example fixes the static axes."""
        spec = SPECS[component]
        # Classifier-free guidance doubles the UNet's and the text encoder's batch.
        cfg = 1 if component == "vae" else 2
        ranges = {
            "batch": (1, cfg, cfg * self.max_batch),
            "height": tuple(side // self.vae_scale for side in (self.min_size, self.opt_size, self.max_size)),
            "width": tuple(side // self.vae_scale for side in (self.min_size, self.opt_size, self.max_size)),
        }
        shapes = {}
        for name in spec.inputs:
            base = list(example[name].shape)
            per_level = []
            for level in range(3):
                shape = list(base)
                for axis, symbol in spec.dynamic.get(name, {}).items():
                    if symbol in ranges:
                        shape[axis] = ranges[symbol][level]
                per_level.append(tuple(shape))
            shapes[name] = tuple(per_level)
        return shapes


def build_engine(
    onnx_path: Path, target: Path, profile: dict[str, tuple[tuple[int, ...], ...]]
) -> dict[str, Any]:
    """Parse the ONNX graph (external data beside it), build with one profile, write the plan."""
    trt = tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if strongly_typed is not None:  # 10.x: opt in; 11.x: always on (flag accepted, ignored)
        flags |= 1 << int(strongly_typed)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise PassError(f"TensorRT's ONNX parser rejected {onnx_path.parent.name}: {errors}")
    config = builder.create_builder_config()
    optimisation = builder.create_optimization_profile()
    for name, (low, typical, high) in profile.items():
        optimisation.set_shape(name, low, typical, high)
    config.add_optimization_profile(optimisation)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise PassError(f"TensorRT could not build an engine for {onnx_path.parent.name} (see its log above)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(bytes(plan))
    return {
        "tensorrt": trt.__version__,
        "gpu": torch.cuda.get_device_name(),
        "profile": {name: [list(s) for s in shapes] for name, shapes in profile.items()},
    }


class EngineRunner:
    """Runs a deserialised engine on torch CUDA tensors (same interface as OrtRunner)."""

    provider = "TensorRT"

    def __init__(self, engine: Any, device: torch.device) -> None:
        self.engine = engine
        self.context = engine.create_execution_context()
        self.device = device
        trt = tensorrt()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]

    @classmethod
    def load(cls, path: Path, device: torch.device) -> EngineRunner:
        trt = tensorrt()
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise PassError(f"TensorRT could not load {path} (built for another GPU or TensorRT version?)")
        return cls(engine, device)

    def run(
        self, inputs: dict[str, torch.Tensor], output_shapes: Sequence[tuple[int, ...]]
    ) -> list[torch.Tensor]:
        keep_alive = []
        for name in self.input_names:
            tensor = inputs[name].to(self.device).contiguous()
            keep_alive.append(tensor)
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        outputs = []
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            tensor = torch.empty(shape, dtype=torch.float32, device=self.device)
            self.context.set_tensor_address(name, tensor.data_ptr())
            outputs.append(tensor)
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise PassError("TensorRT execution failed (see its log)")
        stream.synchronize()
        return outputs
