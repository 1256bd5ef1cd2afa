"""`python -m reports history` (diffbench report history): the static history page of issue 20, item 1.

The page is built from hand-made runs (tests/helpers/history_runs.py writes a line of CI runs with
a known step) and from the saved runs of docs/results, as the issue's "done when" asks; the gate
reports beside them are written by the real gate.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from helpers.history_runs import FOLDER, MACHINE, Line, commit, gate_runs, write_line
from helpers.reports_runs import REPO, call, one_error_line, row, write_run

from reports import dashboard_data
from reports.dashboard import PAGE
from reports.loader import load

RESULTS = REPO / "docs" / "results"


def history(*args: str | Path) -> tuple[str, str]:
    """Run the command (exit 0 asserted); the page's text and what it printed."""
    result = call("history", *args)
    assert result.returncode == 0, result.stderr
    out = Path(str(args[args.index("--output") + 1]))
    return (out / PAGE).read_text(encoding="utf-8"), result.stdout


def step_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("step ")]


def test_docs_results_plus_the_issue_line_mark_run_12_and_nothing_else(tmp_path: Path) -> None:
    """The issue's "done when": docs/results' saved runs and 20 synthetic runs with +15% at run 12
    on one variant (bf16's latency); the page marks that step, at that run, and no other.
    (Should docs/results one day hold a real step, this test names it.) It does since
    2026-12-05's sd15 tune run B joined: bf16's sd15 latency, 6.7 to 6.8 s per generation in every
    tune run until run A's round 3, 6.4 to 6.5 s from there on, in run B's stages too
    (docs/results/2026-12-05-history-page.md)."""
    write_line(tmp_path / "line", Line())
    page, stdout = history(RESULTS, tmp_path / "line", "--output", tmp_path)
    steps = step_lines(stdout)
    synthetic = [step for step in steps if "@ " + MACHINE in step]
    assert len(synthetic) == 1, steps
    assert synthetic[0].startswith("step +1") and "latency_median_s bf16 @ " + MACHINE in synthetic[0]
    assert re.search(r" at #\d+ 0012_main " + commit(12)[:9] + "$", synthetic[0]), synthetic[0]
    real = sorted(step.split(" (")[0] for step in steps if step not in synthetic)
    assert real == ["step -4.7% latency_median_s bf16", "step -5.5% step_median_ms bf16"], steps
    assert all(
        "(sd15 · 256x256/4steps" in step and "at #37 0004_tune-round-3 9b6650f3e" in step
        for step in steps
        if step not in synthetic
    )
    assert "<h2>Steps (3)</h2>" in page
    # The docs/results runs are on the page too, each with its commit and machine in the runs table.
    assert "0001_sd15-ram-old" in page and "8e3885e00" in page and "<td>vm/" in page


def test_each_point_names_its_run_commit_and_machine_on_hover(tmp_path: Path) -> None:
    write_line(tmp_path / "line", Line(runs=10, step_run=None))
    page, _ = history(tmp_path / "line", "--output", tmp_path)
    titles = re.findall(r"<circle [^>]*><title>([^<]*)</title>", page)
    # 3 variants x (latency, step time, peak RAM) x 10 runs
    assert len(titles) == 3 * 3 * 10
    first = [t for t in titles if t.startswith("#3 0003_main") and "\nbf16: " in t]
    assert len(first) == 3 and f"commit {commit(3)[:9]}" in first[0] and MACHINE in first[0]
    assert "2026-12-05 09:00" in first[0]  # the run's date, UTC


def test_the_page_is_self_contained_and_its_svg_is_well_formed(tmp_path: Path) -> None:
    write_line(tmp_path / "line", Line())
    page, _ = history(tmp_path / "line", "--output", tmp_path)
    assert "<script" not in page and "src=" not in page  # nothing runs, nothing is fetched
    assert not re.search(r"(href|xlink:href)=\"(?!#)", page)  # only links within the page
    charts = re.findall(r"<svg .*?</svg>", page, flags=re.DOTALL)
    assert len(charts) == 3
    for chart in charts:
        ET.fromstring(chart)  # every chart parses as XML (a stray & or < would not)


