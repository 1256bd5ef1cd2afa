"""`--interleave`: the timed rounds of every variant of a workload, in alternation.

On a shared machine a variant timed during a burst of other work and the next one in quiet
give a ratio that is noise. Here, at the first case of a workload, every variant of it is built
(or loaded from the variant cache) and given its first call and warm-up; then round k of every
variant runs before round k+1 of any, the order rotated each round (ABC, BCA, CAB), so a slow
minute hits every variant alike and none always runs first. Each variant's test then reports
the rounds recorded for it as its pytest-benchmark statistics (`record_rounds`), so the saved
run is the ordinary format, with `interleaved: true` in the row.

The memory trade-off: `resident` keeps every variant of the workload in memory together, so
the row's peak RAM (and VRAM) is the set's, and `ram_source` ends in `/set` to say so;
`reload` loads each variant from the variant cache before its round (plus one untimed generation:
a freshly loaded pipeline's first one is cold) and drops it after, so its peak is its own, at
the cost of the loads and those generations (outside the timing, in the wall time). To keep
that cost at one load per round, a reloaded variant's first call (and warm-up) runs just before
its first round, in the same load, and its row is finished (PSNR, the collectors) just after its
last round, before it is dropped: R rounds cost R loads and 2R generations, not R+2 and 2R+1.
Such a row's contention covers the alternation until its last round ended.

A variant that is unsupported, runs out of memory, passes `--timeout` or errors is taken out
of the session with its exception, and the others go on; its own test raises that exception
again, so bench/runner.py's policy makes it the same row as in a sequential run.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from bench import faults, progress
from bench.errors import BenchError
from bench.generate import generate
from bench.instruments.contention import Contention, ContentionMeter
from bench.instruments.energy import EnergyMeter
from bench.instruments.memory import CudaPeak, RssSampler
from bench.instruments.stages import GenerationStages, StageRecorder
from bench.measure import NVML_INTERVAL_S, RSS_INTERVAL_S, Measurement, OutOfMemory, variant_fields
from bench.profiles.offload import is_oom, oom_fields
from bench.profiles.rows import refuse_unsupported
from bench.schedulers import set_scheduler
from bench.source_model import return_freed_memory
from bench.suite_config import SuiteConfig
from bench.time_limit import BenchmarkTimeout, time_limit
from bench.workload import Workload
from optimize import BASELINE, Recipe, Variant

RESIDENT = "resident"
RELOAD = "reload"
# ram_source's suffix on a resident session's rows: the peak is the whole set's.
SET_SUFFIX = "/set"

Clock = Callable[[], float]


class Case(Protocol):
    """One row (bench.suite.Case): a recipe on a workload. Protocols, not bench.suite's classes:
    the suite calls this module, so this module must not import it back."""

    @property
    def recipe(self) -> Recipe: ...
    @property
    def workload(self) -> Workload: ...
    @property
    def variant(self) -> str: ...


class Suite(Protocol):
    """What a session asks of bench.suite.Suite."""

    config: SuiteConfig

    def row(self, case: Any) -> dict[str, Any]: ...
    def build(self, recipe: Recipe, place_on_device: bool = True) -> Variant: ...
    def park_source(self) -> None: ...
    def release_variant(self) -> None: ...
    def prepare_reference(self, workload: Workload) -> None: ...
    def keep_reference(self, workload: Workload, images: np.ndarray) -> None: ...
    def finish(
        self, case: Any, result: Measurement, info: dict[str, Any], variant: Variant | None = None
    ) -> None: ...


@dataclass
class LaneResult:
    """What one variant's test reports: its row, its recorded rounds, or the error that ended it."""

    info: dict[str, Any]
    durations: list[float]
    error: BaseException | None = None


@dataclass
class _Lane:
    """One variant's part of a session."""

    case: Case
    info: dict[str, Any]
    cuda: CudaPeak
    energy: EnergyMeter  # over this variant's own timed rounds only
    variant: Variant | None = None
    error: BaseException | None = None
    durations: list[float] = field(default_factory=list)
    generations: list[GenerationStages] = field(default_factory=list)
    images: np.ndarray | None = None
    first_call_s: float = 0.0
    peak_ram_mib: float = 0.0
    ram_start_mib: float | None = None
    ram_source: str = "sampled"
    vram: dict[str, Any] = field(default_factory=dict)
    spent_s: float = 0.0  # this variant's time so far, against --timeout

    @property
    def live(self) -> bool:
        return self.error is None

    def result(self) -> LaneResult:
        return LaneResult(dict(self.info), list(self.durations), self.error)


def rotation(count: int, round_index: int) -> list[int]:
    """Round k's order of `count` variants: ABC, BCA, CAB, ... (no variant always first)."""
    start = round_index % count if count else 0
    return [*range(start, count), *range(start)]


