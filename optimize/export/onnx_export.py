"""torch module -> ONNX file (one folder per component: model.onnx + model.onnx.data).

Two exporters: `legacy` (TorchScript tracing, `dynamo=False`) and `dynamo` (torch.export +
onnxscript). Both export these diffusers modules with the same parity; legacy takes seconds
where dynamo takes minutes on a 2-core CPU (tiny-sd UNet: 8 s vs 106 s), so it is the default.
Weights always go to one external data file, so the 3.4 GB fp32 sd15 UNet (over protobuf's
2 GB limit) and a 2 MB toy model are stored the same way.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import warnings
from pathlib import Path

import torch

from optimize.errors import PassError
from optimize.export.graphs import SPECS
from optimize.export.recording import Inputs

EXPORTERS = ("legacy", "dynamo")
DEFAULT_OPSET = 17
MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"


def export_component(
    component: str, module: torch.nn.Module, example: Inputs, folder: Path, exporter: str, opset: int
) -> Path:
    """Export `module` (the pipeline's torch component) to `folder/model.onnx`; PassError names
    the component and its class when the exporter fails (an operator it can't convert, ...)."""
    spec = SPECS[component]
    graph = spec.wrapper(module).eval()
    args = tuple(example[name] for name in spec.inputs)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    try:
        with warnings.catch_warnings(), torch.no_grad(), _quiet():
            # Tracer warnings about Python bools in diffusers' code are about shapes we mark dynamic.
            warnings.simplefilter("ignore")
            if exporter == "legacy":
                torch.onnx.export(
                    graph,
                    args,
                    str(path),
                    dynamo=False,
                    input_names=list(spec.inputs),
                    output_names=list(spec.outputs),
                    dynamic_axes=spec.legacy_dynamic_axes(),
                    opset_version=opset,
                    do_constant_folding=True,
                )
            else:
                torch.onnx.export(
                    graph,
                    args,
                    str(path),
                    dynamo=True,
                    input_names=list(spec.inputs),
                    output_names=list(spec.outputs),
                    dynamic_shapes=spec.dynamo_dynamic_shapes(),
                    opset_version=opset,
                    external_data=True,
                    optimize=True,
                )
    except Exception as error:
        shutil.rmtree(folder, ignore_errors=True)
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise PassError(
            f"onnx export of {component} ({type(module).__name__}) failed with the {exporter} exporter "
            f"at opset {opset}: {type(error).__name__}: {first_line}"
        ) from error
    _single_data_file(path)
    return path


@contextlib.contextmanager
def _quiet():
    """The exporters print progress and diagnostics to stdout; the harness's output stays readable."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _single_data_file(path: Path) -> None:
    """All initialisers in one `model.onnx.data` beside the graph (the legacy exporter writes one
    file per tensor when a model is over 2 GB, and inlines them below)."""
    import onnx

    model = onnx.load(str(path), load_external_data=True)
    for stale in path.parent.iterdir():
        stale.unlink()
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=DATA_FILE,
        size_threshold=1024,
    )


def component_files(path: Path) -> list[Path]:
    """The graph and its external data: everything in the component's folder."""
    return sorted(p for p in path.parent.iterdir() if p.is_file())
