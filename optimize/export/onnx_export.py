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
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

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
    """All initialisers in one `model.onnx.data` beside the graph, copied there tensor by tensor.

    The legacy exporter writes one file per tensor when a model is over 2 GB and inlines them
    below. The graph is read without its external data and each tensor's bytes are streamed
    into the one file: the weights are never all in memory (loading them took the whole model,
    3.4 GB for the sd15 UNet, beside the source model and the sessions already open)."""
    import onnx

    folder = path.parent
    model = onnx.load(str(path), load_external_data=False)
    data = folder / (DATA_FILE + ".tmp")
    with open(data, "wb") as out:
        for tensor in model.graph.initializer:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                offset = out.tell()
                _copy_external(tensor, folder, out)
            elif tensor.HasField("raw_data") and tensor.ByteSize() >= INLINE_LIMIT:
                offset = out.tell()
                out.write(tensor.raw_data)
                tensor.ClearField("raw_data")
            else:
                continue
            _point_to(tensor, offset, out.tell() - offset)
    if any(_external_attributes(model.graph)):
        raise PassError(f"{path}: the exporter put a node attribute's tensor in external data; not supported")
    graph = folder / (MODEL_FILE + ".tmp")
    onnx.save_model(model, str(graph))  # the graph alone: every large tensor is external now
    for stale in folder.iterdir():
        if stale not in (data, graph):
            stale.unlink()
    os.replace(data, folder / DATA_FILE)
    os.replace(graph, path)


# Tensors smaller than this stay inside the graph (shape constants and the like), as onnx's own saver does.
INLINE_LIMIT = 1024
_CHUNK = 16 << 20


def _point_to(tensor: Any, offset: int, length: int) -> None:
    """The tensor's data is `length` bytes at `offset` of DATA_FILE (onnx's external-data fields)."""
    import onnx

    del tensor.external_data[:]
    for key, value in (("location", DATA_FILE), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    tensor.data_location = onnx.TensorProto.EXTERNAL


def _copy_external(tensor: Any, folder: Path, out: BinaryIO) -> None:
    """Append the tensor's external bytes to `out`, a chunk at a time; its file must be in `folder`."""
    fields = {item.key: item.value for item in tensor.external_data}
    source = (folder / fields["location"]).resolve()
    if source.parent != folder.resolve():
        raise PassError(f"{tensor.name}: external data {fields['location']!r} is outside {folder}")
    with open(source, "rb") as reader:
        reader.seek(int(fields.get("offset", 0)))
        remaining = int(fields["length"]) if "length" in fields else None
        while remaining is None or remaining > 0:
            chunk = reader.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
            if not chunk:
                break
            out.write(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    if remaining:
        raise PassError(f"{tensor.name}: external data {source.name} is {remaining} bytes short")


def _external_attributes(graph: Any) -> Iterator[Any]:
    """Node attribute tensors kept in external data (the exporters inline them)."""
    import onnx

    for node in graph.node:
        for attribute in node.attribute:
            single = [attribute.t] if attribute.HasField("t") else []
            for tensor in [*single, *attribute.tensors]:
                if tensor.data_location == onnx.TensorProto.EXTERNAL:
                    yield tensor


def component_files(path: Path) -> list[Path]:
    """The graph and its external data: everything in the component's folder."""
    return sorted(p for p in path.parent.iterdir() if p.is_file())
