"""Every report command on whatever the loader lets through (issue 16, item 6).

The loader accepts any run that is shaped like one: the same row twice, NaN and infinite
figures (JSON allows them), null statistics, a run with no rows, a run where nothing ran.
Each command must then exit as documented (0, or 2 with one `error:` line; the gate also 1),
print no traceback and no stray Python warning, and a plot that cannot be drawn must leave
the table standing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.reports_runs import REPO, call, one_error_line, row, run_doc
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reports import output

NAN, INF = float("nan"), float("inf")
# Every figure a command reads from a row: the timing statistics and diffbench's own figures.
STATS = ("median", "iqr", "q1", "q3", "mean", "min", "max", "stddev")
FIGURES = (
    "text_encoder_s",
    "step_median_ms",
    "vae_decode_s",
    "peak_vram_allocated_mib",
    "peak_ram_mib",
    "size_mb",
    "fid",
    "kid",
    "is",
    "psnr_vs_baseline",
    "macs_g",
    "throughput_ips",
    "est_peak_mem_mib",
    "projected_latency_s",
    "gpu_util_pct",
)
WEB_UI = ("webui(concurrency=1)", "webui(concurrency=2)")
DOCUMENTED_EXIT = {"gate": {0, 1, 2}}  # every other command: 0, or 2 on input it cannot report
OUR_LINES = ("warning: ", "error: ", "note: ")


# --- the runs -----------------------------------------------------------------------------------


def base_rows() -> list[dict[str, Any]]:
    """Rows that give every command something to do: a baseline and a recipe at two step counts
    (a sweep), a checkpoint, and a web UI load test at two concurrency levels."""
    rows = []
    for steps in (4, 8):
        workload = f"64x64/{steps}steps/cfg7.5/b1/euler"
        detail = {"width": 64, "height": 64, "steps": steps, "guidance": 7.5, "batch": 1}
        for variant, median in (("fp32", 1.0), ("bf16", 0.6)):
            extra = {"checkpoint": "step-400"} if steps == 4 else {}
            rows.append(
                row(
                    variant,
                    median * steps / 4,
                    workload=workload,
                    workload_detail=detail,
                    fid=30.0 if variant == "fp32" else 31.0,
                    family="stable-diffusion",
                    est_peak_mem_mib=900.0,
                    projected_latency_s=0.1,
                    **extra,
                )
            )
    for variant in WEB_UI:
        rows.append(row(variant, 2.0, requests=4, completed=4, errors=0, throughput_ips=0.5))
    return rows


def with_figures(entry: dict[str, Any], value: Callable[[int], Any]) -> dict[str, Any]:
    """``entry`` with its statistics and figures replaced by ``value(i)`` (i counts the fields)."""
    entry = json.loads(json.dumps(entry))
    stats = entry.get("stats")
    if stats is not None:
        for i, key in enumerate(STATS):
            stats[key] = value(i)
    for i, key in enumerate(FIGURES):
        entry["extra_info"][key] = value(len(STATS) + i)
    return entry


def failed(entry: dict[str, Any], index: int) -> dict[str, Any]:
    entry = json.loads(json.dumps(entry))
    entry.pop("stats")
    status = ("error", "oom", "unsupported", "timeout", "nan")[index % 5]
    entry["extra_info"].update(status=status, reason=f"{status} for the test", rounds=None)
    return entry


CYCLE = (NAN, INF, -INF, None, 0.0, -1.0, 1e308)
SHAPES: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "duplicate rows": lambda: [entry for entry in base_rows() for _ in range(2)],
    "NaN figures": lambda: [with_figures(entry, lambda i: NAN) for entry in base_rows()],
    "infinite figures": lambda: [
        with_figures(entry, lambda i, k=k: INF if (i + k) % 2 else -INF)
        for k, entry in enumerate(base_rows())
    ],
    "null figures": lambda: [with_figures(entry, lambda i: None) for entry in base_rows()],
    # Finite rows beside damaged ones, so that the plots have points to draw and must skip the rest.
    "mixed figures": lambda: [
        entry if k % 2 else with_figures(entry, lambda i, k=k: CYCLE[(i + k) % len(CYCLE)])
        for k, entry in enumerate(base_rows())
    ],
    "no rows": lambda: [],
    "no row ran": lambda: [failed(entry, k) for k, entry in enumerate(base_rows())],
}


def write(path: Path, rows: list[dict[str, Any]], when: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # json.dumps writes NaN and Infinity, as Python's json (and so pytest-benchmark) would.
    path.write_text(json.dumps(run_doc(rows, when=when), indent=1))
    return path


def storage(folder: Path, rows: list[dict[str, Any]], with_base: bool) -> Path:
    """A storage with the damaged run, after a sound one when ``with_base`` (the gate's baseline)."""
    if with_base:
        write(folder / "0001_base.json", base_rows(), "2026-11-21T10:00:00+00:00")
    write(folder / "0002_damaged.json", rows, "2026-11-22T10:00:00+00:00")
    return folder


def commands(runs: Path, out: Path) -> dict[str, list[str]]:
    """Every command of `python -m reports --help`, with the options that make it do its work."""
    files = sorted(str(path) for path in runs.glob("*.json")) or ["none.json"]
    return {
        "table": ["table", str(runs)],
        "compare": ["compare", "--by", "run", str(runs)],
        "delta": ["delta", str(runs)],
        "recommend": [
            "recommend",
            "--profile",
            "cpu",
            "--min-psnr",
            "20",
            "--max-fid-increase",
            "5",
            str(runs),
        ],
        "plots": ["plots", "--output-dir", str(out), str(runs)],
        "html": ["html", "--output", str(out / "report.html"), str(runs)],
        "gate": ["gate", "--baseline", files[0], "--candidate", files[-1], "--no-history"],
        "webui": ["webui", "--output-dir", str(out), str(runs)],
        "sweep": ["sweep", "--output-dir", str(out), str(runs)],
        "checkpoints": ["checkpoints", "--output-dir", str(out), str(runs)],
        "family": ["family", "--output-dir", str(out), str(runs)],
        "beforeafter": ["beforeafter", "--recipe", "bf16", "--output-dir", str(out), str(runs)],
        "fits": ["fits", str(runs)],
        # tune reads a search's tune.json, not runs: on a folder of runs it says there is none.
        "tune": ["tune", "--output", str(out), str(runs)],
        "history": ["history", "--output", str(out), str(runs)],
    }


def test_the_matrix_covers_every_command() -> None:
    from reports.cli import build_parser

    parser = build_parser()
    listed = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert listed == set(commands(Path("."), Path("."))), "a new command needs a row in this matrix"


# --- the checks ---------------------------------------------------------------------------------


def check(command: str, result: subprocess.CompletedProcess[str], out: Path) -> None:
    context = (command, result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr, context
    assert result.returncode in DOCUMENTED_EXIT.get(command, {0, 2}), context
    stray = [line for line in result.stderr.splitlines() if not line.startswith(OUR_LINES)]
    assert not stray, context  # no Python warning, no half-printed error
    # A plot is left out for a reason we know (no data), never because matplotlib refused it.
    assert "could not be drawn" not in result.stderr, context
    if result.returncode == 2:
        one_error_line(result)
    elif command in ("webui", "sweep", "checkpoints", "family", "beforeafter"):
        table = out / f"{command}.md"
        assert table.is_file() and "|" in table.read_text(), context
    elif command == "html":
        page = (out / "report.html").read_text()
        assert "<h2>Runs</h2>" in page and "<table" in page, context
    elif command == "history":
        page = (out / "history.html").read_text()
        assert '<section id="runs">' in page and "</html>" in page, context


def run_reports(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reports", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


# One shape as a user runs it, each command in its own `python -m reports` process: the CLI's
# view (its exit status, everything it prints). The others in this process, where a command
# costs a fraction of a process's start and the checks are the same (quiet_call shows any
# Python warning as a stray stderr line; a traceback would fail the test).
CLI_SHAPE = "mixed figures"


def test_every_command_survives_a_damaged_run_as_a_user_runs_it(tmp_path: Path) -> None:
    runs = storage(tmp_path / "runs", SHAPES[CLI_SHAPE](), with_base=False)
    for command, args in commands(runs, tmp_path).items():
        check(command, run_reports(*args), tmp_path)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_command_survives_a_damaged_run(shape: str, tmp_path: Path) -> None:
    """Each command on the damaged run alone."""
    runs = storage(tmp_path / "runs", SHAPES[shape](), with_base=False)
    for command, args in commands(runs, tmp_path).items():
        check(command, quiet_call(*args), tmp_path)


@pytest.mark.parametrize("shape", ["duplicate rows", "infinite figures", "mixed figures", "no row ran"])
def test_every_command_survives_a_damaged_run_after_a_sound_one(shape: str, tmp_path: Path) -> None:
    """The same beside a sound earlier run: the newest-run rules, the baselines and the gate then
    meet the damaged figures."""
    runs = storage(tmp_path / "runs", SHAPES[shape](), with_base=True)
    for command, args in commands(runs, tmp_path).items():
        check(command, quiet_call(*args), tmp_path)


def quiet_call(*args: str) -> subprocess.CompletedProcess[str]:
    """``call``, with any warning that is not the reports' own shown on stderr as a stray line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(*args)
    stray = "".join(f"{item.category.__name__}: {item.message}\n" for item in caught)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout, result.stderr + stray)


# Any figure a JSON file can hold, in any row, each row present 0-2 times, with any status.
VALUES = st.sampled_from([NAN, INF, -INF, None, 0.0, -1.0, 1e-300, 1e300, 0.5, 2.0])
ROW_SHAPES = st.tuples(st.integers(0, 2), st.booleans(), st.lists(VALUES, min_size=1, max_size=4))


# Each example runs all twelve commands: few examples, and no shrinking (it would rerun them
# hundreds of times); a failure prints its example as drawn.
@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(shapes=st.lists(ROW_SHAPES, min_size=len(base_rows()), max_size=len(base_rows())))
def test_fuzzed_runs_only_give_documented_exits(shapes: list[tuple[int, bool, list[Any]]]) -> None:
    rows: list[dict[str, Any]] = []
    for k, (entry, (copies, ran, values)) in enumerate(zip(base_rows(), shapes, strict=True)):
        damaged = with_figures(entry, lambda i, v=values: v[i % len(v)])
        rows += [damaged if ran else failed(damaged, k)] * copies
    with tempfile.TemporaryDirectory() as folder:
        runs = storage(Path(folder) / "runs", rows, with_base=True)
        for command, args in commands(runs, Path(folder)).items():
            check(command, quiet_call(*args), Path(folder))


# --- what the survivors print -------------------------------------------------------------------


def test_a_row_saved_twice_is_shown_once_with_a_warning(tmp_path: Path) -> None:
    runs = storage(tmp_path, SHAPES["duplicate rows"](), with_base=False)
    result = call("delta", runs)
    assert result.returncode == 0, result.stderr
    twice = f"warning: run 0002_damaged holds {len(base_rows())} more row(s) with the same model"
    assert result.stderr.count(twice) == 1, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("| figure"))
    assert [cell.strip() for cell in header.split("|")].count("bf16") == 1, header


def test_an_empty_run_prints_the_table_header(tmp_path: Path) -> None:
    runs = storage(tmp_path, [], with_base=False)
    result = call("table", "--columns", "run,variant,latency_median_s", runs)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["|", "run", "|", "variant", "|", "latency_median_s", "|"]
    assert len(result.stdout.splitlines()) == 2


def test_a_latency_that_is_not_a_time_is_never_recommended(tmp_path: Path) -> None:
    rows = [row("fp32", 1.0), with_figures(row("bf16", 0.5), lambda i: -INF if i == 0 else 0.01)]
    runs = storage(tmp_path, rows, with_base=False)
    result = call("recommend", "--profile", "cpu", runs)
    assert result.returncode == 0, result.stderr
    assert "**Recommended: fp32**" in result.stdout
    assert "| bf16      | its latency -inf s is not a time |" in result.stdout


@pytest.mark.parametrize("option", ["--max-fid-increase", "--min-psnr"])
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_beforeafter_refuses_bounds_that_mean_nothing(tmp_path: Path, option: str, value: str) -> None:
    runs = storage(tmp_path, base_rows(), with_base=False)
    line = one_error_line(call("beforeafter", "--recipe", "bf16", option, value, runs))
    assert f"{value!r} must be a finite number >= 0" in line


def test_a_plot_matplotlib_refuses_leaves_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused() -> bytes:
        raise ValueError("Axis limits cannot be NaN or Inf")

    output.write_report(tmp_path, "study", "| a |\n|---|\n| 1 |\n", refused)
    assert (tmp_path / "study.md").read_text() == "| a |\n|---|\n| 1 |\n"
    assert not (tmp_path / "study.png").exists()
    err = capsys.readouterr().err
    assert err == (
        "note: study.png not written: the plot could not be drawn "
        "(ValueError: Axis limits cannot be NaN or Inf)\n"
    )


def test_without_matplotlib_every_table_still_stands(tmp_path: Path) -> None:
    """matplotlib absent (an analyst's pandas-only install): each command's table is written, the
    plot is a note; `plots`, which has nothing but plots, says so in one line (exit 2)."""
    blocked = tmp_path / "no-matplotlib"
    (blocked / "matplotlib").mkdir(parents=True)
    (blocked / "matplotlib" / "__init__.py").write_text(
        "raise ImportError('matplotlib is blocked by the test')\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(blocked), str(REPO)])}
    runs = storage(tmp_path / "runs", SHAPES["mixed figures"](), with_base=True)
    for command, args in commands(runs, tmp_path).items():
        result = run_reports(*args, env=env)
        if command == "plots":
            assert "matplotlib" in one_error_line(result)
            continue
        check(command, result, tmp_path)
        if command in ("webui", "sweep", "checkpoints", "family", "beforeafter", "html"):
            assert "matplotlib" in result.stderr, (command, result.stderr)
            assert not list(tmp_path.glob("*.png")), command


def test_plots_leave_out_figures_that_are_not_finite(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import pandas as pd

    import reports
    from reports import plots

    figures = pd.Series([1.5, INF, -INF, NAN, None, 0.0], dtype="object")
    assert plots.finite(figures).tolist()[:1] + plots.finite(figures).tolist()[5:] == [1.5, 0.0]
    assert plots.finite(figures).iloc[1:5].isna().all()
    # An infinite FID beside finite ones: both plots drawn from the finite points, no note.
    rows = [row("fp32", 1.0, fid=30.0), row("bf16", 0.5, fid=INF), row("fp16", 0.4, fid=31.0)]
    made, notes = plots.all_plots(reports.load(storage(tmp_path, rows, with_base=False)))
    assert [plot.name for plot in made] == ["latency_vs_fid_cpu", "latency_vs_memory_cpu", "stages"]
    assert notes == []
