"""TensorRT and ONNX Runtime GPU paths, checked where a CPU can reach them: graph transforms
offline with onnx (tiny-sd's exported graphs), session options and provider lists built
without a session, the engine's shape and dtype rules as pure functions. What needs a GPU or
TensorRT itself is skipped with the reason."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from optimize import PassError, build_variant, parse_recipe
from optimize.export.ort_runtime import PROVIDERS, make_session
from optimize.export.parity import parity, require_parity
from optimize.export.qdq_tensorrt import symmetric_scale, tensorrt_qdq, tensorrt_qdq_problems, to_tensorrt_qdq
from optimize.export.quantize import quantize
from optimize.export.recording import CALIBRATION_PROMPTS, RecordingPlan, record_inputs
from optimize.export.runner import OrtRunner

CPU = torch.device("cpu")
HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture(scope="module")
def onnx_variant(tiny_model, tmp_path_factory):
    from optimize import VariantCache

    cache = VariantCache(tmp_path_factory.mktemp("trt-ort") / "variants")
    return build_variant(tiny_model, parse_recipe("onnx"), CPU, cache)


@pytest.fixture(scope="module")
def static_int8_unet(tiny_model, onnx_variant, tmp_path_factory):
    """ORT's own static Q/DQ UNet (uint8 activations), as `ort-int8(mode=static)` builds it."""
    plan = RecordingPlan(size=64, steps=2, prompts=CALIBRATION_PROMPTS[:1])
    calibration = record_inputs(tiny_model.pipeline, plan)["unet"]
    folder = tmp_path_factory.mktemp("static-int8")
    source = onnx_variant.pipeline.unet.onnx_path
    return quantize(source, folder / "int8", "static", "normed", calibration)


def _graph(path):
    return onnx.load(str(path), load_external_data=True)


# --- ort-int8(mode=static)+trt(precision=int8): symmetric signed int8 Q/DQ ----------------------


def test_ort_static_graph_is_what_tensorrt_refuses(static_int8_unet):
    problems = tensorrt_qdq_problems(_graph(static_int8_unet))
    assert any("UINT8 zero point" in p for p in problems)
    assert any("int32 DequantizeLinear" in p for p in problems)


def test_trt_qdq_graph_has_signed_int8_zero_points_all_zero_and_still_matches_torch(
    static_int8_unet, onnx_variant, tmp_path
):
    target, counts = tensorrt_qdq(static_int8_unet, tmp_path / "trt-qdq")
    model = _graph(target)
    assert tensorrt_qdq_problems(model) == []
    inits = {init.name: init for init in model.graph.initializer}
    zero_points = [
        inits[node.input[2]]
        for node in model.graph.node
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2
    ]
    assert zero_points and all(z.data_type == TensorProto.INT8 for z in zero_points)
    assert all(not numpy_helper.to_array(z).any() for z in zero_points)
    assert counts["requantised_pairs"] > 0 and counts["biases_dequantised"] > 0
    # Same calibrated ranges, symmetric: ONNX Runtime runs it and it is as close to torch as ORT's own.
    cases = onnx_variant.pipeline.unet.parity_cases
    ours = parity(OrtRunner(make_session(target, CPU, PROVIDERS["cpu"], "all"), CPU), cases)
    ort = parity(OrtRunner(make_session(static_int8_unet, CPU, PROVIDERS["cpu"], "all"), CPU), cases)
    assert ours["max_rel"] < max(3 * ort["max_rel"], 0.05), (ours, ort)
    require_parity("trt(precision=int8)", "unet", ours, "int8")


def test_symmetric_scale_covers_the_calibrated_uint8_range():
    scale, zero = np.array(0.02, np.float32), np.array(100, np.uint8)
    low, high = -100 * 0.02, 155 * 0.02
    assert np.isclose(symmetric_scale(scale, zero) * 127, max(-low, high))


def test_a_quantiser_that_clamped_at_zero_gets_its_relu_back():
    """uint8 with zero point 0 clamps negatives (ORT folds a Relu into it); int8 symmetric would not."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "one"], ["a"], "add"),
            helper.make_node("QuantizeLinear", ["a", "s", "z"], ["q"], "q"),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], "dq"),
        ],
        "g",
        [x],
        [y],
        [
            numpy_helper.from_array(np.array(0.0, np.float32), "one"),
            numpy_helper.from_array(np.array(0.1, np.float32), "s"),
            numpy_helper.from_array(np.array(0, np.uint8), "z"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    feed = {"x": np.array([-1.0, -0.2, 0.5, 2.0], np.float32)}
    import onnxruntime as ort

    before = ort.InferenceSession(model.SerializeToString()).run(None, feed)[0]
    assert to_tensorrt_qdq(model)["relu_restored"] == 1
    after = ort.InferenceSession(model.SerializeToString()).run(None, feed)[0]
    # Same range [0, 25.5], now over 127 steps instead of 255: within half the new step.
    assert (after >= 0).all() and np.allclose(before, after, atol=25.5 / 127 / 2 + 1e-6)


# --- fp16 graphs keep their overflow-prone ops in float32 ---------------------------------------


def _float_input_types(model) -> dict[str, list[int]]:
    """node name -> elem types of its float tensor inputs (after ONNX shape inference)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    types.update({init.name: init.data_type for init in graph.initializer})
    floats = {TensorProto.FLOAT, TensorProto.FLOAT16}
    return {
        node.name: [types[name] for name in node.input if types.get(name) in floats] for node in graph.node
    }