def test_the_gate_verdicts_beside_the_runs_are_shown_and_marked(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    paths = write_line(storage, Line())
    assert gate_runs(call, storage, paths, (12, 13)) == [1, 0]  # the step's run fails, the next passes
    out = tmp_path / "out"
    out.mkdir()
    page, _ = history(storage, "--output", out)
    assert "<h2>Gate verdicts (2)</h2>" in page
    assert "gate failed against 0011_main: bf16 latency_median_s +1" in page
    assert "gate passed against 0012_main" in page
    # The regressed point has its ring and says so on hover; the passed run has no ring.
    regressed = re.findall(r"<title>(#12 0012_main[^<]*gate: regressed[^<]*)</title>", page)
    assert len(regressed) == 1 and "\nbf16: " in regressed[0]
    assert page.count('r="5.5"') == 1


def test_a_gate_report_that_does_not_parse_is_skipped_with_a_warning(tmp_path: Path) -> None:
    write_line(tmp_path / "line", Line(runs=8, step_run=None))
    (tmp_path / "line" / "gate.md").write_text("# Gate\n\nsomething else entirely\n")
    (tmp_path / "line" / "notes.md").write_text("# Notes\n\n- baseline: x\n")  # not a gate report: ignored
    result = call("history", tmp_path / "line", "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: skipped gate report") == 1 and "gate.md" in result.stderr


def test_a_damaged_run_is_skipped_with_a_warning_and_the_page_still_written(tmp_path: Path) -> None:
    write_line(tmp_path / "line", Line(runs=8, step_run=None))
    (tmp_path / "line" / FOLDER / "0009_main.json").write_text('{"benchmarks": [')
    result = call("history", tmp_path / "line", "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning: skipped" in result.stderr and "0009_main.json: not valid JSON" in result.stderr
    assert "8 runs" in result.stdout and (tmp_path / PAGE).is_file()


def test_no_runs_or_an_output_that_is_a_file_is_one_line_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no run files" in one_error_line(call("history", empty, "--output", tmp_path))
    a_file = tmp_path / "page.html"
    a_file.write_text("")
    write_line(tmp_path / "line", Line(runs=2, step_run=None))
    line = one_error_line(call("history", tmp_path / "line", "--output", a_file))
    assert str(a_file) in line and "not an existing folder" in line
    assert "--output" in one_error_line(call("history", tmp_path / "line"))  # required


def test_rows_that_did_not_run_are_listed_and_machines_get_their_own_lines(tmp_path: Path) -> None:
    write_run(tmp_path / "a" / "0001_a.json", [row("fp32", 1.0), row("bf16", status="oom", reason="4 GiB")])
    write_run(
        tmp_path / "b" / "0001_b.json",
        [row("fp32", 2.0), row("bf16", 1.0)],
        machine="other/Intel/no-gpu",
        when="2026-11-22T10:00:00+00:00",
    )
    page, _ = history(tmp_path, "--output", tmp_path)
    assert "<td>bf16</td><td>oom</td><td>4 GiB</td>" in page
    assert "fp32 @ other/Intel/no-gpu" in page and "fp32 @ vm/AMD EPYC/no-gpu" in page


def test_a_metric_is_drawn_when_its_column_holds_figures_and_left_out_when_not(tmp_path: Path) -> None:
    """Energy and SSIM are columns other work adds: a chart when the runs have them, none when not."""
    write_line(tmp_path, Line(runs=8, step_run=None))
    frame = load([str(tmp_path)], extra=dashboard_data.COMMIT_COLUMNS)
    titles = {chart.metric.column for chart in dashboard_data.build(frame, []).groups[0].charts}
    assert titles == {"latency_median_s", "step_median_ms", "peak_ram_mib"}  # no VRAM on a CPU, no FID
    with_energy = frame.drop(columns=["energy_j"], errors="ignore").assign(energy_j=2.5)
    titles = {chart.metric.column for chart in dashboard_data.build(with_energy, []).groups[0].charts}
    assert "energy_j" in titles
    empty = frame.assign(energy_j=pd.Series([float("nan")] * len(frame), dtype="float64"))
    assert "energy_j" not in {c.metric.column for c in dashboard_data.build(empty, []).groups[0].charts}


def test_a_resident_interleaved_rows_peak_is_the_sets_and_stays_off_the_variants_line(tmp_path: Path) -> None:
    own = [row("fp32", 1.0, peak_ram_mib=1000.0, ram_source="kernel-hwm")]
    write_run(tmp_path / "0001_a.json", own, when="2026-11-20T10:00:00+00:00")
    shared = [row("fp32", 1.0, peak_ram_mib=9000.0, ram_source="kernel-hwm/set")]
    write_run(tmp_path / "0002_b.json", shared, when="2026-11-21T10:00:00+00:00")
    frame = load([str(tmp_path)], extra=dashboard_data.COMMIT_COLUMNS)
    ram = [c for c in dashboard_data.build(frame, []).groups[0].charts if c.metric.column == "peak_ram_mib"]
    values = [point.value for series in ram[0].series for point in series.points]
    assert values == [1000.0]  # the set's 9000 MiB is not fp32's peak


@pytest.mark.parametrize("step_run", [None, 250])
def test_a_line_of_500_runs_has_its_one_step_or_none(tmp_path: Path, step_run: int | None) -> None:
    """Scale: the page of 500 runs (docs/results/2026-12-05-history-page.md has the timings)."""
    write_line(tmp_path / "line", Line(runs=500, step_run=step_run, variants=("fp32", "bf16")))
    page, stdout = history(tmp_path / "line", "--output", tmp_path)
    assert len(step_lines(stdout)) == (0 if step_run is None else 1), stdout
    if step_run is not None:
        assert f" {step_run:04d}_main " in step_lines(stdout)[0]
    assert page.count("<circle ") == 500 * 2 * 3


def test_a_verdict_finds_its_run_by_a_relative_path_and_one_of_no_run_here_is_named(tmp_path: Path) -> None:
    """CI runs the gate in its own folder, so a report names the runs as it was given them."""
    write_line(tmp_path / "line", Line(runs=8, step_run=None))
    report = "# Gate\n\n- baseline: {}\n- candidate: {}\n- rows matched: 3\n\nNo regressions.\n"
    folder = tmp_path / "line" / FOLDER
    (folder / "gate-a.md").write_text(report.format(f"{FOLDER}/0006_main.json", f"{FOLDER}/0007_main.json"))
    (folder / "gate-b.md").write_text(report.format("elsewhere/0001_pr9.json", "elsewhere/0002_pr9.json"))
    page, _ = history(tmp_path / "line", "--output", tmp_path)
    assert "<h2>Gate verdicts (1)</h2>" in page and "<td>#7 0007_main</td>" in page
    assert "gate passed against 0006_main" in page
    assert "Gate reports of runs not among these:" in page and "candidate elsewhere/0002_pr9.json" in page
