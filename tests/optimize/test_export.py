"""ONNX export, ONNX Runtime variants, int8, TensorRT (skipped without it), and their cache entries.

One `onnx` build of tiny-sd is shared by the module (about 15 s); the rest reuses its graphs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from helpers.tool_scripts import load_tool

from bench.collectors.runtime_provider import provider_label
from bench.generate import generate
from bench.instruments.quality import psnr
from bench.instruments.stages import StageRecorder
from bench.workload import make_workload
from optimize import PassError, PassUnsupported, build_variant, parse_recipe
from optimize.cache import MANIFEST
from optimize.cpu_features import reduce_range_for
from optimize.export.modules import OnnxTextEncoder, OnnxUNet, OnnxVaeDecoder, exported_components
from optimize.export.onnx_export import export_component
from optimize.export.ort_runtime import make_session
from optimize.export.parity import parity
from optimize.export.quantize import quantize
from optimize.export.recording import CALIBRATION_PROMPTS, RecordingPlan, record_inputs
from optimize.export.runner import OrtRunner
from optimize.export.scratch import scratch_directory

ROOT = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")
WORKLOAD = make_workload("64", 3, 1, 7.5, "euler", "a red fox in the snow", 0)


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    from optimize import VariantCache

    return VariantCache(tmp_path_factory.mktemp("export") / "variants")


@pytest.fixture(scope="module")
def onnx_variant(tiny_model, module_cache):
    return build_variant(tiny_model, parse_recipe("onnx"), CPU, module_cache)


@pytest.fixture(scope="module")
def torch_image(tiny_model, module_cache):
    baseline = build_variant(tiny_model, parse_recipe("fp32"), CPU, module_cache)
    baseline.pipeline.set_progress_bar_config(disable=True)
    return generate(baseline.pipeline, WORKLOAD, CPU)


def test_parity_with_torch_is_recorded_per_component(onnx_variant):
    checks = onnx_variant.manifest["checks"]
    assert checks["onnx"]["exporter"] == "legacy"
    parity = checks["onnx"]["parity"]
    assert set(parity) == {"text_encoder", "unet", "vae"}
    for component, check in parity.items():
        assert check["samples"] >= 1, component
        assert check["max_rel"] < 1e-4, (component, check)
        assert 0 <= check["max_abs"] < 1e-3, (component, check)
    assert checks["providers"] == {
        "text_encoder": "CPUExecutionProvider",
        "unet": "CPUExecutionProvider",
        "vae": "CPUExecutionProvider",
    }


def test_pipeline_runs_on_onnx_components_with_callbacks_and_stage_hooks(onnx_variant, torch_image):
    pipeline = onnx_variant.pipeline
    pipeline.set_progress_bar_config(disable=True)
    assert isinstance(pipeline.unet, OnnxUNet)
    assert isinstance(pipeline.vae, OnnxVaeDecoder)
    assert isinstance(pipeline.text_encoder, OnnxTextEncoder)
    assert not any(isinstance(p, torch.nn.Parameter) for p in pipeline.unet.parameters())
    with StageRecorder(pipeline, CPU) as stages:
        image = generate(pipeline, WORKLOAD, CPU, stages)
    summary = stages.summary()
    assert len(stages.generations[0].step_s) == WORKLOAD.steps  # callback_on_step_end fired each step
    assert summary["text_encoder_s"] > 0 and summary["vae_decode_s"] > 0 and summary["step_median_ms"] > 0
    assert psnr(image, torch_image) > 40.0
    assert provider_label(pipeline) == "CPUExecutionProvider"


def test_wrappers_honour_return_dict_like_the_modules_they_replace(onnx_variant, tiny_model):
    unet, vae = onnx_variant.pipeline.unet, onnx_variant.pipeline.vae
    sample = torch.randn(2, 4, 8, 8)
    hidden = torch.randn(2, 77, tiny_model.pipeline.unet.config.cross_attention_dim)
    as_output = unet(sample, torch.tensor(500), encoder_hidden_states=hidden).sample
    (as_tuple,) = unet(sample, 500, encoder_hidden_states=hidden, return_dict=False)
    reference = tiny_model.pipeline.unet(sample, torch.tensor(500), encoder_hidden_states=hidden).sample
    assert torch.allclose(as_output, as_tuple) and torch.allclose(as_output, reference, atol=1e-4)
    decoded = vae.decode(torch.randn(1, 4, 8, 8)).sample
    assert decoded.shape == (1, 3, 64, 64)
    assert vae.config.scaling_factor == tiny_model.pipeline.vae.config.scaling_factor
    with pytest.raises(PassError, match="timestep_cond"):
        unet(sample, 500, encoder_hidden_states=hidden, timestep_cond=torch.ones(2, 4))


def test_second_build_loads_graphs_from_the_cache(onnx_variant, tiny_model, module_cache):
    again = build_variant(tiny_model, parse_recipe("onnx"), CPU, module_cache)
    assert again.cache_hit and not onnx_variant.cache_hit
    artefacts = again.manifest["artefacts"]
    assert {"unet/model.onnx", "unet/model.onnx.data", "vae/model.onnx", "text_encoder/model.onnx"} <= set(
        artefacts
    )
    assert again.manifest["graphs"]["unet"]["settings"] == {
        "runtime": "ort",
        "provider": "auto",
        "opt_level": "basic",
    }
    assert isinstance(again.pipeline.unet, OnnxUNet)


def test_truncated_onnx_in_the_cache_is_detected_and_rebuilt(tiny_model, module_cache, onnx_variant):
    folder = module_cache.folder(onnx_variant.manifest["key"])
    data = folder / "unet" / "model.onnx.data"
    # A new, shorter file in its place (an interrupted copy); the build's own graph is a hard link to
    # the old inode, so rewriting in place would truncate that too.
    truncated = data.with_suffix(".partial")
    truncated.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    truncated.replace(data)
    with pytest.warns(UserWarning, match="corrupt"):
        rebuilt = build_variant(tiny_model, parse_recipe("onnx"), CPU, module_cache)
    assert rebuilt.cache_hit is False
    manifest = json.loads((folder / MANIFEST).read_text())
    assert (
        manifest["artefacts"]["unet/model.onnx.data"]["bytes"]
        == (folder / "unet/model.onnx.data").stat().st_size
    )


def test_ort_saves_the_optimised_graph_and_reloads_it_from_the_cache(tiny_model, module_cache, torch_image):
    built = build_variant(tiny_model, parse_recipe("onnx+ort"), CPU, module_cache)
    report = built.manifest["checks"]["ort"]
    assert report["opt"] == "all" and report["parity"]["unet"]["max_rel"] < 1e-4
    assert built.manifest["graphs"]["unet"]["settings"]["opt_level"] == "all"
    again = build_variant(tiny_model, parse_recipe("onnx+ort"), CPU, module_cache)
    assert again.cache_hit
    images = []
    for variant in (built, again):
        variant.pipeline.set_progress_bar_config(disable=True)
        images.append(generate(variant.pipeline, WORKLOAD, CPU))
    assert psnr(images[0], torch_image) > 40.0 and psnr(images[1], images[0]) > 60.0


def test_dynamic_int8_quantises_only_constant_weight_matmuls(onnx_variant, tmp_path):
    source = onnx_variant.pipeline.unet.onnx_path
    target = quantize(source, tmp_path / "int8", "dynamic", "matmul")
    ops = {node.op_type for node in onnx.load(str(target), load_external_data=False).graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops
    assert "ConvInteger" not in ops  # Conv stays float: quantising it is slower on CPU


def test_static_int8_is_calibrated_on_inputs_recorded_from_denoising_runs(tiny_model, onnx_variant, tmp_path):
    plan = RecordingPlan(size=64, steps=2, prompts=CALIBRATION_PROMPTS[:1])
    recording = record_inputs(tiny_model.pipeline, plan)
    # Hooks on the torch modules: one text-encoder call per CFG half, one UNet call per step, one decode.
    assert [len(recording[name]) for name in ("text_encoder", "unet", "vae")] == [2, 2, 1]
    assert recording["unet"][0]["sample"].shape == (2, 4, 8, 8)  # both CFG halves in one batch
    assert not tiny_model.pipeline.unet._forward_pre_hooks  # the base keeps no hooks
    source = onnx_variant.pipeline.unet.onnx_path
    target = quantize(source, tmp_path / "static", "static", "matmul", recording["unet"])
    ops = {node.op_type for node in onnx.load(str(target), load_external_data=False).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    runner = OrtRunner(make_session(target, CPU, "CPUExecutionProvider", "all"), CPU)
    check = parity(runner, onnx_variant.pipeline.unet.parity_cases)
    assert 0 < check["max_rel"] < 1.0  # quantised: not exact, not garbage


def _quantised_convs(path: Path) -> set[str]:
    """Conv nodes whose weight comes through a DequantizeLinear (QDQ): the quantised ones."""
    graph = onnx.load(str(path), load_external_data=False).graph
    dequantised = {node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    return {node.name for node in graph.node if node.op_type == "Conv" and node.input[1] in dequantised}


def test_static_int8_normed_quantises_resnet_convs_only(tiny_model, onnx_variant, tmp_path):
    plan = RecordingPlan(size=64, steps=4, prompts=CALIBRATION_PROMPTS[:2])
    calibration = record_inputs(tiny_model.pipeline, plan)["unet"]
    source = onnx_variant.pipeline.unet.onnx_path
    errors = {}
    for ops in ("normed", "all"):
        # reduce_range pinned, not chosen for this CPU: with 7-bit weights the u8s8 products
        # never saturate, so an AVX2 CPU (VPMADDUBSW, int16 pairs) and a VNNI one (int32) compute
        # the same integers and the errors below hold on either ISA.
        target = quantize(source, tmp_path / ops, "static", ops, calibration, reduce_range=True)
        convs = _quantised_convs(target)
        if ops == "normed":
            assert convs and all(re.search(r"/resnets\.\d+/conv[12]/", name) for name in convs)
            assert not any("conv_in" in name or "shortcut" in name for name in convs)
        runner = OrtRunner(make_session(target, CPU, "CPUExecutionProvider", "all"), CPU)
        errors[ops] = parity(runner, onnx_variant.pipeline.unet.parity_cases)["max_rel"]
    # Measured on tiny-sd with 7-bit weights: 0.028 against 0.317 (the latent's range grows from
    # step to step), the same to 3 digits on AVX-512+VNNI and on an emulated AVX2 EPYC (qemu
    # -cpu EPYC-Rome). Full-range weights there saturate: 0.149 against 0.526 (0.171 against
    # 0.437 on the real AVX2 VM), the failure this pin removes.
    assert errors["normed"] < errors["all"] / 3, errors


def _max_weight_code(path: Path, op_type: str) -> int:
    """The largest |int8 code| among the constant int8 inputs of `op_type` nodes."""
    from onnx import numpy_helper

    graph = onnx.load(str(path), load_external_data=True).graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    codes = [
        int(np.abs(weights[name].astype(np.int32)).max())
        for node in graph.node
        if node.op_type == op_type
        for name in node.input
        if name in weights and weights[name].dtype == np.int8
    ]
    assert codes, f"no int8 weight feeds a {op_type}"
    return max(codes)


def test_reduce_range_quantises_weights_to_seven_bits(onnx_variant, tmp_path):
    source = onnx_variant.pipeline.unet.onnx_path
    full = quantize(source, tmp_path / "full", "dynamic", "matmul", reduce_range=False)
    reduced = quantize(source, tmp_path / "reduced", "dynamic", "matmul", reduce_range=True)
    # 7 bits keep a u8 x s8 pair within int16 (2 x 255 x 64 < 32767): no saturation without VNNI.
    assert _max_weight_code(reduced, "MatMulInteger") <= 64 < _max_weight_code(full, "MatMulInteger")


def test_normed_int8_refuses_a_graph_whose_conv_names_it_cannot_read(tmp_path):
    from onnx import TensorProto, helper

    from optimize.export.quantize import convs_outside_normed

    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 1, 1], [1.0])
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv2d_7")
    graph = helper.make_graph(
        [conv],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 2, 2])],
        [weight],
    )
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(PassError, match=r"conv2d_7.*exporter=legacy.*ops=all"):
        convs_outside_normed(path)


def test_ort_int8_variant_records_its_parity_and_runs(tiny_model, module_cache, torch_image):
    variant = build_variant(tiny_model, parse_recipe("ort-int8"), CPU, module_cache)
    report = variant.manifest["checks"]["ort-int8"]
    assert report["mode"] == "dynamic" and report["ops"] == ["MatMul", "Gemm"]
    # Chosen for the CPU it was built on, and said why (the choice itself: test_cpu_features.py).
    assert report["reduce_range"] == reduce_range_for(CPU)
    assert report["reduce_range_basis"].startswith("7-bit" if report["reduce_range"] else "full-range")
    assert set(report["parity"]) == {"text_encoder", "unet", "vae"}
    assert report["parity"]["vae"]["max_rel"] < 1e-4  # only the UNet is quantised
    variant.pipeline.set_progress_bar_config(disable=True)
    image = generate(variant.pipeline, WORKLOAD, CPU)
    assert np.isfinite(image).all() and psnr(image, torch_image) > 15.0


def test_exported_variants_report_params_as_not_measured(onnx_variant, tiny_model, module_cache):
    # The graphs hold the weights as initialisers: counting torch parameters would give 0.
    assert all(
        getattr(m, "weights_outside_torch", False)
        for m in exported_components(onnx_variant.pipeline).values()
    )
    assert onnx_variant.params is None
    baseline = build_variant(tiny_model, parse_recipe("fp32"), CPU, module_cache)
    assert baseline.params == sum(p.numel() for p in tiny_model.pipeline.unet.parameters()) + sum(
        p.numel() for name in ("text_encoder", "vae") for p in getattr(tiny_model.pipeline, name).parameters()
    )


def test_scratch_directory_swallows_files_written_to_the_cwd(tmp_path, monkeypatch):
    home = tmp_path / "checkout"
    home.mkdir()
    monkeypatch.chdir(home)
    with pytest.raises(RuntimeError), scratch_directory() as scratch:
        Path("sym_shape_infer_temp.onnx").write_bytes(b"x")  # what ORT's shape inference does
        assert (scratch / "sym_shape_infer_temp.onnx").exists()
        raise RuntimeError("the tool failed")
    assert Path.cwd() == home and not scratch.exists() and not any(home.iterdir())


def test_ort_graph_tools_leave_nothing_in_the_working_directory(onnx_variant, tmp_path, monkeypatch):
    # Relative output paths on purpose: the tools run in a scratch cwd, so they must be resolved first.
    home = tmp_path / "checkout"
    home.mkdir()
    monkeypatch.chdir(home)
    target = quantize(onnx_variant.pipeline.unet.onnx_path, Path("out/int8"), "dynamic", "matmul")
    assert target.is_absolute() and target.exists() and Path.cwd() == home
    assert sorted(p.name for p in home.iterdir()) == ["out"]  # no sym_shape_infer_temp.onnx, no <uuid>.data
    assert sorted(p.name for p in (home / "out").iterdir()) == ["int8"]


def test_an_operator_the_exporter_cannot_convert_names_the_module(tmp_path):
    class OddUNet(torch.nn.Module):
        """A UNet stand-in with an FFT: ONNX has no operator for aten::fft_fft2 at opset 17."""

        def forward(self, sample, timestep, encoder_hidden_states, return_dict=False):
            return (torch.fft.fft2(sample).real,)

    example = {
        "sample": torch.randn(1, 4, 8, 8),
        "timestep": torch.tensor([1.0]),
        "encoder_hidden_states": torch.randn(1, 77, 8),
    }
    expected = r"onnx export of unet \(OddUNet\) failed with the legacy exporter at opset 17: .*fft_fft2"
    with pytest.raises(PassError, match=expected):
        export_component("unet", OddUNet(), example, tmp_path / "unet", "legacy", 17)
    assert not (tmp_path / "unet").exists()


def test_missing_onnxruntime_names_the_extra_to_install(tiny_model, cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(PassUnsupported, match=r'pip install -c constraints.txt -e "\.\[cpu\]"'):
        build_variant(tiny_model, parse_recipe("ort-int8"), CPU, cache)


@pytest.mark.parametrize(
    ("recipe", "reason"),
    [
        ("bf16+onnx", "export takes the float32 torch model"),
        ("onnx+onnx", "already exported"),
        ("compile+ort", "compiled module can't be exported"),
        ("ort-int8+ort", "runtime passes go onnx\\+ort or ort alone"),
        ("ort(precision=fp16)", "GPU variant"),
        ("ort(provider=cuda)", "runs on a CUDA device"),
    ],
)
def test_recipes_that_cannot_run_here_say_why(recipe, reason):
    assert reason_matches(parse_recipe(recipe).unsupported_reason(CPU), reason)


def reason_matches(text: str | None, pattern: str) -> bool:
    import re

    return text is not None and re.search(pattern, text) is not None


def test_trt_is_unsupported_here_with_the_reason():
    reason = parse_recipe("trt").unsupported_reason(CPU)
    assert reason is not None
    if importlib.util.find_spec("tensorrt") is None:
        assert "tensorrt is not installed" in reason and ".[gpu]" in reason
    else:
        assert "CUDA device" in reason
    int8 = parse_recipe("trt(precision=int8)").unsupported_reason(torch.device("cuda"))
    assert int8 is not None


@pytest.mark.cuda
@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is None, reason="tensorrt is not installed (CUDA only)"
)
@pytest.mark.skipif(not torch.cuda.is_available(), reason="TensorRT engines need a CUDA device")
def test_trt_engines_match_torch_and_run_in_the_pipeline(tiny_model, cache):  # pragma: no cover - GPU only
    device = torch.device("cuda")
    variant = build_variant(
        tiny_model, parse_recipe("trt(precision=fp32,min_size=64,max_size=128)"), device, cache
    )
    checks = variant.manifest["checks"]["trt"]
    assert all(check["max_rel"] < 1e-2 for check in checks["parity"].values())
    assert provider_label(variant.pipeline) == "TensorRT"
    assert {name for name in exported_components(variant.pipeline)} == {"text_encoder", "unet", "vae"}
    image = generate(variant.pipeline, WORKLOAD, device)
    assert np.isfinite(image).all()
    again = build_variant(
        tiny_model, parse_recipe("trt(precision=fp32,min_size=64,max_size=128)"), device, cache
    )
    assert again.cache_hit and "unet/model.engine" in again.manifest["artefacts"]


def test_suite_gives_ok_rows_with_the_provider_and_an_unsupported_trt_row(tmp_path, module_cache):
    # The module's cache: the ort-int8 variant built above is a cache hit here (a fresh one also works).
    env = {**os.environ, "DIFFBENCH_CACHE": str(module_cache.root), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "pytest", "bench/", "-q", "-p", "no:cacheprovider", "--rounds=1"]
    command += [
        "--warmup=0",
        "--variants=ort-int8,trt",
        f"--benchmark-storage={tmp_path}",
        "--benchmark-save=export",
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    run = json.loads(next(tmp_path.rglob("*_export.json")).read_text())
    rows = {b["extra_info"]["variant"]: b["extra_info"] for b in run["benchmarks"]}
    assert rows["ort-int8"]["status"] == "ok" and rows["ort-int8"]["provider"] == "CPUExecutionProvider"
    failed = {r["extra_info"]["variant"]: r["extra_info"] for r in run["diffbench"]["rows"]}
    assert failed["trt"]["status"] == "unsupported"
    assert "tensorrt" in failed["trt"]["reason"].lower()


def test_interleaved_step_latency_times_onnx_runtime_unets_beside_torch(tmp_path, module_cache, onnx_variant):
    step_main = load_tool("step_latency").main

    output = tmp_path / "steps.json"
    arguments = ["--model", "tiny-sd", "--resolution", "64", "--rounds", "2", "--variants", "fp32,onnx"]
    assert step_main([*arguments, "--cache-dir", str(module_cache.root), "--output", str(output)]) == 0
    variants = json.loads(output.read_text())["variants"]
    assert variants["fp32"]["speedup_vs_first"] == 1.0 and variants["fp32"]["provider"] == "torch"
    assert variants["onnx"]["provider"] == "CPUExecutionProvider" and variants["onnx"]["cache_hit"]
    # The session's weights are graph initialisers: not counted rather than counted as 0.
    assert variants["onnx"]["unet_params"] is None and variants["onnx"]["unet_macs_g"] is None
    assert variants["fp32"]["unet_params"] > 0 and variants["fp32"]["unet_macs_g"] > 0
    assert all(len(item["samples_ms"]) == 2 and item["step_median_ms"] > 0 for item in variants.values())


def test_interleaved_step_latency_refuses_a_bad_recipe_in_one_line(tmp_path, capsys):
    step_main = load_tool("step_latency").main

    output = tmp_path / "steps.json"
    arguments = ["--model", "tiny-sd", "--variants", "fp32,ort(opt=fastest)", "--output", str(output)]
    assert step_main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "fastest" in error and not output.exists()


@pytest.mark.parametrize("recipe", ["ort-int8", "ort-int8(mode=static)"])
def test_int8_on_a_pipeline_without_text_encoder_and_vae_is_unsupported_before_any_work(recipe, tmp_path):
    from models import load_model
    from optimize import VariantCache

    ddpm = load_model("tiny-ddpm-ihc")
    # Static mode records calibration inputs first: that must not fail with an AttributeError.
    with pytest.raises(PassUnsupported, match="DDPMPipeline has no torch text_encoder, vae to export"):
        build_variant(ddpm, parse_recipe(recipe), CPU, VariantCache(tmp_path))