@pytest.mark.parametrize("component", ["unet", "text_encoder"])
def test_plain_fp16_keeps_normalisation_softmax_pow_and_reductions_in_fp32(component, onnx_variant, tmp_path):
    from optimize.export.fp16 import FP32_OPS, plain_fp16

    part = getattr(onnx_variant.pipeline, component)
    target = plain_fp16(part.onnx_path, tmp_path / "fp16")
    model = onnx.load(str(target), load_external_data=True)
    inputs = _float_input_types(model)
    kept = [node for node in model.graph.node if node.op_type in FP32_OPS]
    # The graphs do have such ops (InstanceNormalization for GroupNorm, LayerNormalization, Softmax).
    expected = {
        "unet": {"InstanceNormalization", "Softmax"},
        "text_encoder": {"LayerNormalization", "Softmax"},
    }
    assert expected[component] <= {node.op_type for node in kept}
    assert all(inputs[node.name] and set(inputs[node.name]) == {TensorProto.FLOAT} for node in kept)
    # ... and everything heavy is fp16: the conversion did happen.
    heavy = [node for node in model.graph.node if node.op_type in ("Conv", "MatMul", "Gemm")]
    assert heavy and all(set(inputs[node.name]) == {TensorProto.FLOAT16} for node in heavy)
    # The graph TensorRT's fp16 engines are built from, run by ORT here: within the fp16 bound.
    runner = OrtRunner(make_session(target, CPU, PROVIDERS["cpu"], "basic"), CPU)
    require_parity("trt(precision=fp16)", component, parity(runner, part.parity_cases), "fp16")


def test_a_parity_outside_its_bound_is_one_line_naming_component_and_bound():
    from optimize.export.parity import TOLERANCES, require_parity

    require_parity("trt(precision=fp16)", "unet", {"max_rel": 1e-3, "max_abs": 0.01}, "fp16")
    for bad in (0.2, float("nan"), float("inf")):
        with pytest.raises(PassError) as caught:
            require_parity("trt(precision=fp16)", "unet", {"max_rel": bad, "max_abs": 1.0}, "fp16")
        message = str(caught.value)
        assert "\n" not in message and "unet" in message and str(TOLERANCES["fp16"]) in message


def test_a_parity_failure_fails_the_ort_build(tiny_model, cache, monkeypatch):
    """The same gate the fp16/int8 GPU builds go through, tripped on this CPU by a zero bound."""
    from optimize.export import parity as parity_module

    monkeypatch.setitem(parity_module.TOLERANCES, "fp32", 0.0)
    one_line = r"^ort\(precision=fp32\): \w+ in fp32 does not match torch: [^\n]* > 0\.0 "
    with pytest.raises(PassError, match=one_line):
        build_variant(tiny_model, parse_recipe("ort"), CPU, cache)


# --- ort(provider=tensorrt): no saved graph, CUDA fallback ----------------------------------------


def test_tensorrt_provider_session_falls_back_to_cuda_then_cpu_and_saves_no_graph(tmp_path):
    from optimize.export.ort_runtime import session_plan, writes_optimized_graph

    cuda1 = torch.device("cuda", 1)
    plan = session_plan(cuda1, PROVIDERS["tensorrt"], "all", None, memory_cap=2 << 30)
    names = [p[0] if isinstance(p, tuple) else p for p in plan.providers]
    assert names == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    options = dict(p for p in plan.providers if isinstance(p, tuple))
    assert options["TensorrtExecutionProvider"] == {"device_id": 1, "trt_max_workspace_size": 2 << 30}
    assert options["CUDAExecutionProvider"]["device_id"] == 1
    assert options["CUDAExecutionProvider"]["gpu_mem_limit"] == 2 << 30
    assert plan.options.optimized_model_filepath == ""
    assert not writes_optimized_graph(PROVIDERS["tensorrt"]) and writes_optimized_graph(PROVIDERS["cuda"])
    with pytest.raises(PassError, match="cannot save"):
        session_plan(cuda1, PROVIDERS["tensorrt"], "all", tmp_path / "model.onnx")
    cuda = session_plan(cuda1, PROVIDERS["cuda"], "all", tmp_path / "model.onnx")
    assert [p[0] if isinstance(p, tuple) else p for p in cuda.providers] == names[1:]
    assert cuda.options.optimized_model_filepath == str(tmp_path / "model.onnx")
    assert session_plan(CPU, PROVIDERS["cpu"]).providers == ["CPUExecutionProvider"]


