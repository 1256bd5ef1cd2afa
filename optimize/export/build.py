"""Export a pipeline's components and swap in ONNX Runtime-backed modules, with parity checks."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import DiffusionPipeline
from tqdm.auto import tqdm

from models.families import family_of
from optimize.errors import PassError, PassUnsupported
from optimize.export.graphs import COMPONENTS, SPECS
from optimize.export.modules import WRAPPERS, ExportedComponent, exported_components
from optimize.export.onnx_export import DEFAULT_OPSET, export_component
from optimize.export.ort_runtime import make_session, onnxruntime, provider_for
from optimize.export.parity import parity, torch_references
from optimize.export.recording import (
    CALIBRATION_PROMPTS,
    Recording,
    RecordingPlan,
    default_size,
    record_inputs,
)
from optimize.export.runner import OrtRunner

# A float32 export that differs from torch by more than this (relative to the output's range)
# is broken, not rounded differently: the build fails instead of timing a wrong model.
FP32_TOLERANCE = 1e-2


@dataclass(frozen=True)
class ExportOptions:
    exporter: str = "legacy"
    opset: int = DEFAULT_OPSET


@dataclass(frozen=True)
class SessionSettings:
    """How a component's graph is run; recorded in the manifest so a cache hit runs it the same way."""

    runtime: str = "ort"  # "ort" or "trt"
    provider: str = "auto"  # ort(provider=...) choice
    opt_level: str = "basic"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class WorkDir:
    """A temporary folder for a build's graphs, removed when no module uses it any more."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="diffbench-onnx-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)


def refuse_unexportable(pipeline: DiffusionPipeline) -> None:
    """The export replaces the components the pipeline's family names (`export_components`):
    each needs a graph of its own (graphs.SPECS), and the parity recording runs a text-to-image
    generation, so the text encoder, UNet and VAE (graphs.COMPONENTS) are exported together."""
    wanted = family_of(pipeline).export_components
    if any(name not in SPECS and getattr(pipeline, name, None) is not None for name in wanted):
        raise PassUnsupported(
            f"{type(pipeline).__name__}: ONNX export covers SD 1.x/2.x pipelines (one text encoder, no "
            "added_cond_kwargs); SDXL's second encoder and time ids are not exported yet"
        )
    missing = [
        name
        for name in COMPONENTS
        if name not in wanted or not isinstance(getattr(pipeline, name, None), torch.nn.Module)
    ]
    if missing:
        raise PassUnsupported(f"{type(pipeline).__name__} has no torch {', '.join(missing)} to export")


def parity_recording(pipeline: DiffusionPipeline, prompts: int = 1, steps: int = 2) -> Recording:
    plan = RecordingPlan(size=default_size(pipeline), steps=steps, prompts=CALIBRATION_PROMPTS[:prompts])
    return record_inputs(pipeline, plan, "recording parity inputs")


def open_component(
    component: str,
    path: Path,
    config: Any,
    device: torch.device,
    settings: SessionSettings,
    workdir: WorkDir | None = None,
    optimized_path: Path | None = None,
) -> ExportedComponent:
    """The wrapper module for one graph file; `optimized_path`: ORT also saves its optimised graph."""
    if settings.runtime == "trt":
        from optimize.export.tensorrt_engine import EngineRunner

        runner: Any = EngineRunner.load(path, device)
    else:
        provider = _provider(device, settings.provider)
        session = make_session(path, device, provider, settings.opt_level, optimized_path)
        runner = OrtRunner(session, device)
    wrapper = WRAPPERS[component](runner, config, optimized_path or path, device)
    wrapper.settings = settings
    wrapper.workdir = workdir
    return wrapper


def release_runner(part: ExportedComponent) -> None:
    """Close the component's session (or engine) before its graph is transformed or reopened.

    A session holds the graph's weights (3.4 GB for the sd15 UNet, plus ORT's prepacked copies);
    a pass that replaces the component has no further use for it, and keeping it open while
    the quantiser or the next session loads the same weights doubled the build's memory.
    `part` is replaced right after; its graph file, config and parity references stay."""
    close = getattr(part.runner, "close", None)
    if callable(close):
        close()  # a TensorRT engine frees its parts in the order TensorRT needs
    part.runner = None


def replace_graph(
    part: ExportedComponent,
    path: Path,
    device: torch.device,
    settings: SessionSettings,
    optimized_path: Path | None = None,
) -> ExportedComponent:
    """A new wrapper for a transformed graph of the same component, keeping its torch references;
    `part`'s own session is closed first (one session per component at a time)."""
    release_runner(part)
    wrapper = open_component(
        part.component, path, part.config, device, settings, part.workdir, optimized_path
    )
    wrapper.parity_cases = part.parity_cases
    return wrapper


