"""Hardware profiles: detection, emulation rules, user TOML, memory estimate, projection arithmetic."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers.suite_inprocess import FakeBenchmark, tiny_suite_config
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from bench.profiles.calibration import Calibration, calibrate_from_runs, load_calibration
from bench.profiles.cost import OpCost, Trace, meta_state, trace_call
from bench.profiles.detect import DeviceDescription, detect_class
from bench.profiles.errors import ProfileError
from bench.profiles.estimate import WORKSPACE_BYTES, estimate_pipeline
from bench.profiles.fit import fit_fields, fits
from bench.profiles.projection import op_seconds, project, roofline_seconds, trace_seconds
from bench.profiles.select import ProfileSelection, catalogue, plan_emulation, resolve_profile, select_profile
from bench.profiles.table import BUILTIN, Profile
from bench.profiles.user import load_profiles

MIB = 1 << 20
CPU_HOST = DeviceDescription("cpu", "AMD EPYC", 24_000.0)
H100 = DeviceDescription("cuda", "NVIDIA H100 80GB HBM3", 81_559.0, (9, 0))
T4 = DeviceDescription("cuda", "Tesla T4", 15_095.0, (7, 5))


# -- detection ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "memory_mib", "capability", "expected"),
    [
        ("NVIDIA GeForce GTX 1650", 3_911.0, (7, 5), "gtx1650"),
        ("NVIDIA GeForce RTX 3050 Laptop GPU", 3_897.0, (8, 6), "rtx3050-laptop"),
        ("NVIDIA GeForce RTX 3050", 7_966.0, (8, 6), "rtx3050"),
        ("NVIDIA GeForce RTX 3050", 5_928.0, (8, 6), "host"),  # the 6 GB variant fits no class
        ("NVIDIA GeForce RTX 3080", 10_010.0, (8, 6), "rtx3080"),
        ("NVIDIA GeForce RTX 3080", 12_036.0, (8, 6), "rtx3080-12"),
        ("NVIDIA GeForce RTX 3080 Ti", 12_036.0, (8, 6), "host"),
        ("NVIDIA H100 80GB HBM3", 81_559.0, (9, 0), "host"),
    ],
)
def test_detection_maps_a_device_description_to_its_class(name, memory_mib, capability, expected):
    assert detect_class(DeviceDescription("cuda", name, memory_mib, capability)) == expected


def test_detection_on_cpu_is_cpu_and_auto_resolves_to_it():
    assert detect_class(CPU_HOST) == "cpu"
    selection = select_profile("auto", torch.device("cpu"), host=CPU_HOST)
    assert selection.profile.name == "cpu" and selection.profile.vram_mib == 24_000.0
    assert not selection.emulation.emulated


# -- emulation rules ---------------------------------------------------------------------
def test_a_smaller_card_is_emulated_with_its_memory_less_the_context():
    plan = plan_emulation(BUILTIN["gtx1650"], H100)
    assert plan.emulated
    assert plan.memory_cap_mib == 4096 - BUILTIN["gtx1650"].reserved_mib
    assert plan.memory_fraction == pytest.approx(plan.memory_cap_mib / 81_559.0)


def test_emulating_a_larger_card_is_refused_with_the_reason():
    small_host = DeviceDescription("cuda", "NVIDIA GeForce GTX 1650", 3_911.0, (7, 5))
    with pytest.raises(
        ProfileError, match=r"cannot emulate rtx3080 \(10.0 GiB\) on .*larger than the host GPU"
    ):
        plan_emulation(BUILTIN["rtx3080"], small_host)


def test_emulating_a_card_with_capabilities_the_host_lacks_is_refused():
    with pytest.raises(ProfileError, match="host lacks the profile's capabilities"):
        plan_emulation(BUILTIN["rtx3050"], T4)  # sm_86 (bf16) on sm_75


def test_no_gpu_means_no_emulation_but_says_why():
    plan = plan_emulation(BUILTIN["gtx1650"], CPU_HOST)
    assert not plan.emulated and "no GPU on this machine" in plan.note and plan.memory_fraction is None


def test_the_host_class_itself_is_native():
    host = DeviceDescription("cuda", "NVIDIA GeForce RTX 3080", 10_010.0, (8, 6))
    assert not plan_emulation(BUILTIN["rtx3080"], host).emulated


def test_cpu_profile_needs_the_cpu():
    with pytest.raises(ProfileError, match="--profile cpu runs on the CPU"):
        plan_emulation(catalogue(H100)["cpu"], H100)


def test_an_emulated_turing_card_refuses_bf16_and_keeps_fp16():
    profiles = catalogue(H100)
    selection = ProfileSelection(
        profiles["gtx1650"], H100, plan_emulation(profiles["gtx1650"], H100), profiles
    )
    assert "has no bf16" in (selection.unsupported_reason("bfloat16") or "")
    assert selection.unsupported_reason("float16") is None
    assert selection.storage_key == "gtx1650-on-h100-80gb-hbm3"


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ProfileError) as error:
        resolve_profile("rtx9090", CPU_HOST, catalogue(CPU_HOST))
    message = str(error.value)
    assert "--profile 'rtx9090' is unknown" in message
    assert all(name in message for name in ("gtx1650", "rtx3050-laptop", "rtx3080-12", "cpu", "auto"))


# -- user profiles -----------------------------------------------------------------------
GOOD = """
[rtx3060]
vram_gib = 12
bandwidth_gbs = 360
fp32_tflops = 12.7
fp16_tflops = 25.4
bf16_tflops = 25.4
int8_tops = 101.6
compute_capability = "8.6"
"""


def test_a_user_profile_loads_and_joins_the_catalogue(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    (profile,) = load_profiles(path).values()
    assert profile.vram_mib == 12 * 1024 and profile.bf16 and profile.compute_capability == (8, 6)
    assert "rtx3060" in catalogue(CPU_HOST, path)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (("bandwidth_gbs = 360\n", ""), "misses field 'bandwidth_gbs'"),
        (("fp32_tflops = 12.7", 'fp32_tflops = "fast"'), "field 'fp32_tflops' = 'fast' is not a number"),
        (("vram_gib = 12", "vram_gib = true"), "field 'vram_gib' = True is not a number"),
        (('compute_capability = "8.6"', 'compute_capability = "ampere"'), "'compute_capability' = 'ampere'"),
        (("[rtx3060]", "[rtx3080]"), "'rtx3080' is a built-in profile"),
        (("int8_tops = 101.6", "int8_tops = 101.6\nclock = 3"), "unknown field 'clock'"),
        (('"8.6"', '"7.5"'), "'bf16_tflops' is set but compute capability 7.5 has no bf16"),
        (("fp16_tflops = 25.4", "fp16_tflops = 0"), "field 'fp16_tflops' = 0 must be a positive number"),
    ],
)
def test_bad_profile_fields_are_named_in_one_line(tmp_path, edit, named):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(*edit))
    with pytest.raises(ProfileError) as error:
        load_profiles(path)
    assert named in str(error.value) and str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_not_toml_and_missing_file_are_one_line_errors(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[rtx3060\n")
    with pytest.raises(ProfileError, match="is not valid TOML"):
        load_profiles(path)
    with pytest.raises(ProfileError, match="does not exist"):
        load_profiles(tmp_path / "absent.toml")


def test_cli_bad_profile_file_exits_2_without_traceback(tmp_path, capsys):
    from bench.profiles.__main__ import main

    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("int8_tops = 101.6\n", ""))
    assert main(["--device", "cpu", "--file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "misses field 'int8_tops'" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_lists_profiles_and_the_detected_one(capsys):
    from bench.profiles.__main__ import main

    assert main(["--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in BUILTIN)
    assert "detected: cpu" in out


# -- memory estimate: a model whose peak is known by hand -------------------------------
def _mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(1024, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024))


def test_live_bytes_peak_of_a_hand_computable_model():
    """x [256,1024] fp32 is 1 MiB. In Sequential, linear1's output lives until ReLU returns,
    ReLU's until linear2 returns, and the caller holds x: the peak is 3 MiB, never 4."""
    model = _mlp()
    state = meta_state(model)

    def run():
        x = torch.empty(256, 1024, device="meta")
        return functional_call(model, state, (x,))

    trace = trace_call(run)
    assert trace.peak_bytes == 3 * MIB
    assert trace.live_bytes == 0  # everything freed once the outputs die


