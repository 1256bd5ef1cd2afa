"""`diffbench tune` end to end on tiny-sd, as a user runs it: the answer, its report, the second
run that replays the first, the budget's stop and Ctrl-C's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.sigint import skip_if_children_ignore_sigint
from helpers.suite_process import ROOT

TUNE = [
    sys.executable,
    "-m",
    "bench",
    "tune",
    "--model",
    "tiny-sd",
    "--passes",
    "bf16,int8",
    "--min-psnr",
    "30",
]


def tune(*options: str, cache: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [*TUNE, "--cache-dir", str(cache), *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def answer_of(folder: Path) -> dict:
    return json.loads((folder / "tune.json").read_text())


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One variant cache for the file's searches: after the first, builds are loads."""
    return tmp_path_factory.mktemp("tune-cache")


@pytest.fixture(scope="module")
def first_answer(tmp_path_factory, cache) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("tune") / "out"
    result = tune("--budget", "10m", "--output", str(out), cache=cache)
    return out, cache, result


def test_the_answer_is_saved_with_every_candidate(first_answer):
    out, _, result = first_answer
    assert result.returncode == 0, result.stderr[-2000:]
    document = answer_of(out)
    assert document["stopped"] == "finished"
    recipes = {c["recipe"]: c for c in document["candidates"]}
    assert set(recipes) == {"bf16", "int8", "bf16+int8"}
    assert all(c["status"] for c in recipes.values())
    assert document["stages"][0]["stage"] == "pilot"
    # The winner (or the reason there is none) is the last line on stdout.
    last = result.stdout.strip().splitlines()[-1]
    if document["winner"] is not None:
        assert document["stages"][-1]["stage"] == "confirm"
        assert last.startswith(f"--variants fp32,{document['winner']}")
    else:
        assert "nothing beat fp32" in last
    # Every stage's saved run is an ordinary pytest-benchmark run beside the answer.
    for run in document["runs"]:
        saved = json.loads((out / run).read_text())
        assert saved["benchmarks"] and "fp32" in {b["extra_info"]["variant"] for b in saved["benchmarks"]}


def test_the_report_renders_the_answer_and_its_plot(first_answer, tmp_path):
    out, _, _ = first_answer
    report = subprocess.run(
        [sys.executable, "-m", "reports", "tune", str(out), "--output", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    assert "bf16+int8" in report.stdout
    assert (tmp_path / "pareto.png").stat().st_size > 0


def test_a_second_tune_replays_the_first_and_times_only_the_confirmation(first_answer):
    out, cache, _ = first_answer
    before = answer_of(out)
    runs_before = set((out / "runs").rglob("*.json"))
    result = tune("--budget", "10m", "--output", str(out), cache=cache)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "replayed" in result.stderr
    after = answer_of(out)
    new_runs = set((out / "runs").rglob("*.json")) - runs_before
    confirmed = any(stage["stage"] == "confirm" for stage in before["stages"])
    expected = 1 if confirmed else 0  # the confirmation only
    assert len(new_runs) == expected
    assert {c["recipe"]: c["status"] for c in after["candidates"]} == {
        c["recipe"]: c["status"] for c in before["candidates"]
    }
    # The earlier answer is kept beside the new one.
    kept = list(out.glob("tune-*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["ended"] == before["ended"]


def test_the_budget_ends_the_search_with_what_it_had(tmp_path, cache):
    out = tmp_path / "out"
    result = tune("--budget", "15s", "--output", str(out), cache=cache)
    assert result.returncode == 0, result.stderr[-2000:]
    document = answer_of(out)
    assert document["stopped"] == "budget"
    assert document["note"]
    assert any(c["status"] == "not tried" for c in document["candidates"])


def test_ctrl_c_ends_the_search_with_the_best_so_far_saved(tmp_path, cache):
    skip_if_children_ignore_sigint()
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [*TUNE, "--cache-dir", str(cache), "--output", str(out), "--budget", "10m"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Interrupt once the pilot is done (its line on stderr): round 1 is then in flight.
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        if "pilot done" in line:
            break
    process.send_signal(signal.SIGINT)
    stdout, rest = process.communicate(timeout=120)
    stderr = "".join(seen) + rest
    assert process.returncode == 130, stderr[-2000:]  # interrupted, as a shell reports Ctrl-C
    assert "Traceback" not in stderr
    document = answer_of(out)
    assert document["stopped"] == "interrupted"
    recipes = {c["recipe"]: c for c in document["candidates"]}
    assert recipes["bf16"]["measurements"]  # the pilot's figures are kept
    assert stdout.strip()
