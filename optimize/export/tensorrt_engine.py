"""TensorRT engines from the exported ONNX graphs, and a runner with the OrtRunner interface.

Written against TensorRT's Python API (10.x and 11.x): builder, network from the ONNX parser,
one optimisation profile spanning the batch and resolution range, the serialised engine
cached in the variant cache. 11.x removed the FP16/INT8 builder flags (networks are always
strongly typed), so precision lives in the graph: fp16 by converting the ONNX graph, int8 by
explicit Q/DQ nodes (`ort-int8(mode=static)` before `trt`). The variant cache key holds the
GPU name and the TensorRT version: an engine only runs where it was built.

Memory: the runtime's allocations (weights at deserialisation) go through torch's caching
allocator (a `trt.IGpuAllocator` calling torch.cuda.caching_allocator_alloc) and the
execution context's activation memory is a torch buffer (USER_MANAGED strategy), so the
engine's VRAM is in torch's peaks and under an emulated profile's cap like any torch
variant's. The builder's workspace is limited to the cap too (MemoryPoolType.WORKSPACE).
Shapes outside the engine's optimisation profile are refused with the range; output
buffers take the engine's dtypes (get_tensor_dtype).
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


# TensorRT DataType names -> torch dtypes (FP8/INT4/FP4 never reach an IO tensor here).
TORCH_DTYPES = {
    "FLOAT": torch.float32,
    "HALF": torch.float16,
    "BF16": torch.bfloat16,
    "INT8": torch.int8,
    "UINT8": torch.uint8,
    "INT32": torch.int32,
    "INT64": torch.int64,
    "BOOL": torch.bool,
}


def torch_dtype(trt_dtype: Any) -> torch.dtype:
    """The torch dtype for a trt.DataType (or its name); PassError for one with no torch buffer."""
    name = getattr(trt_dtype, "name", str(trt_dtype)).rsplit(".", 1)[-1]
    if name not in TORCH_DTYPES:
        raise PassError(f"TensorRT IO tensor of type {name}: accepted {', '.join(TORCH_DTYPES)}")
    return TORCH_DTYPES[name]


def shape_outside_profile(
    name: str, shape: Sequence[int], low: Sequence[int], high: Sequence[int]
) -> str | None:
    """Why `shape` can't run on an engine whose profile spans low..high for `name`, or None."""
    shape, low, high = tuple(shape), tuple(low), tuple(high)
    if len(shape) == len(low) and all(a <= s <= b for s, a, b in zip(shape, low, high, strict=True)):
        return None
    return (
        f"TensorRT engine input {name!r} of shape {list(shape)} is outside the engine's profile "
        f"{list(low)}..{list(high)}; rebuild with trt(min_size=..., max_size=..., max_batch=...) covering it"
    )


def torch_allocator(device: torch.device) -> Any:
    """A trt.IGpuAllocator that takes TensorRT's device memory from torch's caching allocator."""
    trt = tensorrt()

    class TorchAllocator(trt.IGpuAllocator):
        def __init__(self) -> None:
            trt.IGpuAllocator.__init__(self)
            self.failure: BaseException | None = None

        def allocate(self, size: int, alignment: int, flags: int) -> int | None:
            if size == 0:
                return None
            try:
                # Blocks are 512-byte aligned, above what TensorRT asks (at most cudaMalloc's 256).
                return int(torch.cuda.caching_allocator_alloc(size, device))
            except torch.OutOfMemoryError as error:  # TensorRT sees None; the runner re-raises this
                self.failure = error
                return None

        def allocate_async(self, size: int, alignment: int, *flags_and_stream: Any) -> int | None:
            # The binding's argument order for flags and stream differs from its docstring; neither
            # matters here: torch allocates on its current stream of `device`.
            return self.allocate(size, alignment, 0)

        def reallocate(self, address: int, alignment: int, new_size: int) -> int | None:
            return None  # TensorRT then allocates afresh and copies

        def deallocate(self, memory: int) -> bool:
            if memory:
                torch.cuda.caching_allocator_delete(memory)
            return True

        def deallocate_async(self, memory: int, stream: Any) -> bool:
            return self.deallocate(memory)

    return TorchAllocator()


