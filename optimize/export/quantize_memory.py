"""Quantisation's graph preparation without holding the weights in Python.

ORT's `quant_pre_process` loads the whole model (`onnx.load`, weights included), keeps it while
an ORT session optimises the same file, then loads the optimised model again to save it: two to
three copies of the UNet (3.4 GB each for sd15). Its three steps need only the graph:
- clearing `graph.value_info` (the dynamo exporter's entries break the quantiser);
- ORT's basic graph optimisation, which ORT does from the file to a file;
- ONNX shape inference, which `infer_shapes_path` does on the graph file.
So `prepare_on_files` does them with the weights left on disk (one ORT session at a time).

ORT's dynamic quantiser re-infers shapes after turning Gemm into MatMul by
`save_and_reload_model_with_shape_infer`: a deep copy of the model, saved, then loaded back
(three copies of the weights at once). `graph_only_shape_inference` replaces it for the call:
shapes are inferred on a copy of the graph whose large initialisers are references only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from optimize.export.onnx_export import DATA_FILE, INLINE_LIMIT, MODEL_FILE
from optimize.export.ort_runtime import make_session
from optimize.export.scratch import scratch_directory


def prepare_on_files(source: Path, folder: Path) -> Path:
    """value_info cleared, ORT's basic optimisation, ONNX shape inference: `folder/prepared/model.onnx`.

    The same steps as `quant_pre_process(skip_symbolic_shape=True)`, with the weights never
    loaded into Python. `source` and `folder` must be absolute (the tools run in a scratch cwd)."""
    import onnx
    from onnxruntime.quantization.quant_utils import add_pre_process_metadata

    cleared = folder / "cleared"
    cleared.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(source), load_external_data=False)
    del model.graph.value_info[:]
    onnx.save_model(model, str(cleared / MODEL_FILE))  # the graph; its tensors still point to DATA_FILE
    del model
    _link_data(source.parent / DATA_FILE, cleared / DATA_FILE)
    prepared = folder / "prepared" / MODEL_FILE
    prepared.parent.mkdir(parents=True, exist_ok=True)
    with scratch_directory():
        # ORT reads the weights from disk and writes the optimised graph with its own data file.
        session = make_session(
            cleared / MODEL_FILE, torch.device("cpu"), "CPUExecutionProvider", "basic", prepared
        )
        del session
        inferred = prepared.with_name("inferred.onnx")  # beside its data file, which it refers to
        onnx.shape_inference.infer_shapes_path(str(prepared), str(inferred))
    model = onnx.load(str(inferred), load_external_data=False)
    add_pre_process_metadata(model)  # what the quantiser checks to skip its "pre-process first" warning
    onnx.save_model(model, str(prepared))
    inferred.unlink()
    return prepared


def _link_data(source: Path, target: Path) -> None:
    """The weights beside the cleared graph: a hard link, even to a file the variant cache links too
    (only ORT reads it; onnx's loader, which refuses multiply-linked data, never does)."""
    try:
        os.link(source, target)
    except OSError:
        import shutil

        shutil.copyfile(source, target)


def graph_only_copy(model: Any) -> Any:
    """The model with every initialiser of INLINE_LIMIT bytes or more reduced to a reference:
    name, type and shape kept, data marked external (shape inference reads small constants only)."""
    import onnx

    light = onnx.ModelProto()
    _copy_fields(model, light, skip="graph")
    graph, light_graph = model.graph, light.graph
    _copy_fields(graph, light_graph, skip="initializer")
    for tensor in graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.ByteSize() < INLINE_LIMIT:
            light_graph.initializer.append(tensor)
            continue
        reference = light_graph.initializer.add()
        reference.name, reference.data_type = tensor.name, tensor.data_type
        reference.dims.extend(tensor.dims)
        reference.data_location = onnx.TensorProto.EXTERNAL
        entry = reference.external_data.add()
        entry.key, entry.value = "location", "not-loaded"
    return light


def _copy_fields(source: Any, target: Any, skip: str) -> None:
    """Every set field of a protobuf message but `skip` (copies of the values, not the message)."""
    for descriptor, value in source.ListFields():
        if descriptor.name == skip:
            continue
        field = getattr(target, descriptor.name)
        if descriptor.is_repeated:
            field.extend(value)
        elif descriptor.message_type is not None:
            field.CopyFrom(value)
        else:
            setattr(target, descriptor.name, value)


def infer_shapes_in_place(model: Any) -> Any:
    """What ORT's `save_and_reload_model_with_shape_infer` returns (the model, its value_info
    inferred, tagged as inferred), without copying the weights."""
    import onnx
    from onnxruntime.quantization.quant_utils import add_infer_metadata

    inferred = onnx.shape_inference.infer_shapes(graph_only_copy(model))
    del model.graph.value_info[:]
    model.graph.value_info.extend(inferred.graph.value_info)
    add_infer_metadata(model)
    return model


@contextlib.contextmanager
def graph_only_shape_inference() -> Iterator[None]:
    """Inside the block, ORT's quantiser re-infers shapes with `infer_shapes_in_place`.

    Patched on the module that calls it (onnx_quantizer imports the function by name); where a
    future onnxruntime no longer has it there, nothing is patched and ORT does its own."""
    from onnxruntime.quantization import onnx_quantizer

    name = "save_and_reload_model_with_shape_infer"
    original = getattr(onnx_quantizer, name, None)
    if original is None:
        yield
        return
    setattr(onnx_quantizer, name, infer_shapes_in_place)
    try:
        yield
    finally:
        setattr(onnx_quantizer, name, original)
