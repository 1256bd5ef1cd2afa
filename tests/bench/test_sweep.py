"""Workload sweeps: expansion (product and one axis at a time), prompts and seeds, labels, bad input,
the `reports sweep` table/plot, and the `sweep` study end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.reports_runs import call, row, write_run
from helpers.suite_inline import run_bench_inline

from bench.errors import BenchError
from bench.sweep import MAX_WORKLOADS, expand, sweep_axes
from bench.workload import DEFAULT_PROMPT, Workload

BASE = {
    "resolution": "64",
    "steps": "4",
    "batch": "1",
    "guidance": "7.5",
    "scheduler": "euler",
    "prompt": DEFAULT_PROMPT,
    "seed": "0",
}
REPO = Path(__file__).resolve().parents[2]


def workloads(*sweeps: str, mode: str = "product", prompts: str | None = None, seeds: str | None = None):
    return expand(BASE, sweep_axes(list(sweeps), prompts, seeds), mode)


def test_no_sweep_is_the_single_workload_of_the_options() -> None:
    assert workloads() == (Workload(),)


def test_product_is_every_combination_in_axis_order() -> None:
    found = workloads("steps=10,20", "scheduler=euler,ddim", "guidance=5")
    assert [(w.steps, w.scheduler, w.guidance) for w in found] == [
        (10, "euler", 5.0),
        (10, "ddim", 5.0),
        (20, "euler", 5.0),
        (20, "ddim", 5.0),
    ]


def test_each_varies_one_axis_around_the_base_counting_the_base_once() -> None:
    found = workloads("steps=2,4,8", "resolution=32,64x32", mode="each")
    # base (4 steps, 64x64), steps 2 and 8 (4 is the base), then 32x32 and 64x32 at 4 steps
    assert [(w.steps, w.width, w.height) for w in found] == [
        (4, 64, 64),
        (2, 64, 64),
        (8, 64, 64),
        (4, 32, 32),
        (4, 64, 32),
    ]


def test_prompts_file_and_seeds_are_axes_with_distinct_labels(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# a comment\na red cube\n\na blue sphere, on a table\na red cube\n", encoding="utf-8")
    found = workloads(prompts=str(prompts), seeds="0,7")
    assert [(w.prompt, w.seed) for w in found] == [
        ("a red cube", 0),
        ("a red cube", 7),
        ("a blue sphere, on a table", 0),
        ("a blue sphere, on a table", 7),
    ]
    labels = [w.label for w in found]
    assert len(set(labels)) == 4  # rows are matched across runs on the label: never two alike
    assert "/seed7" in labels[1] and "/prompt-" in labels[0]
    assert Workload().label == "64x64/4steps/cfg7.5/b1/euler"  # the usual label is unchanged


@pytest.mark.parametrize(
    ("sweeps", "mode", "message"),
    [
        (["stepz=1,2"], "product", "unknown axis 'stepz'; accepted: steps, guidance"),
        (["steps"], "product", "is not AXIS=V1,V2"),
        (["steps="], "product", "no values after '='"),
        (["steps=2,2"], "product", "a value is given twice"),
        (["steps=2", "steps=4"], "product", "the steps axis is given twice"),
        (["steps=0,2"], "product", "--steps 0 must be at least 1"),
        (["scheduler=euler,warp"], "product", "--scheduler 'warp' is unknown"),
        (["resolution=63"], "product", "multiples of 8"),
        (["steps=2"], "zigzag", "--sweep-mode 'zigzag' is unknown; accepted: product, each"),
    ],
)
def test_bad_sweeps_name_the_value_and_what_is_accepted(sweeps: list[str], mode: str, message: str) -> None:
    with pytest.raises(BenchError, match=message.replace("(", r"\(").replace("[", r"\[")):
        workloads(*sweeps, mode=mode)


def test_bad_seeds_and_prompt_files(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="'x' is not an integer"):
        workloads(seeds="1,x")
    with pytest.raises(BenchError, match="does not exist"):
        workloads(prompts=str(tmp_path / "missing.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(BenchError, match="has no prompts"):
        workloads(prompts=str(empty))


def test_an_enormous_product_is_refused() -> None:
    values = ",".join(str(n) for n in range(1, 40))
    with pytest.raises(BenchError, match=f"more than {MAX_WORKLOADS}"):
        workloads(f"steps={values}", f"batch={values}")


def test_suite_refuses_a_bad_sweep_with_one_line_and_exit_2() -> None:
    result = run_bench_inline("--sweep", "guidance=x")  # stops at the option: in this process
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--guidance 'x' is not a number" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# --- the report -------------------------------------------------------------------------------------


def sweep_rows() -> list[dict]:
    rows = []
    for variant, scale in (("fp32", 1.0), ("bf16", 0.5)):
        for steps in (2, 4, 8):
            detail = {"width": 64, "height": 64, "steps": steps, "guidance": 7.5, "batch": 1}
            detail |= {"scheduler": "euler", "seed": 0, "prompt": DEFAULT_PROMPT}
            rows.append(
                row(
                    variant,
                    scale * steps,
                    workload=f"64x64/{steps}steps/cfg7.5/b1/euler",
                    workload_detail=detail,
                )
            )
    return rows


def test_reports_sweep_writes_the_table_and_the_plot(tmp_path: Path) -> None:
    run = write_run(tmp_path / "runs" / "m" / "0001_sweep.json", sweep_rows())
    out = tmp_path / "out"
    out.mkdir()
    result = call("sweep", run, "--output-dir", out)
    assert result.returncode == 0, result.stderr
    table = (out / "sweep.md").read_text()
    assert "Swept axes: steps." in table
    lines = [line for line in table.splitlines() if line.startswith("| tiny-sd")]
    assert len(lines) == 6 and "| fp32      | 8 " in lines[2]
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reports_sweep_on_runs_without_a_sweep_says_what_to_do(tmp_path: Path) -> None:
    run = write_run(tmp_path / "0001_plain.json", [row("fp32"), row("bf16", 0.5)])
    result = call("sweep", run)
    assert result.returncode == 2
    assert "sweep no workload axis" in result.stderr and "--sweep AXIS=V1,V2" in result.stderr


# --- the study, as a user runs it -------------------------------------------------------------------


def test_sweep_study_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "study"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DIFFBENCH_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "bench.studies", "sweep", "--sweep", "steps=1,2", "--rounds", "1"]
    command += ["--output-dir", str(out), "--", "--resolution", "32", "--warmup", "0"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    table = (out / "sweep.md").read_text()
    assert "Swept axes: steps." in table
    assert "32x32" not in table  # the table names the axes, not the label
    assert sum(line.startswith("| tiny-sd | fp32") for line in table.splitlines()) == 2
    assert (out / "sweep.png").stat().st_size > 1000
    assert list((out / "runs").rglob("*_sweep.json"))