def test_frees_views_and_inplace_ops_are_tracked():
    def run():
        kept = torch.empty(1024, 256, device="meta")  # 1 MiB, held to the end
        for _ in range(10):
            temporary = torch.empty(1024, 256, device="meta")  # freed at each rebinding
            view = temporary.t()  # a view: no new bytes
            view.add_(1.0)  # in place: no new bytes
        return kept, temporary

    trace = trace_call(run)
    # kept + the previous temporary (alive while the next one is allocated) + the new one
    assert trace.peak_bytes == 3 * MIB


def test_flops_match_flop_counter_mode():
    model = _mlp()
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(256, 1024))
    state = meta_state(model)
    trace = trace_call(lambda: functional_call(model, state, (torch.empty(256, 1024, device="meta"),)))
    assert trace.flops == counter.get_total_flops() == 2 * 2 * 256 * 1024 * 1024


def test_attention_is_traced_as_one_fused_kernel():
    """No [L, L] attention matrix: the output is the only allocation beyond q, k, v."""

    def run():
        q = torch.empty(2, 8, 4096, 40, device="meta", dtype=torch.float16)
        return torch.nn.functional.scaled_dot_product_attention(q, q, q)

    trace = trace_call(run)
    qkv = 2 * 8 * 4096 * 40 * 2
    # q and the output, plus the kernel's two 8-byte RNG scalars (one 512-byte block each)
    assert trace.peak_bytes == 2 * qkv + 2 * 512
    assert trace.flops == 4 * 2 * 8 * 4096 * 4096 * 40


