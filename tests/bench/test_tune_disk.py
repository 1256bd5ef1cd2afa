"""tune's disk check (bench/tune/disk.py): what the builds may write into the variant cache,
against the free space of its disk, said before the first build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.tune.candidates import Candidate, Status
from bench.tune.disk import MIB, DiskNeed, disk_need, disk_warning


def _candidate(recipe: str, estimate_mib: float | None, status: Status | None = None) -> Candidate:
    candidate = Candidate(recipe, tuple(recipe.split("+")))
    candidate.estimate_mib = estimate_mib
    candidate.status = status
    return candidate


def test_the_need_is_the_pilots_passes_and_the_baseline_then_the_raced_combinations() -> None:
    candidates = [
        _candidate("bf16", 2000.0),
        _candidate("int8", 4000.0),
        _candidate("nf4", 4000.0, Status.SCREENED),  # out of the search: never built
        _candidate("bf16+int8", 1000.0),
        _candidate("bf16+nf4", 3000.0),
        _candidate("int8+compile", 5000.0),
    ]
    need = disk_need(candidates, max_candidates=2, baseline_mib=4500.0)
    assert need == DiskNeed(
        pilot_mib=4500.0 + 2000.0 + 4000.0, race_mib=2 * 3000.0, pilot_variants=3, race_variants=2
    )
    assert need.total_mib == 16500.0


def test_enough_room_says_nothing_and_too_little_says_the_figures_and_what_to_do(tmp_path: Path) -> None:
    free_mib = shutil.disk_usage(tmp_path).free / MIB
    assert disk_warning(DiskNeed(1.0, 1.0, 2, 1), tmp_path) is None
    short = disk_warning(DiskNeed(free_mib * 2, 1024.0, 14, 8), tmp_path / "not" / "made" / "yet")
    assert short is not None and "\n" not in short
    assert "14 in the pilot" in short and "up to 8 combinations" in short
    assert "No space left on device" in short and "--cache-dir" in short and "--passes" in short


@pytest.mark.parametrize("max_candidates", [0, 8])
def test_no_combination_open_needs_no_room_for_the_race(max_candidates: int) -> None:
    need = disk_need([_candidate("bf16", 2000.0)], max_candidates, baseline_mib=4000.0)
    assert (need.race_mib, need.race_variants) == (0.0, 0)