def build_engine(
    onnx_path: Path,
    target: Path,
    profile: dict[str, tuple[tuple[int, ...], ...]],
    device: torch.device,
    memory_cap: int | None = None,
) -> dict[str, Any]:
    """Parse the ONNX graph (external data beside it), build with one profile on `device`, write
    the plan. `memory_cap` (bytes): the builder's workspace limit (an emulated profile's cap)."""
    trt = tensorrt()
    with torch.cuda.device(device):
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
        if memory_cap is not None:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, memory_cap)
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
        "gpu": torch.cuda.get_device_name(device),
        "profile": {name: [list(s) for s in shapes] for name, shapes in profile.items()},
        "workspace_limit_bytes": memory_cap,
    }


class EngineRunner:
    """Runs a deserialised engine on torch CUDA tensors (same interface as OrtRunner)."""

    provider = "TensorRT"
    # Weights and activations come from torch's allocator: torch's peaks count them.
    vram_source = "torch-allocator"

    def __init__(self, runtime: Any, allocator: Any, engine: Any, device: torch.device) -> None:
        trt = tensorrt()
        # TensorRT needs the runtime (and its allocator) alive for as long as the engine.
        self.runtime, self.allocator, self.engine = runtime, allocator, engine
        self.device = device
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.dtypes = {n: torch_dtype(engine.get_tensor_dtype(n)) for n in names}
        self.ranges = {}
        for name in self.input_names:
            low, _, high = engine.get_tensor_profile_shape(name, 0)
            self.ranges[name] = (tuple(low), tuple(high))
        with torch.cuda.device(device):
            strategy = trt.ExecutionContextAllocationStrategy.USER_MANAGED
            self.context = engine.create_execution_context(strategy)
            size = getattr(engine, "device_memory_size_v2", None) or engine.device_memory_size
            self.workspace = torch.empty(max(int(size), 1), dtype=torch.uint8, device=device)
            if hasattr(self.context, "set_device_memory"):  # 10.1+
                self.context.set_device_memory(self.workspace.data_ptr(), self.workspace.numel())
            else:
                self.context.device_memory = self.workspace.data_ptr()

    def close(self) -> None:
        """Free in the order TensorRT needs: the context before its engine and the memory it runs in,
        the engine (which hands its weights back through the allocator) before its runtime, and the
        allocator last. Attribute order alone would free the runtime first."""
        for name in ("context", "workspace", "engine", "runtime", "allocator"):
            if name in self.__dict__:
                delattr(self, name)

    def __del__(self) -> None:
        self.close()

    @classmethod
    def load(cls, path: Path, device: torch.device) -> EngineRunner:
        trt = tensorrt()
        with torch.cuda.device(device):
            runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
            allocator = torch_allocator(device)
            runtime.gpu_allocator = allocator
            engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            if allocator.failure is not None:
                raise allocator.failure
            raise PassError(f"TensorRT could not load {path} (built for another GPU or TensorRT version?)")
        return cls(runtime, allocator, engine, device)

    def run(
        self, inputs: dict[str, torch.Tensor], output_shapes: Sequence[tuple[int, ...]]
    ) -> list[torch.Tensor]:
        keep_alive = []
        for name in self.input_names:
            tensor = inputs[name].to(self.device, self.dtypes[name]).contiguous()
            keep_alive.append(tensor)
            reason = shape_outside_profile(name, tensor.shape, *self.ranges[name])
            if reason is not None:
                raise PassError(reason)
            if not self.context.set_input_shape(name, tuple(tensor.shape)):
                shape = list(tensor.shape)
                raise PassError(f"TensorRT refused input {name!r} of shape {shape} (see its log)")
            self.context.set_tensor_address(name, tensor.data_ptr())
        outputs = []
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            tensor = torch.empty(shape, dtype=self.dtypes[name], device=self.device)
            self.context.set_tensor_address(name, tensor.data_ptr())
            outputs.append(tensor)
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise PassError("TensorRT execution failed (see its log)")
        stream.synchronize()
        # The Runner contract (OrtRunner's too): float outputs as float32, whatever the engine wrote.
        return [t.float() if t.is_floating_point() else t for t in outputs]