def test_pipeline_estimate_on_tiny_sd(tiny_model):
    components = tiny_model.pipeline.components
    fp32 = estimate_pipeline(components, 64, 64, steps=4)
    fp16 = estimate_pipeline(components, 64, 64, steps=4, dtype=torch.float16)
    params = sum(p.numel() for m in ("unet", "vae", "text_encoder") for p in components[m].parameters())
    assert fp32.weights_bytes >= params * 4
    assert fp16.weights_bytes * 2 == pytest.approx(fp32.weights_bytes, rel=0.01)
    assert fp32.peak_bytes == fp32.weights_bytes + fp32.activation_peak_bytes + WORKSPACE_BYTES
    assert fp16.activation_peak_bytes < fp32.activation_peak_bytes
    assert [s.name for s in fp32.stages] == ["text_encoder", "unet", "vae_decode"]
    assert fp32.stage("text_encoder").calls == 2  # prompt + empty negative prompt (guidance 7.5)
    assert fp32.stage("unet").trace.flops > 0


# -- projection arithmetic ---------------------------------------------------------------
def _card(**changes) -> Profile:
    base = dict(
        name="card",
        description="test card",
        kind="gpu",
        vram_mib=1024.0,
        bandwidth_gbs=100.0,
        fp32_tflops=10.0,
        fp16_tflops=20.0,
        bf16_tflops=None,
        int8_tops=40.0,
        tensor_cores=True,
        compute_capability=(7, 5),
        efficiency=0.5,
        reserved_mib=24.0,
    )
    return Profile(**{**base, **changes})


def test_roofline_per_op_takes_the_slower_of_compute_and_memory():
    card = _card()
    compute_bound = OpCost(flops=1e12, bytes=1e6, dtype="float32")  # 1e12/(10e12*0.5)=0.2 s
    memory_bound = OpCost(flops=1e9, bytes=1e10, dtype="float16")  # 1e10/(100e9*0.5)=0.2 s
    elementwise = OpCost(flops=0, bytes=5e9, dtype="float32")  # 0.1 s
    assert op_seconds(compute_bound, card) == pytest.approx(0.2)
    assert op_seconds(memory_bound, card) == pytest.approx(0.2)
    assert op_seconds(OpCost(1e12, 1e6, "float16"), card) == pytest.approx(0.1)  # fp16 rate is 2x
    assert trace_seconds(Trace(ops=[compute_bound, memory_bound, elementwise]), card) == pytest.approx(0.5)
    assert op_seconds(compute_bound, card.with_efficiency(1.0, "test")) == pytest.approx(0.1)


