"""Every saved run under docs/results/ loads with the same rows and values as it did when the
digest was taken (tests/fixtures/saved_runs_digest.json, made from the loader before the run
record contract replaced reports' column table).

Per file the digest holds the row count and, per column (sorted by name), a hash of the column's
dtype and values in row order; missing values (NaN, <NA>, NaT) hash alike, so "the same" means
the same figures, not the same bit patterns of NaN. A file the loader does not read as a run
(a tool's own JSON) is recorded with the reason it was skipped.

A saved run added to docs/results/ later has no "before": it must load, and joins the digest
when it is regenerated with `DIFFBENCH_WRITE_DIGEST=1 .venv/bin/python -m pytest
tests/reports/test_saved_runs_unchanged.py` (review the diff: every changed line is a changed figure).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import reports
from reports import ReportError

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path("docs/results")  # relative: the `source` column holds the path as given
DIGEST = Path(__file__).parents[1] / "fixtures" / "saved_runs_digest.json"
ALL_TOGETHER = "(every run above, loaded in one call)"
# Why a JSON file under docs/results may be no run: something else, or a tune's answer.
NOT_A_RUN = ("not a pytest-benchmark run", "a `diffbench tune` answer, not a run")


def _cell(value: Any) -> str:
    """One value as stable text: exact floats, ISO datetimes, and one spelling for missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "NA"
    if isinstance(value, float) and math.isnan(value):
        return "NA"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # round-trips exactly; inf prints as inf
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return json.dumps(value)


def _frame_digest(frame: pd.DataFrame) -> dict[str, Any]:
    columns: dict[str, str] = {}
    for name in sorted(frame.columns):
        series = frame[name]
        text = "\n".join([f"dtype={series.dtype}", *(_cell(value) for value in series.tolist())])
        columns[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return {"rows": len(frame), "columns": columns}


def _load_quietly(paths: Path | list[Path]) -> tuple[pd.DataFrame | None, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = reports.load(paths, strict=True)
        except ReportError as error:
            return None, [str(error)]
    return frame, [str(warning.message) for warning in caught]


def _run_files() -> list[Path]:
    return sorted(path.relative_to(REPO) for path in (REPO / RESULTS).rglob("*.json"))


def current_digest(files: list[Path]) -> dict[str, Any]:
    """The digest of `files` (relative to the repository root, which must be the working folder)."""
    digest: dict[str, Any] = {}
    runs: list[Path] = []
    for path in files:
        frame, messages = _load_quietly(path)
        if frame is None:
            digest[str(path)] = {"not_a_run": messages[0]}
            continue
        runs.append(path)
        digest[str(path)] = _frame_digest(frame)
    # Together, so that a run two files hold is still counted once (the loader's de-duplication).
    together, _ = _load_quietly(runs)
    assert together is not None
    digest[ALL_TOGETHER] = _frame_digest(together)
    return digest


@pytest.fixture
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def _committed() -> dict[str, Any]:
    return json.loads(DIGEST.read_text())


def test_every_saved_run_loads_with_the_rows_and_values_it_had(at_repo_root: None) -> None:
    if os.environ.get("DIFFBENCH_WRITE_DIGEST"):
        DIGEST.write_text(json.dumps(current_digest(_run_files()), indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote {DIGEST}")
    committed = _committed()
    files = [Path(name) for name in committed if name != ALL_TOGETHER]
    missing = [str(path) for path in files if not path.exists()]
    assert not missing, f"saved runs removed from docs/results/: {missing}"
    now = current_digest(files)
    for name, before in committed.items():
        after = now[name]
        if "not_a_run" in before:
            assert after == before, f"{name}: was skipped as {before}, now {after}"
            continue
        assert after["rows"] == before["rows"], f"{name}: {before['rows']} rows before, {after['rows']} now"
        assert sorted(after["columns"]) == sorted(before["columns"]), f"{name}: columns changed"
        changed = [column for column, value in before["columns"].items() if after["columns"][column] != value]
        assert not changed, f"{name}: values changed in columns {changed}"


def test_a_saved_run_added_since_the_digest_still_loads(at_repo_root: None) -> None:
    known = set(_committed())
    for path in _run_files():
        if str(path) in known:
            continue
        frame, messages = _load_quietly(path)
        skipped = messages[0] if frame is None else ""
        assert frame is not None or any(why in skipped for why in NOT_A_RUN), f"{path}: {messages}"


def test_the_digest_tells_a_changed_value_from_a_missing_one() -> None:
    # The guard itself: one changed figure, a NaN becoming None, and a dtype change are told apart.
    base = pd.DataFrame({"x": pd.Series([1.0, float("nan")], dtype="float64")})
    same = pd.DataFrame({"x": pd.Series([1.0, None], dtype="float64")})
    moved = pd.DataFrame({"x": pd.Series([1.0000001, float("nan")], dtype="float64")})
    retyped = pd.DataFrame({"x": pd.Series([1, None], dtype="Int64")})
    assert _frame_digest(base) == _frame_digest(same)
    assert _frame_digest(base) != _frame_digest(moved)
    assert _frame_digest(base) != _frame_digest(retyped)
