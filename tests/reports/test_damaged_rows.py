"""A run file that parses but whose rows lack what a row is made of (an entry without "stats", a
diffbench entry without "extra_info"): the loader says which, and the gate lists the latency it
could not compare instead of passing it in silence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.reports_runs import call, row, write_run

import reports
from reports import ReportWarning, gate
from reports.gate import Thresholds


def damaged(path: Path, drop: str, variant: str = "fp32") -> Path:
    """`path`'s run with `drop` ("stats" or "extra_info") taken out of `variant`'s entry."""
    doc = json.loads(path.read_text())
    for entry in doc["benchmarks"]:
        if entry["extra_info"]["variant"] == variant:
            entry[drop] = None
    path.write_text(json.dumps(doc))
    return path


def test_an_entry_without_stats_is_named_when_read(tmp_path: Path) -> None:
    path = damaged(write_run(tmp_path / "0001_a.json", [row("fp32", 1.0), row("bf16", 0.5)]), "stats")
    with pytest.warns(
        ReportWarning, match=r'read with figures missing \(1 gap\(s\)\): .*fp32.* has no "stats"'
    ):
        frame = reports.load([path])
    assert frame.loc[frame["variant"] == "fp32", "latency_median_s"].isna().all()


def test_a_diffbench_entry_without_extra_info_is_named_when_read(tmp_path: Path) -> None:
    path = damaged(write_run(tmp_path / "0001_a.json", [row("fp32", 1.0), row("bf16", 0.5)]), "extra_info")
    with pytest.warns(ReportWarning, match=r'has no "extra_info" \(no model, variant or status\)'):
        reports.load([path])


def test_the_gate_lists_a_latency_it_could_not_compare(tmp_path: Path) -> None:
    baseline = reports.load([write_run(tmp_path / "0001_a.json", [row("fp32", 1.0), row("bf16", 0.5)])])
    path = damaged(write_run(tmp_path / "0002_b.json", [row("fp32", 1.0), row("bf16", 0.5)]), "stats")
    with pytest.warns(ReportWarning):
        candidate = reports.load([path])
    result = gate.gate(baseline, candidate, Thresholds(energy=None))
    assert [(item.key[1], item.figure, item.reason) for item in result.not_compared] == [
        ("fp32", "latency_median_s", "no timed rounds in the candidate (no stats)")
    ]
    text = gate.to_markdown(result, "a", "b", Thresholds(energy=None))
    assert (
        "## Latency not compared (1)" in text
        and "- no timed rounds in the candidate (no stats): tiny-sd / fp32" in text
    )


def test_the_gate_command_says_so_beside_its_verdict(tmp_path: Path) -> None:
    storage = tmp_path / ".benchmarks"
    write_run(storage / "m" / "0001_main.json", [row("fp32", 1.0)], when="2026-11-20T10:00:00+00:00")
    damaged(
        write_run(storage / "m" / "0002_pr.json", [row("fp32", 1.0)], when="2026-11-21T10:00:00+00:00"),
        "stats",
    )
    result = call("gate", "--baseline", "main", "--candidate", "pr", "--storage", storage, "--no-history")
    assert result.returncode == 0, result.stdout + result.stderr  # a missing figure is never a fail...
    assert "## Latency not compared (1)" in result.stdout  # ...nor a silent pass
    assert 'has no "stats" (no timings)' in result.stderr
