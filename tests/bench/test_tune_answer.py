"""bench/tune/answer.py: the statuses decide gives hand-made candidates, the winner line, tune.json
and its round trip through `python -m reports tune`."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers.reports_runs import call

from bench.tune.answer import (
    FILE_NAME,
    TuneAnswer,
    decide,
    format_table,
    measurement_from_record,
    save_answer,
    winner_line,
)
from bench.tune.candidates import Candidate, Measurement, QualityBound, Status
from bench.tune.errors import TuneError

PSNR_30 = QualityBound(min_psnr=30.0)


def measured(
    recipe: str,
    speedups: tuple[float, ...],
    psnr: float | None = 40.0,
    rounds: int = 1,
    status: Status | None = None,
    reason: str = "",
    **figures: Any,
) -> Candidate:
    """A candidate measured in `rounds` race rounds, each with the same paired speed-ups."""
    measurement = Measurement(
        status="ok",
        rounds=len(speedups),
        median_s=1.0 / (sum(speedups) / len(speedups)),
        speedups=speedups,
        psnr_db=psnr,
        peak_ram_mib=figures.pop("peak_ram_mib", 800.0),
        **figures,
    )
    stages = [replace(measurement, stage=f"round {k}") for k in range(1, rounds + 1)]
    return Candidate(recipe, tuple(recipe.split("+")), status, reason, measurements=stages)


def failed(recipe: str, row_status: str, reason: str) -> Candidate:
    return Candidate(recipe, (recipe,), measurements=[Measurement(status=row_status, reason=reason)])


@pytest.fixture
def race() -> list[Candidate]:
    return [
        measured("bf16", (2.0, 2.1, 2.2), psnr=35.0, rounds=2),  # the fastest of the last round
        measured("int8", (1.5, 1.5, 1.6), psnr=45.0, rounds=2),  # slower, better: on the front
        measured("fp16", (1.4, 1.4, 1.4), psnr=40.0, rounds=2),  # int8 beats it on both
        # Faster than bf16 on its one round, but dropped: the winner must have reached the last round.
        measured("prune(0.5)+bf16", (2.6, 2.7, 2.8), psnr=31.0, status=Status.DROPPED, reason="lost round 1"),
        measured("prune(0.3)", (1.2, 1.2, 1.3), psnr=32.0, status=Status.DROPPED, reason="lost round 1"),
        measured("prune(0.6)", (3.0, 3.0, 3.0), psnr=20.0, rounds=2),
        failed("nf4", "nan", "the image has NaN pixels"),
        measured("int8+bf16", (2.5, 2.5, 2.5), fits=False, peak_vram_mib=5000.0),
        Candidate("sdxl-big", status=Status.NO_FIT, reason="estimate 9000 MiB > 4096 MiB"),
        Candidate("fp16+trt", status=Status.REFUSED, reason="trt: tensorrt is not installed"),
        Candidate("onnx", status=Status.SCREENED, reason="predicted 0.8x"),
    ]


def by_recipe(candidates: list[Candidate]) -> dict[str, Candidate]:
    return {c.recipe: c for c in candidates}


def test_decide_gives_every_candidate_its_status(race: list[Candidate]) -> None:
    winner = decide(race, PSNR_30)
    found = by_recipe(race)
    assert winner is found["bf16"]
    assert {recipe: c.status for recipe, c in found.items()} == {
        "bf16": Status.WINNER,
        "int8": Status.PARETO,
        "fp16": Status.SLOWER,
        "prune(0.5)+bf16": Status.PARETO,  # on the front (fastest within the bound), yet not the winner
        "prune(0.3)": Status.DROPPED,
        "prune(0.6)": Status.OVER_QUALITY,
        "nf4": Status.FAILED,
        "int8+bf16": Status.NO_FIT,
        "sdxl-big": Status.NO_FIT,
        "fp16+trt": Status.REFUSED,
        "onnx": Status.SCREENED,
    }
    assert found["bf16"].reason == (
        "the fastest within PSNR >= 30 dB of those the race took furthest (2 timing stages, 6 paired rounds)"
    )
    assert found["fp16"].reason.startswith("int8 is faster (1.50x)")
    assert "dropped: lost round 1" in found["prune(0.5)+bf16"].reason
    assert found["prune(0.3)"].reason == "lost round 1"
    assert found["prune(0.6)"].reason == "PSNR 20.0 dB < 30 dB"
    assert found["nf4"].reason == "nan: the image has NaN pixels"
    assert found["int8+bf16"].reason.startswith("the built variant does not fit the profile's memory")
    assert found["int8+bf16"].reason.endswith("(peak 800 / 5000 MiB)")  # RAM / VRAM
    assert found["sdxl-big"].reason == "estimate 9000 MiB > 4096 MiB"  # the screen's reason kept


def test_a_failure_after_a_screened_no_fit_stays_no_fit() -> None:
    oom = Candidate(
        "fp32-big",
        status=Status.NO_FIT,
        reason="estimate 4500 MiB > 4096 MiB",
        measurements=[Measurement(status="oom", reason="CUDA out of memory")],
    )
    crash = failed("onnx", "error", "")
    decide([oom, crash], PSNR_30)
    assert (oom.status, oom.reason) == (Status.NO_FIT, "estimate 4500 MiB > 4096 MiB")
    assert (crash.status, crash.reason) == (Status.FAILED, "error")


def test_nothing_beats_the_baseline() -> None:
    candidates = [measured("bf16", (0.9, 0.95, 0.92)), measured("int8", (0.7, 0.7, 0.7), psnr=45.0)]
    assert decide(candidates, PSNR_30) is None
    assert [c.status for c in candidates] == [Status.PARETO, Status.PARETO]
    assert "not faster than the baseline" in candidates[0].reason
    answer = answer_of(candidates)
    assert answer.winner is None and answer.winner_line is None
    assert answer.conclusion == "nothing beats fp32 within PSNR >= 30 dB: keep fp32"


def test_fid_bound_ranks_by_fid_increase() -> None:
    bound = QualityBound(max_fid_increase=2.0)
    fast = measured("bf16", (2.0, 2.0, 2.0), psnr=None, fid=11.5, baseline_fid=10.0)
    worse = measured("int8", (1.8, 1.8, 1.8), psnr=None, fid=11.9, baseline_fid=10.0)  # slower and worse
    over = measured("nf4", (3.0, 3.0, 3.0), psnr=None, fid=13.0, baseline_fid=10.0)
    unmeasured = measured("fp16", (2.5, 2.5, 2.5), psnr=None)  # no FID: cannot be within the bound
    assert decide([fast, worse, over, unmeasured], bound) is fast
    assert worse.status == Status.SLOWER
    assert (over.status, over.reason) == (Status.OVER_QUALITY, "FID +3.00 > +2")
    assert (unmeasured.status, unmeasured.reason) == (Status.OVER_QUALITY, "no FID measured")
    assert winner_line(fast, bound).endswith("(IQR 0.00, 3 paired rounds), FID +1.50")


def test_winner_line() -> None:
    winner = measured("prune(0.1)+bf16", (2.35, 2.41, 2.41, 2.44, 2.38, 2.47), psnr=41.3, rounds=2)
    assert winner.speedup == pytest.approx(2.41)
    assert winner_line(winner, PSNR_30) == (
        "--variants fp32,prune(0.1)+bf16   # 2.41x faster per generation than fp32 "
        "(IQR 0.06, 12 paired rounds), PSNR 41.3 dB"
    )
    identical = measured("fp32+compile", (1.3,), psnr=float("inf"))
    assert winner_line(identical, PSNR_30, baseline="fp16") == (
        "--variants fp16,fp32+compile   # 1.30x faster per generation than fp16 (1 paired round), "
        "identical to fp16"
    )


def answer_of(candidates: list[Candidate], tmp: Path | None = None, **changes: Any) -> TuneAnswer:
    fields: dict[str, Any] = {
        "command": ["diffbench", "tune", "--model", "tiny-sd", "--profile", "cpu", "--min-psnr", "30"],
        "model": "tiny-sd",
        "profile": "cpu",
        "device": "cpu",
        "bound": PSNR_30,
        "budget_s": 1800.0,
        "started": datetime(2026, 12, 4, 21, 0, tzinfo=UTC),
        "ended": datetime(2026, 12, 4, 21, 25, tzinfo=UTC),
        "stopped": "finished",
        "baseline": "fp32",
        "candidates": candidates,
        "runs": [] if tmp is None else [tmp / "runs" / "0001_round1.json", tmp / "runs" / "0002_round2.json"],
        "cpu_flags": "avx2 fma f16c",
        "baseline_median_s": 1.9,
    }
    return TuneAnswer(**{**fields, **changes})


def test_save_answer_writes_strict_json_with_every_candidate(race: list[Candidate], tmp_path: Path) -> None:
    race.append(measured("fp32+compile", (1.1, 1.1), psnr=float("inf"), rounds=2))
    decide(race, PSNR_30)
    path = save_answer(tmp_path, answer_of(race, tmp_path))
    assert path == tmp_path / FILE_NAME
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]  # no temporary file left behind

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not strict JSON")

    doc = json.loads(path.read_text(), parse_constant=refuse)
    assert (doc["format"], doc["version"]) == ("diffbench-tune", 1)
    assert doc["runs"] == ["runs/0001_round1.json", "runs/0002_round2.json"]
    assert doc["bound"] == {"min_psnr": 30.0, "max_fid_increase": None, "text": "PSNR >= 30 dB"}
    assert (doc["started"], doc["stopped"], doc["cpu_flags"]) == (
        "2026-12-04T21:00:00+00:00",
        "finished",
        "avx2 fma f16c",
    )
    assert doc["winner"] == "bf16"
    assert doc["winner_line"].startswith("--variants fp32,bf16   # 2.10x faster")
    recipes = [c["recipe"] for c in doc["candidates"]]
    assert sorted(recipes) == sorted(c.recipe for c in race)
    assert recipes[:2] == ["bf16", "prune(0.5)+bf16"]  # the winner first, then the front, fastest first
    rows = {c["recipe"]: c for c in doc["candidates"]}
    assert rows["fp32+compile"]["psnr_db"] == "inf"
    assert rows["bf16"]["paired_rounds"] == 6 and rows["bf16"]["rounds_reached"] == 2
    assert rows["bf16"]["speedup"] == pytest.approx(2.1)
    assert rows["fp16+trt"]["status"] == "refused" and rows["fp16+trt"]["median_s"] is None
    assert set(rows["nf4"]) >= {"estimate_mib", "macs_g", "projected_step_ms", "predicted_speedup", "build_s"}
    # Every measurement as it was, so that a later tune of the same search can replay it.
    replayed = [measurement_from_record(m) for m in rows["bf16"]["measurements"]]
    assert replayed == by_recipe(race)["bf16"].measurements
    identical = measurement_from_record(rows["fp32+compile"]["measurements"][-1])
    assert identical.psnr_db == float("inf") and PSNR_30.violation(identical) is None


def test_save_answer_takes_what_the_search_has(race: list[Candidate], tmp_path: Path) -> None:
    # ISO texts for the times, runs already relative to the folder, no profile, the race's stages.
    winner = decide(race, PSNR_30)
    answer = answer_of(
        race,
        started="2026-12-04T21:00:00+00:00",
        ended="2026-12-04T21:30:00+00:00",
        stopped="budget",
        note="round 2 did not fit the 1.0 min left of the budget",
        runs=["runs/0001_pilot.json"],
        profile=None,
        stages=[("pilot", 6, 3, 120.5), ("round 1", 4, 5, 300.0)],
        winner=winner,
    )
    doc = json.loads(save_answer(tmp_path, answer).read_text())
    assert (doc["started"], doc["ended"], doc["profile"]) == (
        "2026-12-04T21:00:00+00:00",
        "2026-12-04T21:30:00+00:00",
        None,
    )
    assert (doc["stopped"], doc["note"]) == ("budget", "round 2 did not fit the 1.0 min left of the budget")
    assert doc["runs"] == ["runs/0001_pilot.json"]
    assert doc["stages"][1] == {"stage": "round 1", "candidates": 4, "rounds": 5, "seconds": 300.0}
    assert doc["winner"] == "bf16"


def test_an_answer_must_say_how_the_search_ended() -> None:
    with pytest.raises(TuneError, match=r"stopped='crashed'.*finished, budget, interrupted"):
        answer_of([], stopped="crashed")


def test_format_table_orders_and_folds(race: list[Candidate]) -> None:
    race += [
        Candidate(f"int4+{i}", status=Status.REFUSED, reason="int4 needs torchao's extra") for i in range(6)
    ]
    decide(race, PSNR_30)
    lines = format_table(answer_of(race)).splitlines()
    assert lines[0].split()[:2] == ["status", "recipe"]
    statuses = [line.split("  ")[0].strip() for line in lines[2:]]
    assert statuses == [
        "winner",
        "pareto",
        "pareto",
        "slower",
        "dropped",
        "over quality bound",
        "failed",
        "does not fit",
        "does not fit",
        "screened out",
        "refused",
        "refused",
    ]
    assert "2.10x ± 0.15" in lines[2] and "PSNR 35.0 dB" in lines[2] and "800 MiB RAM" in lines[2]
    assert "6 recipes" in lines[-1]
    assert "int4 needs torchao's extra (int4+0, int4+1, int4+2, ...)" in lines[-1]
    assert lines[-2].split()[1] == "fp16+trt"  # a reason of its own stays one line


def test_round_trip_through_the_report(race: list[Candidate], tmp_path: Path) -> None:
    decide(race, PSNR_30)
    save_answer(tmp_path, answer_of(race, tmp_path))
    out = tmp_path / "report"
    out.mkdir()
    result = call("tune", tmp_path, "--output", out)
    assert result.returncode == 0, result.stderr
    table_lines = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(table_lines) == len(race) + 1  # the header and every candidate
    assert [cell.strip() for cell in table_lines[1].split("|")[1:3]] == ["winner", "bf16"]
    assert "--variants fp32,bf16" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["pareto.png", "tune.md"]


def test_the_answer_file_is_readable_by_others_as_any_file_the_user_writes(race, tmp_path: Path) -> None:
    decide(race, PSNR_30)
    mask = os.umask(0o022)
    try:
        path = save_answer(tmp_path, answer_of(race, tmp_path))
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
