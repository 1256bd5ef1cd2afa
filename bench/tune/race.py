"""The race: a pilot of the single passes, then successive halving over the most promising recipes.

1. **Pilot.** Every single-pass candidate ("atom": `bf16`, `int8`, `prune(0.2)`, `compile`, ...)
   is timed for a few interleaved rounds against the baseline, its quality checked. An atom
   that fails or is over the quality bound takes every combination containing it out of the
   race (its reason says which pass alone was over); a combination's predicted speed-up is the
   product of its atoms'. The pilot is the cheap timing the design asks for: one timing per pass,
   not one per combination. The screen's projected step time (GPU profiles) is recorded, not used
   here: it knows the dtype alone, not what quantisation, pruning or a backend does, and on a
   machine that emulates the card it is not what the race times.
2. **Halving.** The `max_candidates` best predicted candidates (atoms within the bound among
   them) are timed interleaved for `first_rounds` rounds; the faster half (by the median of all
   their paired speed-ups so far) goes on and is timed for twice as many rounds; and so on until
   one is left. Quality is checked at every round on the same seeds, so a candidate whose image
   drifts past the bound leaves then.
3. **Budget.** Before a stage, its cost is guessed from the stages before it (seconds per unit
   of work, the timing source saying how many units a stage is: its loads, first calls, warm-ups
   and timed rounds, which depend on whether the variants stay resident); a stage that would
   not fit in what is left is
   not started, and what it would have timed is marked "not tried" with the reason. A stage in
   flight when the budget runs out is stopped by the timing source (BudgetExpired); Ctrl-C
   stops it the same way. Either way the race returns what it had: every candidate keeps the
   measurements it got, so the answer is the best found so far.

The timing source is a Protocol: the product times through the suite in a subprocess
(suite_source.py); the tests drive the race with a stub.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from bench.tune.candidates import Candidate, Measurement, QualityBound, Status
from bench.tune.errors import BudgetExpired
from bench.tune.space import combination_of

FINISHED = "finished"
BUDGET = "budget"
INTERRUPTED = "interrupted"
# An atom with one of these statuses takes its combinations out of the race.
_LOST = (Status.FAILED, Status.OVER_QUALITY, Status.NO_FIT, Status.REFUSED)


class TimingSource(Protocol):
    def measure(self, recipes: Sequence[str], rounds: int, label: str) -> dict[str, Measurement]:
        """Every recipe (and the baseline) timed in one interleaved run of `rounds` rounds."""
        ...

    def work_units(self, recipes: Sequence[str], rounds: int) -> float:
        """How much work `measure(recipes, rounds)` is, in generation-sized units (a load counts
        as one): what the race's cost model scales by seconds per unit."""
        ...


class RaceEvents(Protocol):
    def stage_started(self, label: str, recipes: Sequence[str], rounds: int) -> None: ...
    def stage_finished(self, label: str, seconds: float, best: Candidate | None) -> None: ...


class _Silent:
    def stage_started(self, label: str, recipes: Sequence[str], rounds: int) -> None:
        pass

    def stage_finished(self, label: str, seconds: float, best: Candidate | None) -> None:
        pass


@dataclass
class Budget:
    """Seconds the search may take from its start (None: no limit)."""

    seconds: float | None
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def deadline(self) -> float | None:
        return None if self.seconds is None else self.started + self.seconds

    def remaining(self) -> float | None:
        return None if self.seconds is None else self.started + self.seconds - self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started


@dataclass(frozen=True)
class RacePlan:
    pilot_rounds: int = 1
    first_rounds: int = 2
    growth: int = 2  # rounds multiply by this at each halving
    max_candidates: int = 8  # raced after the pilot
    confirm_rounds: int = 3  # the winner against the baseline once more, never replayed (reuse.py)


@dataclass
class RaceResult:
    stopped: str  # finished, budget, interrupted
    note: str = ""  # what was not done, when it stopped early
    stages: list[tuple[str, int, int, float]] = field(
        default_factory=list
    )  # label, variants, rounds, seconds