class InterleavedSession:
    """Every case of one workload, timed in alternation; `run()` returns one LaneResult per case."""

    def __init__(self, suite: Suite, cases: Sequence[Case], timer: Clock = time.perf_counter) -> None:
        self.suite = suite
        self.config = suite.config
        self.reload = self.config.interleave == RELOAD
        self.timer = timer
        device = self.config.device
        self.lanes = [
            _Lane(c, suite.row(c) | {"interleaved": True}, CudaPeak(device), EnergyMeter(device))
            for c in cases
        ]

    def run(self) -> list[LaneResult]:
        rounds = self.config.rounds
        progress.begin(f"interleaved-{self.lanes[0].case.workload.test_id}" if self.lanes else "interleaved")
        try:
            if not self.reload:
                for lane in self.lanes:
                    self._guarded(lane, self._open)
            with ContentionMeter() as contention:
                for round_index in range(rounds):
                    for position in rotation(len(self.lanes), round_index):
                        lane = self.lanes[position]
                        if lane.live:
                            self._guarded(lane, lambda lane, k=round_index: self._round(lane, k, contention))
            if not self.reload:
                for lane in self.lanes:
                    if lane.live:
                        self._guarded(lane, lambda lane: self._finish(lane, contention.result))
        finally:
            for lane in self.lanes:
                lane.variant = None
            return_freed_memory()
        return [lane.result() for lane in self.lanes]

    # -- one variant's parts, each under its share of --timeout ------------------------------
    def _guarded(self, lane: _Lane, work: Callable[[_Lane], None]) -> None:
        started = time.perf_counter()
        try:
            limit = self.config.timeout_s
            if limit is not None and lane.spent_s >= limit:
                raise BenchmarkTimeout(f"exceeded --timeout {limit:g} s")
            with time_limit(None if limit is None else limit - lane.spent_s):
                work(lane)
        except Exception as error:  # every kind: bench/runner.py decides what each becomes
            self._drop(lane, error)
        finally:
            lane.spent_s += time.perf_counter() - started

    def _drop(self, lane: _Lane, error: Exception) -> None:
        """Takes the lane out of the session with the error its test will raise again."""
        if is_oom(error):
            lane.info.update(oom_fields(self.config, error))  # the peak it reached
            kept: BaseException = OutOfMemory(lane.info["reason"])
        else:
            # Its traceback's frames hold the variant's tensors: kept as text, so the memory goes.
            where = "".join(traceback.format_tb(error.__traceback__))
            error.add_note(f"raised in the interleaved session:\n{where}")
            kept = error.with_traceback(None)
        lane.error = kept
        lane.variant = None
        self.suite.release_variant()
        progress.phase(f"{lane.case.variant} left the interleaved rounds: {type(kept).__name__}")

    def _open(self, lane: _Lane) -> None:
        """Build (or load), first call and warm-up (resident mode: before every round)."""
        self._first_call(lane, self._prepared(lane))
        self._unload(lane)

    def _prepared(self, lane: _Lane) -> Variant:
        """The lane's variant, built or loaded, after the reference image it is compared with."""
        case = lane.case
        refuse_unsupported(self.config, lane.info["dtype"])  # a dtype the emulated card cannot run
        if case.variant != BASELINE:
            self.suite.prepare_reference(case.workload)
            self.suite.release_variant()  # the baseline that made the reference image
        return self._load(lane)

    def _first_call(self, lane: _Lane, variant: Variant) -> None:
        case = lane.case
        pipeline = variant.pipeline
        with self._slot(lane):
            faults.before_first_call(case.variant, pipeline)
            progress.phase(f"first call: {case.variant}")
            started = time.perf_counter()
            lane.images = generate(pipeline, case.workload, self.config.device)
            lane.first_call_s = time.perf_counter() - started
            if case.variant == BASELINE:
                self.suite.keep_reference(case.workload, lane.images)
            for done in range(self.config.warmup):
                progress.phase(f"warm-up {done + 1} of {self.config.warmup}: {case.variant}")
                generate(pipeline, case.workload, self.config.device)

    def _round(self, lane: _Lane, round_index: int, contention: ContentionMeter) -> None:
        if self.reload and round_index == 0:
            # The first call (and warm-up) in the round's own load: it warms this load too.
            variant = self._prepared(lane)
            self._first_call(lane, variant)
        else:
            variant = self._load(lane)
        pipeline = variant.pipeline
        if self.reload and round_index > 0:
            # A freshly loaded pipeline's first generation is a cold one (allocations, kernel
            # selection): one untimed generation first, or every reloaded round is a first call.
            progress.phase(f"re-warm after the reload: {lane.case.variant}")
            generate(pipeline, lane.case.workload, self.config.device)
        progress.phase(f"round {round_index + 1} of {self.config.rounds}: {lane.case.variant}")
        with self._slot(lane), StageRecorder(pipeline, self.config.device) as stages:
            lane.energy.begin()  # outside the clock: Zeus synchronises the GPU and reads counters
            started = self.timer()
            generate(pipeline, lane.case.workload, self.config.device, stages)
            lane.durations.append(self.timer() - started)
            lane.energy.end()
        lane.generations.extend(stages.generations)
        if self.reload and round_index == self.config.rounds - 1:
            self._finish(lane, contention.so_far())  # while loaded: no load just for the row
        self._unload(lane)

    def _finish(self, lane: _Lane, contention: Contention | None) -> None:
        """PSNR, status and the collectors' fields, as a sequential row gets them."""
        variant = self._load(lane)
        assert lane.images is not None
        recorder = StageRecorder(variant.pipeline, self.config.device)  # no hooks: only its summary
        recorder.generations = lane.generations
        measurement = Measurement(
            images=lane.images,
            first_call_s=lane.first_call_s,
            stages=recorder.summary(),
            peak_ram_mib=lane.peak_ram_mib,
            vram=lane.vram or CudaPeak(self.config.device).read(),
            ram_start_mib=lane.ram_start_mib,
            ram_source=lane.ram_source if self.reload else lane.ram_source + SET_SUFFIX,
            contention=contention,  # over the alternation (every variant's rounds), not one lane's
            energy=lane.energy.result(len(lane.durations), lane.case.workload.batch),
        )
        self.suite.finish(lane.case, measurement, lane.info, variant)
        self._unload(lane)

    # -- memory -----------------------------------------------------------------------------
    def _load(self, lane: _Lane) -> Variant:
        if lane.variant is None:
            lane.variant = self.suite.build(lane.case.recipe)
            lane.info.update(_build_fields(lane.variant, lane.info))
            self.suite.park_source()  # the source is not resident while variants run
            set_scheduler(lane.variant.pipeline, lane.case.workload.scheduler)
            lane.variant.pipeline.set_progress_bar_config(disable=True)
        return lane.variant

    def _unload(self, lane: _Lane) -> None:
        if self.reload:
            lane.variant = None
            return_freed_memory()

    @contextmanager
    def _slot(self, lane: _Lane) -> Iterator[None]:
        """Peak RAM and VRAM over one part of the lane's work, kept as the lane's maximum."""
        lane.cuda.reset()
        nvml = lane.cuda.sample_nvml if self.config.device.type == "cuda" else None
        with RssSampler(interval=RSS_INTERVAL_S, also=nvml, also_interval=NVML_INTERVAL_S) as rss:
            yield
        lane.peak_ram_mib = max(lane.peak_ram_mib, rss.peak_mib)
        lane.ram_start_mib = rss.start_mib if lane.ram_start_mib is None else lane.ram_start_mib
        lane.ram_source = rss.source
        lane.vram = _larger(lane.vram, lane.cuda.read())


