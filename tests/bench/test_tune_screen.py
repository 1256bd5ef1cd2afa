"""tune's screen on tiny-sd: estimates by dtype, MACs, projections, and what does not fit."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.tune.screen as screen_module
from bench.profiles.detect import DeviceDescription, cpu_profile
from bench.profiles.table import BUILTIN
from bench.profiles.user import load_profiles
from bench.tune.candidates import Candidate, Status
from bench.tune.screen import screen
from bench.workload import Workload

RECIPES = ("fp32", "bf16", "fp16", "int8", "prune(0.3)", "prune(0.2)+fp16+int8", "ort")


def _candidates(*recipes: str) -> dict[str, Candidate]:
    return {recipe: Candidate(recipe) for recipe in recipes}


@pytest.fixture(scope="module")
def on_gtx1650(tiny_model) -> dict[str, Candidate]:
    candidates = _candidates(*RECIPES)
    screen(list(candidates.values()), tiny_model.pipeline, Workload(), BUILTIN["gtx1650"])
    return candidates


def test_estimates_follow_the_dtype(on_gtx1650: dict[str, Candidate]) -> None:
    fp32, bf16, fp16 = on_gtx1650["fp32"], on_gtx1650["bf16"], on_gtx1650["fp16"]
    assert fp32.estimate_mib is not None and bf16.estimate_mib is not None
    assert fp32.estimate_mib > bf16.estimate_mib
    assert bf16.estimate_mib == fp16.estimate_mib  # two bytes a weight both
    # Passes that keep the dtype share its estimate (one trace per dtype).
    assert on_gtx1650["int8"].estimate_mib == on_gtx1650["ort"].estimate_mib == fp32.estimate_mib


def test_macs_are_set_unless_the_recipe_prunes(on_gtx1650: dict[str, Candidate]) -> None:
    fp32 = on_gtx1650["fp32"]
    assert fp32.macs_g is not None and fp32.macs_g > 0
    assert on_gtx1650["int8"].macs_g == fp32.macs_g  # quantising changes no shape
    assert on_gtx1650["prune(0.3)"].macs_g is None
    assert on_gtx1650["prune(0.2)+fp16+int8"].macs_g is None


def test_upper_bounds_are_marked(on_gtx1650: dict[str, Candidate]) -> None:
    bound = {recipe for recipe, candidate in on_gtx1650.items() if candidate.estimate_bound}
    assert bound == {"int8", "prune(0.3)", "prune(0.2)+fp16+int8"}


def test_projection_on_a_card_with_rates_and_refusal_of_a_dtype_it_lacks(
    on_gtx1650: dict[str, Candidate],
) -> None:
    fp32 = on_gtx1650["fp32"]
    assert fp32.status is None and fp32.projected_step_ms is not None and fp32.projected_step_ms > 0
    assert on_gtx1650["prune(0.3)"].projected_step_ms is None  # not the traced shapes
    bf16 = on_gtx1650["bf16"]
    assert bf16.status is Status.REFUSED and "no bf16" in bf16.reason


def test_one_estimate_per_dtype_and_decided_candidates_untouched(
    tiny_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    real = screen_module.workload_estimate

    def counting(pipeline, workload, dtype):
        calls.append(dtype)
        return real(pipeline, workload, dtype)

    monkeypatch.setattr(screen_module, "workload_estimate", counting)
    candidates = _candidates("fp32", "int8", "ort", "fp16", "fp16+int8", "bf16")
    candidates["bf16"].status, candidates["bf16"].reason = Status.REFUSED, "already refused"
    screen(list(candidates.values()), tiny_model.pipeline, Workload(), None)
    assert len(calls) == 2  # float32 and float16; bf16 was decided already
    assert candidates["bf16"].estimate_mib is None and candidates["bf16"].reason == "already refused"
    # No profile: figures, but no verdict and no projection.
    assert all(c.status is None for r, c in candidates.items() if r != "bf16")
    assert candidates["fp32"].projected_step_ms is None and candidates["fp32"].estimate_mib is not None


def test_no_fit_on_a_tiny_card_but_not_for_upper_bounds(tiny_model, tmp_path: Path) -> None:
    card = tmp_path / "tiny.toml"
    card.write_text(
        "[tiny-card]\nvram_gib = 0.25\nreserved_mib = 200\nbandwidth_gbs = 100\nfp32_tflops = 1\n"
        'fp16_tflops = 2\nint8_tops = 4\ncompute_capability = "8.6"\nbf16_tflops = 2\n'
    )
    profile = load_profiles(card)["tiny-card"]  # 256 MiB less 200: 56 MiB usable
    candidates = _candidates("fp32", "bf16", "int8", "prune(0.3)")
    screen(list(candidates.values()), tiny_model.pipeline, Workload(), profile)
    for recipe in ("fp32", "bf16"):
        candidate = candidates[recipe]
        assert candidate.status is Status.NO_FIT
        assert f"{candidate.estimate_mib:.1f} MiB" in candidate.reason and "56.0 MiB" in candidate.reason
        assert "tiny-card" in candidate.reason
    for recipe in ("int8", "prune(0.3)"):
        assert candidates[recipe].estimate_bound and candidates[recipe].status is None


def test_the_cpu_profile_is_judged_on_its_ram(tiny_model) -> None:
    small = cpu_profile(DeviceDescription(kind="cpu", name="a small CPU", memory_mib=64.0))
    big = cpu_profile(DeviceDescription(kind="cpu", name="a big CPU", memory_mib=64 * 1024.0))
    tight, roomy = _candidates("fp32"), _candidates("fp32")
    screen(list(tight.values()), tiny_model.pipeline, Workload(), small)
    screen(list(roomy.values()), tiny_model.pipeline, Workload(), big)
    assert tight["fp32"].status is Status.NO_FIT and "RAM" in tight["fp32"].reason
    assert tight["fp32"].projected_step_ms is None  # a CPU has no datasheet rates
    assert roomy["fp32"].status is None


def test_a_bigger_workload_estimates_more(tiny_model) -> None:
    small, large = _candidates("fp32"), _candidates("fp32")
    screen(list(small.values()), tiny_model.pipeline, Workload(width=64, height=64), None)
    screen(list(large.values()), tiny_model.pipeline, Workload(width=128, height=128, batch=2), None)
    assert large["fp32"].estimate_mib > small["fp32"].estimate_mib
    assert large["fp32"].macs_g > small["fp32"].macs_g