def test_ort_pool_threads_block_instead_of_spinning_after_a_run():
    """Spinning threads kept the cores busy after Run returned and slowed the next variant timed
    (docs/results/2026-12-05-ort-spinning.md): every session the harness makes turns it off."""
    from optimize.export.ort_runtime import session_plan

    for device, provider in ((CPU, PROVIDERS["cpu"]), (torch.device("cuda", 0), PROVIDERS["cuda"])):
        options = session_plan(device, provider).options
        for pool in ("intra_op", "inter_op"):
            assert options.get_session_config_entry(f"session.{pool}.allow_spinning") == "0"


# --- TensorRT engines: shapes in the profile, dtypes from the engine --------------------------------


def test_a_shape_outside_the_engine_profile_is_refused_naming_the_range():
    from optimize.export.tensorrt_engine import ShapeRange, shape_outside_profile

    example = {
        "sample": torch.zeros(2, 4, 64, 64),
        "timestep": torch.zeros(2),
        "encoder_hidden_states": torch.zeros(2, 77, 768),
    }
    shapes = ShapeRange(min_size=256, opt_size=512, max_size=1024, max_batch=4, vae_scale=8)
    low, _, high = shapes.profile("unet", example)["sample"]
    assert (low, high) == ((1, 4, 32, 32), (8, 4, 128, 128))
    assert shape_outside_profile("sample", (2, 4, 64, 64), low, high) is None
    # The suite's default 64 px: an 8x8 latent, under the 256 px (32x32) minimum.
    reason = shape_outside_profile("sample", (2, 4, 8, 8), low, high)
    assert reason is not None and "[1, 4, 32, 32]..[8, 4, 128, 128]" in reason and "[2, 4, 8, 8]" in reason
    assert shape_outside_profile("sample", (16, 4, 64, 64), low, high) is not None
    assert shape_outside_profile("sample", (2, 64, 64), low, high) is not None


def test_engine_dtypes_map_to_torch_and_unknown_ones_are_refused():
    from optimize.export.tensorrt_engine import torch_dtype

    assert torch_dtype("DataType.HALF") == torch.float16
    assert torch_dtype("FLOAT") == torch.float32 and torch_dtype("INT64") == torch.int64
    with pytest.raises(PassError, match="FP8"):
        torch_dtype("DataType.FP8")


# --- VRAM: where an exported variant's memory is seen, and whether it is capped -------------------------


def test_vram_accounting_says_ort_on_cuda_is_read_by_nvml_and_not_capped():
    from optimize.export.vram import NVML_DEVICE_DELTA, TORCH_ALLOCATOR, vram_accounting

    ort = vram_accounting(["CUDAExecutionProvider", "TensorRT"], "cuda", 3 << 30)
    assert ort["vram_source"] == NVML_DEVICE_DELTA and ort["vram_capped"] is False
    assert "3072 MiB per session" in ort["vram_cap_note"]
    trt = vram_accounting(["TensorRT"], "cuda", 3 << 30)
    assert trt == {"vram_source": TORCH_ALLOCATOR, "vram_capped": True, "vram_cap_note": ""}
    assert vram_accounting(["TensorRT"], "cuda", None)["vram_capped"] is False
    assert vram_accounting(["CPUExecutionProvider"], "cpu", None)["vram_source"] == "host"


# --- on a GPU with TensorRT ---------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_TENSORRT, reason="tensorrt is not installed (NVIDIA's index, CUDA only)")
@pytest.mark.skipif(not torch.cuda.is_available(), reason="TensorRT engines need a CUDA device")
def test_trt_int8_from_static_qdq_builds_matches_torch_and_refuses_a_shape_outside_its_profile(
    tiny_model, cache
):  # pragma: no cover - GPU only
    from optimize.export.modules import exported_components

    device = torch.device("cuda")
    recipe = "ort-int8(mode=static)+trt(precision=int8,min_size=64,max_size=128,max_batch=1)"
    variant = build_variant(tiny_model, parse_recipe(recipe), device, cache)
    checks = variant.manifest["checks"]["trt"]
    assert checks["qdq"]["requantised_pairs"] > 0
    unet = exported_components(variant.pipeline)["unet"]
    assert unet.runner.vram_source == "torch-allocator" and torch.cuda.memory_allocated(device) > 0
    too_small = {
        "sample": torch.zeros(2, 4, 4, 4, device=device),
        "timestep": torch.zeros(2, device=device),
        "encoder_hidden_states": unet.parity_cases[0].inputs["encoder_hidden_states"].to(device),
    }
    with pytest.raises(PassError, match=r"outside the engine's profile \[1, 4, 8, 8\]"):
        unet.runner.run(too_small, [(2, 4, 4, 4)])
