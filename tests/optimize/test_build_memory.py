"""Building an exported variant holds the weights once more than the source, not several times.

Structural checks, one per copy removed (no absolute memory thresholds: those depend on the
machine, and on tiny models the interpreter dwarfs the weights): the export reads the source's
own tensors (no deep copy); graph files are never loaded with their external data; one ONNX
Runtime session per component at a time; ORT's quantiser re-infers shapes without copying the
model. And each build's peak RAM is recorded in the manifest and the row.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx.external_data_helper import convert_model_to_external_data

pytest.importorskip("onnxruntime")

import optimize.export.build as export_build
import optimize.export.quantize_memory as quantize_memory
from bench.instruments.memory import RssSampler
from bench.suite import variant_fields
from models import load_model
from optimize import VariantCache, build_variant, parse_recipe
from optimize.export.build import parity_recording
from optimize.export.onnx_export import DATA_FILE, MODEL_FILE, _single_data_file, export_component
from optimize.export.quantize import prepare, quantize
from optimize.working_copy import working_copy

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny_model():
    return load_model("tiny-sd")


@pytest.fixture(scope="module")
def unet_graph(tiny_model, tmp_path_factory) -> Path:
    recording = parity_recording(tiny_model.pipeline)
    folder = tmp_path_factory.mktemp("unet")
    return export_component("unet", tiny_model.pipeline.unet, recording["unet"][0], folder, "legacy", 17)


@pytest.fixture
def onnx_loads(monkeypatch) -> list[bool]:
    """Whether each onnx.load call loaded external data (onnx's default is to load it)."""
    calls: list[bool] = []
    real = onnx.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("load_external_data", True))
        return real(*args, **kwargs)

    monkeypatch.setattr(onnx, "load", spy)
    monkeypatch.setattr(onnx, "load_model", spy)
    return calls


@pytest.mark.parametrize("recipe", ["onnx", "ort-int8"])
def test_export_builds_record_their_peak_ram_in_the_manifest_and_the_row(tiny_model, tmp_path, recipe):
    with RssSampler() as before:
        pass
    variant = build_variant(
        tiny_model, parse_recipe(recipe), CPU, VariantCache(tmp_path), peak_meter=RssSampler
    )
    recorded = variant.manifest["build_peak_ram_mib"]
    assert isinstance(recorded, float)
    # The process peak includes the resident source model, so never below the RSS before the build.
    assert recorded >= before.start_mib * 0.9
    row = variant_fields(variant)
    assert row["build_peak_ram_mib"] is not None and row["build_peak_ram_mib"] >= recorded


def test_export_recipes_share_the_source_modules_others_get_a_deep_copy(tiny_model):
    source = tiny_model.pipeline
    for recipe in ("onnx", "ort", "ort-int8(mode=static)", "onnx+ort-int8"):
        shared = working_copy(source, parse_recipe(recipe))
        assert shared is not source and shared.unet is source.unet, recipe
        assert shared.scheduler is not source.scheduler  # set_timesteps mutates it
    copied = working_copy(source, parse_recipe("bf16"))
    assert copied.unet.conv_in.weight.data_ptr() != source.unet.conv_in.weight.data_ptr()


def test_the_export_reads_the_source_weights_not_a_copy(tiny_model, tmp_path, monkeypatch):
    """What torch.onnx exported is the source's own tensors (it was a deep copy: 4.3 GB for sd15)."""
    read: dict[str, set[int]] = {}
    real = export_build.export_component

    def spy(component, module, *args, **kwargs):
        read[component] = {p.data_ptr() for p in module.parameters()}
        return real(component, module, *args, **kwargs)

    monkeypatch.setattr(export_build, "export_component", spy)
    build_variant(tiny_model, parse_recipe("onnx"), CPU, VariantCache(tmp_path))
    source = tiny_model.pipeline
    for component in ("text_encoder", "unet", "vae"):
        own = {p.data_ptr() for p in getattr(source, component).parameters()}
        assert read[component] == own, component
    assert isinstance(source.unet, torch.nn.Module) and not hasattr(source.unet, "runner")