def test_projection_refuses_a_dtype_the_card_cannot_run(tiny_model):
    from bench.profiles.projection import project

    estimate = estimate_pipeline(tiny_model.pipeline.components, 64, 64, steps=4)
    refused = project(estimate, BUILTIN["gtx1650"], "bfloat16")
    assert refused.step_s is None and "has no bf16" in refused.note
    done = project(estimate, BUILTIN["gtx1650"], "float32")
    unet_s = trace_seconds(estimate.stage("unet").trace, BUILTIN["gtx1650"])
    assert done.step_s == pytest.approx(unet_s)
    assert done.latency_s > 4 * unet_s
    assert "fp16" not in done.note and "NaN" in project(estimate, BUILTIN["gtx1650"], "float16").note


def test_fits_uses_memory_less_the_context_reserve(tiny_model):
    estimate = estimate_pipeline(tiny_model.pipeline.components, 64, 64, steps=1)
    peak = estimate.peak_mib
    assert fits(estimate, _card(vram_mib=peak + 24.0 + 1, reserved_mib=24.0))
    assert not fits(estimate, _card(vram_mib=peak + 24.0 - 1, reserved_mib=24.0))


# -- calibration -------------------------------------------------------------------------
# A row measured natively on a 3080: 80 ms per step where the projection at 0.5 said 60 ms.
MEASURED_ROW = {
    "profile": "rtx3080",
    "status": "ok",
    "emulated": False,
    "device": "cuda:0",
    "step_median_ms": 80.0,
    "projected_step_ms": 60.0,
    "projection_efficiency": 0.5,
}


def _saved_run(tmp_path: Path, *rows: dict) -> Path:
    run = tmp_path / "0001_run.json"
    run.write_text(json.dumps({"benchmarks": [{"extra_info": row} for row in rows]}))
    return run


def test_calibration_from_a_measured_run_and_its_file(tmp_path):
    emulated = {**MEASURED_ROW, "emulated": True, "step_median_ms": 10.0}
    run = _saved_run(tmp_path, MEASURED_ROW, emulated)
    found = calibrate_from_runs([run])
    assert found == {"rtx3080": {"efficiency": 0.375, "rows": 1}}  # 0.5 * 60 / 80

    calibration = tmp_path / "calibration.toml"
    calibration.write_text("[rtx3080]\nefficiency = 0.375\n")
    assert load_calibration(calibration) == {"rtx3080": Calibration(efficiency=0.375)}
    profile = catalogue(CPU_HOST, calibration_file=calibration)["rtx3080"]
    assert profile.efficiency == 0.375 and "calibrated" in profile.efficiency_source
    calibration.write_text("[rtx3080]\nefficiency = 'high'\n")
    with pytest.raises(ProfileError, match="'efficiency' = 'high' is not a number"):
        load_calibration(calibration)


def test_projected_rates_are_finite_for_every_builtin_profile():
    for profile in BUILTIN.values():
        for dtype in ("float32", "float16"):
            rate = profile.matrix_tflops(dtype)
            assert rate is not None and math.isfinite(rate) and rate > 0


def test_example_community_profiles_load():
    path = Path(__file__).resolve().parents[2] / "bench" / "profiles" / "examples" / "community.toml"
    assert {"gtx1050ti", "gtx1660super", "rtx3070"} <= set(load_profiles(path))


def test_pixel_space_unconditional_pipeline_is_estimated():
    from diffusers import UNet2DModel

    unet = UNet2DModel(
        sample_size=32,
        block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        norm_num_groups=8,
    )
    estimate = estimate_pipeline({"unet": unet, "scheduler": None}, 32, 32, steps=10)
    assert [stage.name for stage in estimate.stages] == ["unet"]
    assert estimate.stage("unet").trace.flops > 0
    assert estimate.weights_bytes == sum(p.numel() * 4 for p in unet.parameters()) + sum(
        b.numel() * b.element_size() for b in unet.buffers()
    )


