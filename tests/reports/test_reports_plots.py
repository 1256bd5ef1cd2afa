"""Plots (PNG) and the self-contained HTML report, on small hand-made runs."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import pytest
from helpers.reports_runs import call, one_error_line, row, write_run

import reports
from reports import html_report, plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    rows = [
        row("fp32", 1.0, fid=20.0, peak_ram_mib=500.0),
        row("bf16", 0.6, fid=21.0, peak_ram_mib=450.0),
        row("int8", 0.8, fid=22.0, peak_ram_mib=480.0),  # slower and worse than bf16: off the front
        row("fp16", None, status="unsupported", reason="needs <CUDA> & a GPU"),
    ]
    write_run(tmp_path / "store" / "box" / "0001_a.json", rows)
    return tmp_path / "store"


def test_pareto_front() -> None:
    # (latency, memory): b dominates d; a is fastest; c is smallest.
    x = [1.0, 2.0, 4.0, 3.0]
    y = [9.0, 5.0, 1.0, 6.0]
    assert plots.pareto_front(x, y) == [0, 1, 2]
    assert plots.pareto_front([1.0, 1.0], [2.0, 1.0]) == [1]  # a tie on x: the lower y wins
    assert plots.pareto_front([], []) == []


def test_plots_are_pngs(store: Path) -> None:
    made, notes = plots.all_plots(reports.load(store))
    assert [plot.name for plot in made] == ["latency_vs_fid_cpu", "latency_vs_memory_cpu", "stages"]
    for plot in made:
        assert plot.png.startswith(PNG_MAGIC)
        assert len(plot.png) > 5_000  # a drawn figure, not an empty canvas
    assert notes == []


def test_missing_figures_are_notes_not_plots(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r.json", [row("fp32", 1.0, peak_ram_mib=None, text_encoder_s=None)])
    made, notes = plots.all_plots(reports.load(path))
    assert [plot.name for plot in made] == ["stages"]
    assert "latency vs FID for cpu: no FID in these runs" in notes
    assert "latency vs peak memory for cpu: no memory figure in these runs" in notes


def test_plots_command_writes_the_files(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "png"
    out.mkdir()
    result = call("plots", store, "--output-dir", out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "latency_vs_fid_cpu.png",
        "latency_vs_memory_cpu.png",
        "stages.png",
    ]


def test_plots_without_matplotlib_is_one_line(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now raises ImportError
    line = one_error_line(call("plots", store))
    assert "matplotlib" in line and "diffbench[plots]" in line


def test_html_is_self_contained_with_the_plots(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = call("html", store, "--output", out)
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3
    assert all(base64.b64decode(image).startswith(PNG_MAGIC) for image in images)
    # Nothing fetched from elsewhere: no external sources, links or scripts.
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "<script" not in page
    for heading in ("Runs", "Plots", "Compare by run", "Before / after", "Recommendation", "did not run"):
        assert heading in page
    assert "needs &lt;CUDA&gt; &amp; a GPU" in page  # reasons are escaped, not markup


def test_html_without_matplotlib_still_has_the_tables(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.warns(reports.ReportWarning, match="no plots"):
        page = html_report.report(reports.load(store), [str(store)])
    assert "No plots: plots need matplotlib" in page
    assert "Before / after" in page


def test_a_cpu_run_plots_its_measured_ram_not_the_device_estimate(tmp_path: Path, monkeypatch) -> None:
    """A CPU row's estimate counts weights and activations only; its RSS is what it used."""
    drawn: dict[str, str] = {}

    def record(group, column, label, *rest):  # stands in for the drawing: which figure it got
        drawn[rest[0]] = column
        return None

    monkeypatch.setattr(plots, "_tradeoff", record)
    for emulated, expected in ((False, "peak_ram_mib"), (True, "est_peak_mem_mib")):
        rows = [
            row("fp32", 1.0, peak_ram_mib=550.0, est_peak_mem_mib=140.0, emulated=emulated),
            row("bf16", 0.6, peak_ram_mib=560.0, est_peak_mem_mib=134.0, emulated=emulated),
        ]
        frame = reports.load([write_run(tmp_path / f"{emulated}" / "0001_a.json", rows)])
        plots.tradeoff_plots(frame)
        assert drawn["latency_vs_memory_cpu"] == expected  # an emulated card: its device memory
