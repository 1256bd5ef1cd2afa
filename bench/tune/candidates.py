"""What the tune search's parts hand each other: candidates, measurements, quality bounds."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """A candidate's place in the answer (the table's `status` column)."""

    WINNER = "winner"
    PARETO = "pareto"  # not the fastest within the bound, but no other is both faster and better
    SLOWER = "slower"  # measured within the bound; something else is faster and at least as good
    OVER_QUALITY = "over quality bound"
    NO_FIT = "does not fit"  # the profile's memory (estimated, or the built variant's row)
    REFUSED = "refused"  # a pass refuses this device or this combination
    FAILED = "failed"  # built or ran, and crashed, ran out of memory, timed out or gave NaN
    DROPPED = "dropped"  # lost a halving round: slower than the half that went on
    SCREENED = "screened out"  # not raced: predicted slower than the ones that were
    NOT_TRIED = "not tried"  # the budget ran out (or Ctrl-C) before its turn


@dataclass(frozen=True)
class Measurement:
    """One candidate's figures from one race round (the suite's row, read back)."""

    status: str  # the suite row's: ok, nan, oom, unsupported, error, timeout
    reason: str = ""
    rounds: int = 0
    median_s: float | None = None  # seconds per generation
    # Paired per-round speed-ups over the baseline timed in the same interleaved rounds
    # (baseline round time / candidate round time): their median is the speed-up, their IQR its spread.
    speedups: tuple[float, ...] = ()
    step_median_ms: float | None = None
    psnr_db: float | None = None  # vs the baseline's image on the same seed (inf: identical)
    fid: float | None = None
    baseline_fid: float | None = None
    peak_ram_mib: float | None = None
    peak_vram_mib: float | None = None
    # The peaks are the interleaved set's, every variant resident together (the row's ram_source
    # ends in "/set"), not this variant's alone; None where the row does not say.
    peak_is_set: bool | None = None
    fits: bool | None = None  # the built variant fits the profile (None: no profile fit recorded)
    build_s: float | None = None  # in this run: the load, on a cache hit
    first_build_s: float | None = None  # what the build took when the variant was made
    cache_hit: bool | None = None
    run: str = ""  # the saved run the row is in
    stage: str = ""  # the race's stage that measured it: pilot, round 1, ..., confirm

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def speedup(self) -> float | None:
        return _median(self.speedups)

    @property
    def speedup_iqr(self) -> float | None:
        return _iqr(self.speedups)

    @property
    def fid_increase(self) -> float | None:
        if self.fid is None or self.baseline_fid is None:
            return None
        return self.fid - self.baseline_fid


@dataclass
class Candidate:
    recipe: str  # canonical recipe text
    passes: tuple[str, ...] = ()  # the pass names, in recipe order
    status: Status | None = None
    reason: str = ""
    # The meta-device peak-memory estimate (an upper bound when `estimate_bound`).
    estimate_mib: float | None = None
    estimate_bound: bool = False  # a quantisation/pruning pass shrinks weights the estimate counts in full
    macs_g: float | None = None  # per generation
    projected_step_ms: float | None = None  # on a GPU profile
    predicted_speedup: float | None = None  # measured, or the product of its atoms' pilot speed-ups
    measurements: list[Measurement] = field(default_factory=list)  # one per race round it ran in

    @property
    def last(self) -> Measurement | None:
        return self.measurements[-1] if self.measurements else None

    @property
    def furthest_stage(self) -> int:
        """How far the race took it: 0 the pilot, k round k, CONFIRMED the confirmation; -1 never
        measured. The answer's winner is the fastest of those that went furthest."""
        return max((stage_rank(m.stage) for m in self.measurements), default=-1)

    @property
    def speedups(self) -> tuple[float, ...]:
        """Every paired speed-up this candidate collected over all the rounds it ran in."""
        return tuple(s for m in self.measurements if m.ok for s in m.speedups)

    @property
    def speedup(self) -> float | None:
        return _median(self.speedups)

    @property
    def speedup_iqr(self) -> float | None:
        return _iqr(self.speedups)


@dataclass(frozen=True)
class QualityBound:
    """--min-psnr DB or --max-fid-increase X (exactly one)."""

    min_psnr: float | None = None
    max_fid_increase: float | None = None

    @property
    def uses_fid(self) -> bool:
        return self.max_fid_increase is not None

    def describe(self) -> str:
        if self.max_fid_increase is not None:
            return f"FID increase <= {self.max_fid_increase:g}"
        return f"PSNR >= {self.min_psnr:g} dB"

    def violation(self, measurement: Measurement) -> str | None:
        """Why the measurement is over the bound, or None when it is within."""
        if self.max_fid_increase is not None:
            increase = measurement.fid_increase
            if increase is None:
                return "no FID measured"
            if increase > self.max_fid_increase:
                return f"FID +{increase:.2f} > +{self.max_fid_increase:g}"
            return None
        assert self.min_psnr is not None
        if measurement.psnr_db is None:
            return "no PSNR measured"
        if measurement.psnr_db < self.min_psnr:
            return f"PSNR {measurement.psnr_db:.1f} dB < {self.min_psnr:g} dB"
        return None


CONFIRMED = 1_000_000  # the confirmation stage's rank: past every halving round


def stage_rank(stage: str) -> int:
    """'pilot' 0, 'round k' k, 'confirm' CONFIRMED; an unnamed stage (a hand-made measurement) 0."""
    if stage == "confirm":
        return CONFIRMED
    if stage.startswith("round "):
        number = stage.removeprefix("round ")
        return int(number) if number.isdigit() else 0
    return 0


def _median(values: tuple[float, ...]) -> float | None:
    return statistics.median(values) if values else None


def _iqr(values: tuple[float, ...]) -> float | None:
    """Interquartile range, quartiles by linear interpolation between the sorted values."""
    if len(values) < 2:
        return None
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return high - low