@dataclass
class _CostModel:
    """What a stage will cost, learnt from the stages before it.

    Timing: seconds per unit of work, the units of a stage as its timing source counts them
    (`TimingSource.work_units`: loads, first calls, warm-ups and timed rounds). Builds apart:
    a stage's build seconds (its rows' `build_s` where the variant was not in the cache) are
    taken out before learning, and a candidate never built before is guessed to take the sum of
    its passes' builds alone (the pilot built each). A stage answered in under a second was
    replayed from an earlier answer (reuse.py): it teaches nothing.
    """

    per_unit: float | None = None
    REPLAYED_S = 1.0

    def guess(self, units: float, builds_s: float = 0.0) -> float | None:
        if self.per_unit is None:
            return None
        return self.per_unit * units + builds_s

    def learn(self, units: float, seconds: float, builds_s: float) -> None:
        if seconds < self.REPLAYED_S or units <= 0:
            return
        self.per_unit = max(seconds - builds_s, 0.0) / units


def built_seconds(measurement: Measurement) -> float:
    """The build inside this measurement's run (0 when the variant came from the cache)."""
    if measurement.cache_hit is False and measurement.build_s is not None:
        return measurement.build_s
    return 0.0


def first_build_seconds(measurement: Measurement) -> float:
    """What the variant's build took when it was made, whether this run built or loaded it: the
    row's own build_s where it was built here (it counts the save into the cache, as a new
    combination's build will), else the manifest's."""
    built_here = built_seconds(measurement)
    if built_here or measurement.first_build_s is None:
        return built_here
    return measurement.first_build_s


