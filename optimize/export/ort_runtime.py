"""ONNX Runtime sessions: import with a helpful error, providers chosen by device, the provider really used.

onnxruntime-gpu's CUDA provider silently falls back to CPU when the CUDA libraries are
missing, so what a session was *asked* for is never reported: `session.get_providers()`
is.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from optimize.errors import PassError, PassUnsupported
from optimize.export.vram import gpu_memory_cap

INSTALL_HINT = (
    'install the extra: pip install -c constraints.txt -e ".[cpu]" '
    '(or ".[gpu]" for onnxruntime-gpu on a CUDA machine)'
)

# `ort(provider=...)` choices -> ONNX Runtime provider names.
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
OPT_LEVELS = ("disable", "basic", "extended", "all")


def onnxruntime() -> ModuleType:
    """The onnxruntime module, or PassUnsupported naming the extra that installs it."""
    try:
        import onnxruntime as ort
    except ImportError as error:
        raise PassUnsupported(f"onnxruntime is not installed ({error}); {INSTALL_HINT}") from None
    return ort


def missing_runtime_reason() -> str | None:
    try:
        onnxruntime()
    except PassUnsupported as why:
        return str(why)
    return None


def provider_for(device: torch.device, choice: str = "auto") -> str:
    """`auto`: CUDA on a CUDA device, CPU otherwise."""
    if choice == "auto":
        return PROVIDERS["cuda"] if device.type == "cuda" else PROVIDERS["cpu"]
    return PROVIDERS[choice]


def provider_unsupported_reason(device: torch.device, choice: str) -> str | None:
    """Why the provider can't run here (before anything is exported), or None."""
    reason = missing_runtime_reason()
    if reason:
        return reason
    wanted = provider_for(device, choice)
    if wanted != PROVIDERS["cpu"] and device.type != "cuda":
        return f"provider={choice} runs on a CUDA device; this run is on {device} (use provider=cpu or auto)"
    available = onnxruntime().get_available_providers()
    if wanted not in available:
        return (
            f"onnxruntime here has no {wanted} (available: {', '.join(available)}); "
            'a CUDA machine needs onnxruntime-gpu: pip install -c constraints.txt -e ".[gpu]"'
        )
    return None


def _level(name: str) -> Any:
    levels = onnxruntime().GraphOptimizationLevel
    return {
        "disable": levels.ORT_DISABLE_ALL,
        "basic": levels.ORT_ENABLE_BASIC,
        "extended": levels.ORT_ENABLE_EXTENDED,
        "all": levels.ORT_ENABLE_ALL,
    }[name]


def writes_optimized_graph(provider: str) -> bool:
    """ORT refuses to save a graph an execution provider compiled ("Unable to serialize model as
    it contains compiled nodes"): TensorRT's does; CUDA's and the CPU's don't."""
    return provider != PROVIDERS["tensorrt"]


@dataclass(frozen=True)
class SessionPlan:
    """What an InferenceSession is made with, built without making one (so it can be checked anywhere)."""

    options: Any
    providers: list[Any]


def session_plan(
    device: torch.device,
    provider: str,
    opt_level: str = "all",
    optimized_path: Path | None = None,
    memory_cap: int | None = None,
) -> SessionPlan:
    """Options and providers. GPU providers fall back in order TensorRT -> CUDA -> CPU, so a node
    TensorRT can't take (ORT's contrib ops) runs on CUDA, not on the CPU. `memory_cap` (bytes):
    the CUDA arena's gpu_mem_limit and TensorRT's workspace limit."""
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = _level(opt_level)
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise here
    # ORT's idle pool threads spin for work by default, burning the cores after Run returns: in an
    # interleaved run whatever variant went next on a 2-core VM took 2.2x as long
    # (docs/results/2026-12-05-ort-spinning.md). Blocking threads keep a variant's cost its own.
    for pool in ("intra_op", "inter_op"):
        options.add_session_config_entry(f"session.{pool}.allow_spinning", "0")
    if optimized_path is not None and not writes_optimized_graph(provider):
        raise PassError(
            f"{provider} compiles the graph into nodes ONNX Runtime cannot save; "
            "run it without optimized_model_filepath"
        )
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", optimized_path.name + ".data"
        )
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
        )
    if provider == PROVIDERS["cpu"]:
        return SessionPlan(options, [provider])
    index = device.index if device.index is not None else 0
    cuda: dict[str, Any] = {"device_id": index}
    if memory_cap is not None:
        # The arena grows by what is asked, not to the next power of two, so it stops at the cap.
        cuda.update(gpu_mem_limit=memory_cap, arena_extend_strategy="kSameAsRequested")
    providers: list[Any] = [(PROVIDERS["cuda"], cuda), PROVIDERS["cpu"]]
    if provider == PROVIDERS["tensorrt"]:
        tensorrt: dict[str, Any] = {"device_id": index}
        if memory_cap is not None:
            tensorrt["trt_max_workspace_size"] = memory_cap
        providers.insert(0, (provider, tensorrt))
    return SessionPlan(options, providers)


def make_session(
    model_path: Path,
    device: torch.device,
    provider: str,
    opt_level: str = "all",
    optimized_path: Path | None = None,
) -> Any:
    """An InferenceSession; with `optimized_path`, ORT also writes the optimised graph there
    (initialisers to an external file, since the sd15 UNet is over protobuf's 2 GB limit)."""
    plan = session_plan(device, provider, opt_level, optimized_path, gpu_memory_cap(device))
    session = onnxruntime().InferenceSession(
        str(model_path), sess_options=plan.options, providers=plan.providers
    )
    used = session.get_providers()[0]
    if used != provider:
        warnings.warn(
            f"onnxruntime was asked for {provider} but runs {model_path.name} on {used} "
            "(CUDA libraries missing?); the report records the provider really used",
            stacklevel=2,
        )
    return session