def _build_fields(variant: Variant, info: dict[str, Any]) -> dict[str, Any]:
    """The first build's (or cache load's) figures; a reload's are not the row's build."""
    return variant_fields(variant) if info.get("build_s") is None else {}


def _larger(kept: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    """Per field the larger number (peaks over the lane's parts); the latest value otherwise."""
    merged = dict(read)
    for name, value in kept.items():
        new = read.get(name)
        if isinstance(value, int | float) and isinstance(new, int | float) and name.startswith("peak_"):
            merged[name] = max(value, new)
    return merged


# -- the recorded rounds into pytest-benchmark ------------------------------------------------


class ReplayClock:
    """A clock that reads 0.0 at each round's start and the recorded duration at its end.

    pytest-benchmark times a pedantic round as `end - start` of its fixture's `_timer`, read
    once before and once after the call (BenchmarkFixture._make_runner), and adds exactly that
    to its statistics; d - 0.0 is d, so the statistics are the recorded rounds bit for bit.
    """

    def __init__(self, durations: Sequence[float]) -> None:
        self._readings = iter([reading for duration in durations for reading in (0.0, duration)])

    def __call__(self) -> float:
        return next(self._readings)


def _already_timed() -> None:
    """The round's work ran in the interleaved session; the replay has nothing left to do."""


def record_rounds(benchmark: Any, durations: Sequence[float]) -> None:
    """The rounds timed in the session as this test's pytest-benchmark statistics.

    Why a replaying clock through `pedantic`, and not filling the fixture's stats by hand:
    `pedantic` stays the one path that makes the fixture's statistics (its mode, its stats
    object handed to the session, `--benchmark-disable`), and the only private thing touched is
    `_timer`, read where each round's runner is made. pytest-benchmark is pinned
    (constraints.txt); should a later version read its clock differently, the check below
    stops the run instead of saving figures that are not the rounds measured.
    """
    measured_with = benchmark._timer
    benchmark._timer = ReplayClock(durations)
    try:
        benchmark.pedantic(_already_timed, rounds=len(durations), warmup_rounds=0, iterations=1)
    finally:
        benchmark._timer = measured_with
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: no statistics kept
        return
    stats.options["timer"] = measured_with  # the clock that timed the rounds, as the saved run says
    if list(stats.stats.data) != list(durations):
        raise BenchError(
            "pytest-benchmark's statistics differ from the interleaved rounds recorded "
            f"({list(stats.stats.data)} != {list(durations)}): this pytest-benchmark reads its clock "
            "differently; run without --interleave, or pin the version in constraints.txt"
        )


def replay(result: LaneResult, benchmark: Any, info: dict[str, Any]) -> None:
    """One variant's test: its row from the session, then its rounds, or the error that ended it."""
    info.update(result.info)
    if result.error is not None:
        raise result.error
    record_rounds(benchmark, result.durations)