class Race:
    def __init__(
        self,
        candidates: list[Candidate],
        source: TimingSource,
        bound: QualityBound,
        budget: Budget,
        plan: RacePlan = RacePlan(),
        events: RaceEvents | None = None,
        baseline: str = "fp32",
    ) -> None:
        self.candidates = candidates
        self.source = source
        self.bound = bound
        self.budget = budget
        self.plan = plan
        self.events = events or _Silent()
        self.cost = _CostModel()
        self.result = RaceResult(stopped=FINISHED)
        self.baseline = baseline
        # The baseline's own row of each stage (its seconds per generation, for the answer).
        self.baseline_measurements: list[Measurement] = []

    # -- the whole race ------------------------------------------------------------------------
    def run(self) -> RaceResult:
        try:
            self._race()
        except BudgetExpired:
            self._stop(
                BUDGET,
                "the budget ran out during a timing run; its candidates keep what earlier stages measured",
            )
        except KeyboardInterrupt:
            self._stop(
                INTERRUPTED, "interrupted (Ctrl-C) during a timing run; the best found so far is the answer"
            )
        return self.result

    def _race(self) -> None:
        atoms = [c for c in self._open() if len(c.passes) == 1]
        if atoms and not self._stage("pilot", atoms, self.plan.pilot_rounds):
            return
        self._predict()
        pool = self._pick_pool()
        rounds = self.plan.first_rounds
        stage = 1
        while len(pool) > 1:
            if not self._stage(f"round {stage}", pool, rounds, shrink=True):
                break  # the budget: the best ranked so far is still confirmed, where that fits
            pool = self._halve(pool, stage)
            rounds *= self.plan.growth
            stage += 1
        # The race's survivor is confirmed; where the halving left none within the bound, the
        # best measured.
        finalist = next((c for c in pool if c.status is None), None) or self.best()
        if finalist is None or not self.plan.confirm_rounds:
            return
        if self.result.stopped == BUDGET:
            remaining = self.budget.remaining() or 0.0
            if not self._fits([finalist], self.plan.confirm_rounds, remaining):
                self.result.note += "; the confirmation did not fit either"
                return
        self._stage("confirm", [finalist], self.plan.confirm_rounds)

    # -- one timing stage ---------------------------------------------------------------------
    def _stage(self, label: str, group: list[Candidate], rounds: int, *, shrink: bool = False) -> bool:
        """Time `group`; False when the budget stops the race before the stage starts. With
        `shrink`, a stage that would not fit races the best of `group` (it is in rank order) that
        do, and the rest leave the race with that reason."""
        remaining = self.budget.remaining()
        fitted = len(group)
        while (
            remaining is not None
            and shrink
            and fitted > 1
            and not self._fits(group[:fitted], rounds, remaining)
        ):
            fitted -= 1
        if remaining is not None and (remaining <= 0 or not self._fits(group[:fitted], rounds, remaining)):
            guess = self._guess(group, rounds)
            wanted = f"~{guess / 60:.1f} min" if guess is not None else "its time"
            self._stop(
                BUDGET,
                f"{label} ({len(group)} candidates x {rounds} rounds, {wanted}) did not fit the "
                f"{max(remaining, 0) / 60:.1f} min left of the budget",
            )
            return False
        if fitted < len(group):
            for candidate in group[fitted:]:
                left_out = f"{label}: left out to fit the budget (the {fitted} best ranked were raced)"
                candidate.status = Status.DROPPED if candidate.measurements else Status.NOT_TRIED
                candidate.reason = left_out
            group = group[:fitted]
        recipes = [c.recipe for c in group]
        self.events.stage_started(label, recipes, rounds)
        started = self.budget.clock()
        measured = self.source.measure(recipes, rounds, label.replace(" ", "-"))
        seconds = self.budget.clock() - started
        builds = sum(built_seconds(m) for m in measured.values())
        self.cost.learn(self.source.work_units(recipes, rounds), seconds, builds)
        self.result.stages.append((label, len(group), rounds, seconds))
        if self.baseline in measured:
            self.baseline_measurements.append(measured[self.baseline])
        for candidate in group:
            measurement = measured.get(candidate.recipe) or Measurement(
                status="error", reason="the timing run returned no row for it"
            )
            measurement = replace(measurement, stage=label)
            candidate.measurements.append(measurement)
            self._judge(candidate, measurement)
        self.events.stage_finished(label, seconds, self.best())
        return True

    def _fits(self, group: list[Candidate], rounds: int, remaining: float) -> bool:
        guess = self._guess(group, rounds)
        return guess is None or guess <= remaining

    def _guess(self, group: list[Candidate], rounds: int) -> float | None:
        units = self.source.work_units([c.recipe for c in group], rounds)
        return self.cost.guess(units, sum(self._build_guess(c) for c in group))

    def _build_guess(self, candidate: Candidate) -> float:
        """0 for a candidate built before (a load, counted in the timing's overhead); else the
        sum of its passes' builds alone, as long as each took when it was made (an atom that
        came from the variant cache was loaded in the pilot, not built)."""
        if candidate.measurements:
            return 0.0
        singles = [c for c in self.candidates if len(c.passes) == 1 and c.measurements]
        parts = combination_of(candidate, singles) or ()
        return sum(max((first_build_seconds(m) for m in atom.measurements), default=0.0) for atom in parts)

    def _judge(self, candidate: Candidate, measurement: Measurement) -> None:
        if measurement.status == "unsupported":
            # Refused when built: a refusal the recipe could not know before the model was at
            # hand (compile on a pipeline without the modules it covers).
            candidate.status = Status.REFUSED
            candidate.reason = measurement.reason
        elif not measurement.ok:
            candidate.status = Status.FAILED
            candidate.reason = f"{measurement.status}: {measurement.reason}".rstrip(": ")
        elif measurement.fits is False:
            candidate.status = Status.NO_FIT
            candidate.reason = "the built variant does not fit the profile's memory"
        else:
            violation = self.bound.violation(measurement)
            if violation:
                candidate.status = Status.OVER_QUALITY
                candidate.reason = violation

    # -- between stages -----------------------------------------------------------------------
    def _open(self) -> list[Candidate]:
        return [c for c in self.candidates if c.status is None]

    def _predict(self) -> None:
        """A combination's predicted speed-up: the product of its atoms' pilot speed-ups
        (space.combination_of says which atoms); one with a failed or over-bound atom is screened
        out with that atom's reason."""
        # Refused alone before anything ran: no atom (trt(precision=int8) runs only after ort-int8).
        # Refused at build (measured): an atom whose refusal its combinations inherit.
        singles = [
            c
            for c in self.candidates
            if len(c.passes) == 1 and (c.status is not Status.REFUSED or c.measurements)
        ]
        for candidate in self._open():
            if candidate.measurements:
                candidate.predicted_speedup = candidate.speedup
                continue
            if candidate.predicted_speedup is not None:
                continue  # predicted before an earlier stage
            parts = combination_of(candidate, singles)
            if parts is None:
                candidate.status = Status.SCREENED
                candidate.reason = (
                    "no prediction: its speed-up is no product of single passes' (two passes of one "
                    "stage, or a pass that runs only after another)"
                )
                continue
            lost = next((atom for atom in parts if atom.status in _LOST), None)
            if lost is not None:
                candidate.status = Status.SCREENED
                candidate.reason = f"{lost.recipe} alone: {lost.status}, {lost.reason}"
                continue
            untimed = next((atom for atom in parts if atom.speedup is None), None)
            if untimed is not None:
                candidate.status = Status.SCREENED
                candidate.reason = f"no prediction: {untimed.recipe} was not timed alone"
                continue
            candidate.predicted_speedup = math.prod(atom.speedup or 0.0 for atom in parts)

    def _pick_pool(self) -> list[Candidate]:
        ranked = sorted(
            (c for c in self._open() if c.predicted_speedup is not None),
            key=lambda c: (-(c.predicted_speedup or 0.0), len(c.passes), c.recipe),
        )
        pool = ranked[: self.plan.max_candidates]
        if len(ranked) > len(pool):
            cut = pool[-1].predicted_speedup or 0.0
            for candidate in ranked[len(pool) :]:
                candidate.status = Status.SCREENED
                candidate.reason = (
                    f"predicted {candidate.predicted_speedup:.2f}x, below the {len(pool)} raced "
                    f"(cut-off {cut:.2f}x)"
                )
        for candidate in self._open():
            if candidate.predicted_speedup is None and candidate not in pool:
                candidate.status = Status.SCREENED
                candidate.reason = "no prediction: none of its passes was timed alone"
        return pool

    def _halve(self, pool: list[Candidate], stage: int) -> list[Candidate]:
        alive = [c for c in pool if c.status is None]
        alive.sort(key=lambda c: (-(c.speedup or 0.0), c.recipe))
        keep = max(1, math.ceil(len(alive) / 2))
        survivors, dropped = alive[:keep], alive[keep:]
        floor = survivors[-1].speedup if survivors else None
        for candidate in dropped:
            candidate.status = Status.DROPPED
            speedup = candidate.speedup or 0.0
            candidate.reason = f"round {stage}: {speedup:.2f}x; the {keep} kept: {floor or 0:.2f}x or more"
        return survivors

    def _stop(self, why: str, note: str) -> None:
        self.result.stopped = why
        self.result.note = note
        for candidate in self._open():
            if not candidate.measurements:
                candidate.status = Status.NOT_TRIED
                candidate.reason = f"{why}: {note}"

    def best(self) -> Candidate | None:
        """The race's leader within the bound so far (the live line's 'best')."""
        within = [
            c
            for c in self.candidates
            if c.speedup is not None
            and c.status in (None, Status.DROPPED)
            and c.last is not None
            and c.last.ok
            and self.bound.violation(c.last) is None
        ]
        # The race's leader: the furthest it took, the fastest of those (as the answer decides).
        return max(within, key=lambda c: (c.furthest_stage, c.speedup or 0.0), default=None)