def test_single_data_file_streams_per_tensor_files_without_loading_them(tmp_path, onnx_loads):
    """The legacy exporter writes one file per tensor over 2 GB: gathered without loading the weights."""
    weights = {
        f"w{i}": np.random.default_rng(i).standard_normal((64, 64)).astype(np.float32) for i in range(3)
    }
    small = onnx.numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "shape")
    nodes = [onnx.helper.make_node("MatMul", ["x", "w0"], ["h0"])]
    nodes += [onnx.helper.make_node("MatMul", [f"h{i - 1}", f"w{i}"], [f"h{i}"]) for i in (1, 2)]
    nodes.append(onnx.helper.make_node("Reshape", ["h2", "shape"], ["y"]))
    graph = onnx.helper.make_graph(
        nodes,
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 64])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 64])],
        [onnx.numpy_helper.from_array(w, name) for name, w in weights.items()] + [small],
    )
    path = tmp_path / MODEL_FILE
    model = onnx.helper.make_model(graph)
    convert_model_to_external_data(model, all_tensors_to_one_file=False)
    inline = model.graph.initializer[2]  # one large tensor stays inside the graph, as small exports do
    inline.data_location = onnx.TensorProto.DEFAULT
    del inline.external_data[:]
    onnx.save_model(model, str(path))
    assert len(list(tmp_path.iterdir())) == 3
    onnx_loads.clear()

    _single_data_file(path)

    assert onnx_loads and not any(onnx_loads)
    assert sorted(p.name for p in tmp_path.iterdir()) == [MODEL_FILE, DATA_FILE]
    reloaded = onnx.load(str(path), load_external_data=True)
    arrays = {t.name: onnx.numpy_helper.to_array(t) for t in reloaded.graph.initializer}
    for name, expected in weights.items():
        np.testing.assert_array_equal(arrays[name], expected)
    np.testing.assert_array_equal(arrays["shape"], [1, -1])


def test_export_and_preparation_never_load_external_data(tiny_model, unet_graph, tmp_path, onnx_loads):
    recording = parity_recording(tiny_model.pipeline)
    export_component("vae", tiny_model.pipeline.vae, recording["vae"][0], tmp_path / "vae", "legacy", 17)
    prepared = prepare(unet_graph, tmp_path / "work")
    assert onnx_loads and not any(onnx_loads)
    # The prepared graph is complete: shapes inferred, tagged as pre-processed, its weights beside it.
    model = onnx.load(str(prepared), load_external_data=True)
    assert len(model.graph.value_info) > 0
    assert {p.key for p in model.metadata_props} >= {"onnx.quant.pre_process"}


def test_quantiser_shape_inference_matches_orts_without_copying_the_model(unet_graph, tmp_path):
    from onnxruntime.quantization.quant_utils import save_and_reload_model_with_shape_infer

    prepared = prepare(unet_graph, tmp_path / "work")
    model = onnx.load(str(prepared), load_external_data=True)
    del model.graph.value_info[:]
    theirs = save_and_reload_model_with_shape_infer(model)
    ours = quantize_memory.infer_shapes_in_place(model)
    assert ours is model  # same object: no copy of the weights
    assert {v.name: v for v in ours.graph.value_info} == {v.name: v for v in theirs.graph.value_info}
    light = quantize_memory.graph_only_copy(model)
    assert light.ByteSize() < model.ByteSize() / 10


def test_dynamic_quantisation_does_not_reload_the_model(unet_graph, tmp_path, monkeypatch):
    """ORT's own re-inference deep-copies the model and loads it back; ours runs instead."""
    from onnxruntime.quantization import onnx_quantizer, quant_utils

    copies: list[int] = []
    real = quant_utils.save_and_reload_model_with_shape_infer

    def spy(model):
        copies.append(1)
        return real(model)

    monkeypatch.setattr(onnx_quantizer, "save_and_reload_model_with_shape_infer", spy)
    target = quantize(unet_graph, tmp_path / "int8", "dynamic", "matmul", reduce_range=False)
    assert copies == []
    assert onnx_quantizer.save_and_reload_model_with_shape_infer is spy  # restored after the call
    ops = {node.op_type for node in onnx.load(str(target), load_external_data=False).graph.node}
    assert "DynamicQuantizeLinear" in ops or "MatMulInteger" in ops


@pytest.mark.parametrize("recipe", ["ort", "ort-int8"])
def test_one_session_per_component_at_a_time(tiny_model, tmp_path, monkeypatch, recipe):
    """A component's old session is closed before its graph is transformed or a new one opened."""
    live: list[tuple[str, weakref.ref]] = []
    overlaps: list[str] = []

    def spying(real):
        def make_session(model_path, *args, **kwargs):
            component = Path(model_path).parent.name.split("-")[0]
            if Path(model_path).parent.parent.name.endswith("-work"):
                component = Path(model_path).parent.parent.name.split("-")[0]
            overlaps.extend(component for name, ref in live if name == component and ref() is not None)
            session = real(model_path, *args, **kwargs)
            live.append((component, weakref.ref(session)))
            return session

        return make_session

    monkeypatch.setattr(export_build, "make_session", spying(export_build.make_session))
    monkeypatch.setattr(quantize_memory, "make_session", spying(quantize_memory.make_session))
    build_variant(tiny_model, parse_recipe(recipe), CPU, VariantCache(tmp_path))
    assert len(live) > 3  # the export's three sessions, then the pass's own
    assert overlaps == []