def test_a_nan_image_is_status_nan_on_the_cpu_too(tmp_path):
    """The GTX 16xx fp16 trap, reproduced by poisoning the VAE: status `nan`, whatever the device."""
    from bench.source_model import SourceModel
    from bench.suite import Case, Suite
    from models import load_model

    model = load_model("tiny-sd")
    model.pipeline.vae.decoder.conv_out.bias.data.fill_(float("nan"))
    config = tiny_suite_config(
        tmp_path, ("fp32",), hardware=select_profile("gtx1650", torch.device("cpu"), host=CPU_HOST)
    )
    suite = Suite(config)
    suite._source = SourceModel(lambda: model)  # the poisoned model, reloaded as itself after parking
    case = Case.of("fp32", config.workloads[0])
    info = suite.row(case)
    suite.run(case, FakeBenchmark(), info)
    assert info["status"] == "nan" and "NaN or inf" in info["reason"]
    assert info["profile"] == "gtx1650" and info["device_name"] == "AMD EPYC" and info["emulated"] is False
    assert info["fits"] is True and info["projected_step_ms"] > 0


# -- a dtype the card cannot run never fits it (issue 15, item 11) -----------------------
def test_bf16_does_not_fit_a_card_without_bf16_whatever_its_memory(tiny_model):
    estimate = estimate_pipeline(tiny_model.pipeline.components, 64, 64, steps=1, dtype=torch.bfloat16)
    gtx1650 = BUILTIN["gtx1650"]
    assert estimate.peak_mib < gtx1650.usable_mib  # memory alone would say it fits
    assert fits(estimate, gtx1650, "bfloat16") is False
    assert fits(estimate, gtx1650, "float32") is True and fits(estimate, BUILTIN["rtx3080"], "bfloat16")


def test_a_bf16_row_estimated_on_a_cpu_says_which_cards_cannot_run_it(tiny_model):
    estimate = estimate_pipeline(tiny_model.pipeline.components, 64, 64, steps=2, dtype=torch.bfloat16)
    selection = select_profile("gtx1650", torch.device("cpu"), host=CPU_HOST)  # estimated, not emulated
    fields = fit_fields(estimate, selection.profile, selection.catalogue, "bfloat16")
    assert fields["fits"] is False and fields["projected_step_ms"] is None
    assert fields["fits_profiles"]["gtx1650"] is False and fields["fits_profiles"]["rtx3080"] is True
    assert fields["fit_note"].startswith("gtx1650 (sm_75) has no bf16")
    fp32 = fit_fields(estimate, selection.profile, selection.catalogue, "float32")
    assert fp32["fits"] is True and fp32["fit_note"] is None


def test_fit_table_marks_a_dtype_the_card_cannot_run(tiny_model):
    from bench.profiles.fit_table import _row

    estimate = estimate_pipeline(tiny_model.pipeline.components, 64, 64, steps=1, dtype=torch.bfloat16)
    cells = _row("tiny-sd", 64, "bf16", estimate, [BUILTIN["gtx1650"], BUILTIN["rtx3080"]])
    assert cells[-4:-2] == ["**no** (no bf16)", "yes"] and cells[-2] == "n/a"


# -- kernel launches: a model too small for the card ---------------------------------------
def test_a_step_is_never_faster_than_the_host_issues_its_kernels():
    card = _card(launch_us=10.0)
    tiny = Trace(ops=[OpCost(flops=1e6, bytes=1e3, dtype="float32")] * 100)  # 100 kernels, ~0 work
    assert roofline_seconds(tiny, card) == pytest.approx(100 * 1e6 / 5e12)  # 20 us of arithmetic
    assert trace_seconds(tiny, card) == pytest.approx(100 * 10e-6)
    big = Trace(ops=[OpCost(flops=1e12, bytes=1e6, dtype="float32")] * 2)  # 0.4 s of arithmetic
    assert trace_seconds(big, card) == pytest.approx(0.4)  # the queue hides the launches