def _provider(device: torch.device, choice: str) -> str:
    """`auto` takes CUDA where this onnxruntime has it, else the CPU (and the row says so)."""
    wanted = provider_for(device, choice)
    if choice == "auto" and wanted not in onnxruntime().get_available_providers():
        return provider_for(torch.device("cpu"), "auto")
    return wanted


def export_pipeline(
    pipeline: DiffusionPipeline,
    device: torch.device,
    checks: dict[str, Any],
    options: ExportOptions,
    settings: SessionSettings,
    recording: Recording | None = None,
) -> DiffusionPipeline:
    """Replace the components the family exports (SD: the text encoder, UNet and VAE) with
    exported modules; parity recorded in `checks`.

    Every component is exported (and torch's parity references taken) before any session is
    opened: the exporter's transient copies of a component (its graph serialised in memory,
    folded constants) then never sit beside the sessions of the others."""
    refuse_unexportable(pipeline)
    onnxruntime()  # fail early, naming the extra, before minutes of export
    recording = recording or parity_recording(pipeline)
    workdir = WorkDir()
    report: dict[str, Any] = {"exporter": options.exporter, "opset": options.opset, "parity": {}}
    exported: dict[str, tuple[Path, Any, str, list[Any]]] = {}
    for component in tqdm(
        family_of(pipeline).export_components,
        desc=f"onnx export ({options.exporter})",
        unit="component",
        leave=False,
    ):
        module = getattr(pipeline, component)
        path = export_component(
            component,
            module,
            recording[component][0],
            workdir.path / component,
            options.exporter,
            options.opset,
        )
        cases = torch_references(component, module, recording[component][:4])
        exported[component] = (path, module.config, type(module).__name__, cases)
        del module
    for component, (path, config, module_class, cases) in exported.items():
        wrapper = open_component(component, path, config, device, settings, workdir)
        wrapper.parity_cases = cases
        check = parity(wrapper.runner, wrapper.parity_cases)
        report["parity"][component] = check
        if not check["max_rel"] <= FP32_TOLERANCE:
            raise PassError(
                f"onnx export of {component} ({module_class}) does not match torch: max relative "
                f"error {check['max_rel']:.3g} > {FP32_TOLERANCE} (max abs {check['max_abs']:.3g})"
            )
        setattr(pipeline, component, wrapper)
    checks["onnx"] = report
    record_providers(pipeline, checks)
    return pipeline


def ensure_exported(
    pipeline: DiffusionPipeline,
    device: torch.device,
    checks: dict[str, Any],
    recording: Recording | None = None,
) -> DiffusionPipeline:
    """`ort`, `ort-int8` and `trt` on their own export with `onnx`'s defaults first."""
    if exported_components(pipeline):
        return pipeline
    return export_pipeline(pipeline, device, checks, ExportOptions(), SessionSettings(), recording)


def record_providers(pipeline: DiffusionPipeline, checks: dict[str, Any]) -> None:
    checks["providers"] = {name: part.provider for name, part in exported_components(pipeline).items()}
