"""Will the builds fit on the variant cache's disk? Said once, before the first build.

A search builds every single pass in its pilot and up to `--max-candidates` combinations in its
race, each saved whole into the variant cache: sd15's search at 256 px left 54 GB there
(docs/results/2026-12-05-tune-sd15.md). A build that finds the disk full fails with "No space
left on device" and the search goes on without it, so the answer quietly loses candidates; this
says so before any build. The size is guessed from each variant's memory estimate (its weights
plus one generation's activations), which errs high, and variants already in the cache need no
room at all: so it warns, and never refuses.
"""

from __future__ import annotations

import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

from bench.tune.candidates import Candidate

MIB = 1 << 20


@dataclass(frozen=True)
class DiskNeed:
    pilot_mib: float  # the single passes and the baseline
    race_mib: float  # up to --max-candidates combinations
    pilot_variants: int
    race_variants: int

    @property
    def total_mib(self) -> float:
        return self.pilot_mib + self.race_mib


def disk_need(candidates: list[Candidate], max_candidates: int, baseline_mib: float) -> DiskNeed:
    """What the open candidates' builds may write into the cache, by their memory estimates."""
    open_ = [c for c in candidates if c.status is None and c.estimate_mib is not None]
    atoms = [c.estimate_mib or 0.0 for c in open_ if len(c.passes) == 1]
    combinations = [c.estimate_mib or 0.0 for c in open_ if len(c.passes) > 1]
    raced = min(max_candidates, len(combinations))
    typical = statistics.median(combinations) if combinations else 0.0
    return DiskNeed(baseline_mib + sum(atoms), raced * typical, len(atoms) + 1, raced)


def disk_warning(need: DiskNeed, folder: Path) -> str | None:
    """One line when `folder`'s disk has less free space than the builds may take; else None."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # the cache folder is made at the first build
    free_mib = shutil.disk_usage(probe).free / MIB
    if need.total_mib <= free_mib:
        return None
    return (
        f"warning: the variant cache may need up to about {need.total_mib / 1024:.0f} GB for this search's "
        f"builds ({need.pilot_variants} in the pilot, about {need.pilot_mib / 1024:.0f} GB; up to "
        f"{need.race_variants} combinations in the race, about {need.race_mib / 1024:.0f} GB; less what "
        f"{folder} already holds), and its disk has {free_mib / 1024:.0f} GB free: a build that does not fit "
        "fails with 'No space left on device' and the search goes on without it. Free space, give "
        "--cache-dir on a larger disk, or narrow the search with --passes"
    )