def test_tiny_sd_on_a_3080_is_launch_bound_and_the_row_says_so(tiny_model):
    estimate = estimate_pipeline(tiny_model.pipeline.components, 64, 64, steps=4)
    rtx3080 = BUILTIN["rtx3080"]
    projection = project(estimate, rtx3080, "float32")
    kernels = len(estimate.stage("unet").trace.ops)
    assert projection.kernels == kernels > 100
    # Without the launch term this was the roofline alone: microseconds.
    assert roofline_seconds(estimate.stage("unet").trace, rtx3080) < 1e-4
    assert projection.step_s == pytest.approx(kernels * rtx3080.launch_us * 1e-6)
    note = projection.launch_note
    assert note.startswith("launch-bound on rtx3080") and "too small" in note


def test_sd15_on_a_gtx1650_is_bound_by_the_card_not_the_launches():
    from bench.profiles.meta_build import meta_components
    from models import get_spec

    estimate = estimate_pipeline(meta_components(get_spec("sd15")), 512, 512, steps=1)
    projection = project(estimate, BUILTIN["gtx1650"], "float32")
    assert projection.launch_note is None and projection.step_s > 0.1


def test_launch_cost_is_calibrated_from_launch_bound_rows_and_loaded(tmp_path):
    card_bound = {**MEASURED_ROW, "projection_note": None, "projection_kernels": 900}
    launch_bound = {**card_bound, "step_median_ms": 6.0, "projection_note": "launch-bound on rtx3080: ..."}
    run = _saved_run(tmp_path, card_bound, launch_bound)
    found = calibrate_from_runs([run])
    # The launch-bound row gives 6 ms / 900 kernels and leaves the efficiency to the other row.
    assert found == {"rtx3080": {"efficiency": 0.375, "rows": 1, "launch_us": 6.67, "launch_rows": 1}}

    from bench.profiles.calibration import calibration_toml

    calibration = tmp_path / "calibration.toml"
    calibration.write_text(calibration_toml(found))
    assert load_calibration(calibration) == {"rtx3080": Calibration(efficiency=0.375, launch_us=6.67)}
    profile = catalogue(CPU_HOST, calibration_file=calibration)["rtx3080"]
    assert profile.launch_us == 6.67 and "calibrated" in profile.launch_source
    for bad, message in (("launch_us = -1", "must be in"), ("rows = 2", "misses field 'efficiency'")):
        calibration.write_text(f"[rtx3080]\n{bad}\n")
        with pytest.raises(ProfileError, match=message):
            load_calibration(calibration)


def test_a_user_profile_sets_its_launch_cost(tmp_path):
    path = tmp_path / "cards.toml"
    path.write_text(
        "[mycard]\nvram_gib = 8\nbandwidth_gbs = 300\nfp32_tflops = 10\nfp16_tflops = 20\n"
        'int8_tops = 80\ncompute_capability = "8.6"\nlaunch_us = 4.5\n'
    )
    card = load_profiles(path)["mycard"]
    assert card.launch_us == 4.5 and card.launch_source.startswith("set in")


# -- a dtype the CPU only emulates (issue 15, item 12) ------------------------------------
@pytest.mark.parametrize(
    ("flags", "dtype", "noted"),
    [
        (frozenset({"avx2"}), "bfloat16", True),
        (frozenset({"avx2", "avx512_bf16"}), "bfloat16", False),
        (frozenset({"avx2"}), "float32", False),
    ],
)
def test_a_row_says_when_the_cpu_emulates_its_dtype(monkeypatch, flags, dtype, noted):
    from types import SimpleNamespace

    from bench.collectors.dtype_native import dtype_native
    from optimize import cpu_features

    monkeypatch.setattr(cpu_features, "host_flags", lambda: flags)
    run = SimpleNamespace(config=SimpleNamespace(device=torch.device("cpu")), row={"dtype": dtype})
    note = dtype_native(run)["dtype_note"]
    assert (note is not None) is noted
    assert not noted or note.startswith("the CPU emulates bf16")
    gpu_run = SimpleNamespace(config=SimpleNamespace(device=torch.device("cuda")), row={"dtype": dtype})
    assert dtype_native(gpu_run)["dtype_note"] is None
