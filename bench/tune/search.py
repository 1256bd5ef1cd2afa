"""One `diffbench tune`: enumerate, screen, race, decide, save; the answer printed and kept.

The source model is loaded once in this process, for the screen's meta-device estimates only
(then dropped); every timing is the suite's own run in a subprocess, so the rows, the variant
cache and the saved runs are the ordinary ones. Progress: a tqdm bar over the race's stages and
a live line with the best recipe so far. Ctrl-C or the budget end the search with the best
answer found so far, saved like a finished one.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import torch
from tqdm import tqdm

from bench.machine import cpu_flags
from bench.source_model import return_freed_memory
from bench.suite_config import SuiteConfig
from bench.tune import answer as answers
from bench.tune.answer import FILE_NAME
from bench.tune.candidates import Candidate, Measurement, QualityBound, Status
from bench.tune.disk import disk_need, disk_warning
from bench.tune.race import INTERRUPTED, Budget, Race, RacePlan, RaceResult
from bench.tune.reuse import ReplayingSource, earlier_answer, search_key
from bench.tune.screen import screen
from bench.tune.space import enumerate_space
from bench.tune.suite_source import SuiteTimingSource
from optimize import BASELINE
from optimize.cache import default_cache_root
from optimize.passes.registry import emulation_note, pass_class

if TYPE_CHECKING:  # the fleet's modules only where a search runs on one
    from bench.fleet.tune_source import FleetTarget, FleetTimingSource

# Variants kept resident together in an interleaved stage may use this share of the memory
# free at the start; beyond it each is reloaded from the variant cache before its round. What is
# compared with it is the sum of their estimated peaks, which counts every variant's activations
# although only one generates at a time: the rest of the margin is in that overcount.
RESIDENT_SHARE = 0.75
EXIT_INTERRUPTED = 130
POSTFIX_CHARS = 70


@dataclass
class SearchSettings:
    config: SuiteConfig
    suite_options: list[str]
    bound: QualityBound
    budget_s: float | None
    passes: tuple[str, ...] | None
    max_candidates: int
    first_rounds: int
    output: Path
    command: list[str] = field(default_factory=list)
    fleet: FleetTarget | None = None  # time on these nodes of one profile (--fleet), not here


class _Progress:
    """The race's stages as a tqdm bar, and the best so far as its postfix (and a line each stage)."""

    def __init__(self, stages: int) -> None:
        self.bar = tqdm(total=stages, desc="tune", unit="stage", file=sys.stderr, dynamic_ncols=True)

    def stage_started(self, label: str, recipes: Sequence[str], rounds: int) -> None:
        self.bar.set_description(f"tune: {label}, {len(recipes)} candidates x {rounds} rounds")

    def suite_line(self, line: str) -> None:
        """The suite's latest progress line, as the bar's postfix (what runs now within the stage)."""
        text = line.removeprefix("[diffbench] ")
        self.bar.set_postfix_str(text if len(text) <= POSTFIX_CHARS else text[: POSTFIX_CHARS - 3] + "...")

    def stage_finished(self, label: str, seconds: float, best: Candidate | None) -> None:
        self.bar.update(1)
        line = f"[tune] {label} done in {seconds / 60:.1f} min; best so far: "
        if best is None or best.speedup is None:
            line += "none within the bound"
        else:
            line += f"{best.recipe} {best.speedup:.2f}x"
        self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


class _MemoryAwareSource:
    """The suite timing source, resident when the stage's variants fit together, else reloaded."""

    def __init__(
        self, source: SuiteTimingSource | FleetTimingSource, estimates: dict[str, float], limit_mib: float
    ) -> None:
        self.source = source
        self.estimates = estimates
        self.limit_mib = limit_mib

    def measure(self, recipes: Sequence[str], rounds: int, label: str) -> dict[str, Measurement]:
        self._choose_mode(recipes)
        return self.source.measure(recipes, rounds, label)

    def work_units(self, recipes: Sequence[str], rounds: int) -> float:
        self._choose_mode(recipes)
        return self.source.work_units(recipes, rounds)

    def _choose_mode(self, recipes: Sequence[str]) -> None:
        together = sum(self.estimates.get(r, self.estimates.get(BASELINE, 0.0)) for r in (BASELINE, *recipes))
        resident = together <= self.limit_mib
        self.source.interleave = "resident" if resident else "reload"
        # Reloaded, every round already follows an untimed generation of its own: a warm-up on
        # top would only cost time.
        self.source.warmup = 1 if resident else 0


class Search:
    def __init__(self, settings: SearchSettings) -> None:
        self.settings = settings
        self.started = dt.datetime.now(dt.UTC)
        self.plan = RacePlan(first_rounds=settings.first_rounds, max_candidates=settings.max_candidates)
        self.race: Race | None = None
        self.fleet_source: FleetTimingSource | None = None
        plan: dict[str, Any] = {
            **asdict(self.plan),
            "passes": settings.passes,
            "bound": asdict(settings.bound),
        }
        if settings.fleet is not None:  # a fleet's timings are its profile's nodes', never this machine's
            plan["fleet"] = settings.fleet.profile
        self.key = search_key(settings.suite_options, str(settings.config.device), BASELINE, plan)

    def run(self) -> int:
        s = self.settings
        config = s.config
        budget = Budget(s.budget_s)
        candidates = enumerate_space(config.device, s.passes)
        if s.passes is None:
            screen_emulated(candidates, config.device)
        valid = [c for c in candidates if c.status is None]
        print(
            f"[tune] {len(candidates)} recipes from the passes, {len(valid)} valid on {config.device}; "
            f"bound {s.bound.describe()}; budget {_minutes(s.budget_s)}",
            file=sys.stderr,
        )
        try:
            self._screen(candidates)
        except KeyboardInterrupt:
            for candidate in candidates:
                if candidate.status is None:
                    candidate.status, candidate.reason = (
                        Status.NOT_TRIED,
                        "interrupted (Ctrl-C) in the screen",
                    )
            return self._finish(
                candidates, RaceResult(stopped=INTERRUPTED, note="interrupted in the screen"), budget
            )
        source = SuiteTimingSource(
            suite_options=s.suite_options,
            storage=s.output / "runs",
            timeout_s=config.timeout_s,
            deadline=budget.deadline,
            log=s.output / "suite.log",
        )
        estimates = {c.recipe: c.estimate_mib for c in candidates if c.estimate_mib is not None}
        estimates[BASELINE] = max(estimates.values(), default=0.0)
        cache_folder = config.cache_root or default_cache_root()
        warning = disk_warning(disk_need(candidates, s.max_candidates, estimates[BASELINE]), cache_folder)
        if warning:
            print(f"[tune] {warning}", file=sys.stderr)
        earlier = earlier_answer(s.output, self.key)
        if earlier:
            print(
                f"[tune] {s.output / FILE_NAME} answers the same search: its timings are replayed, "
                "what it did not reach is timed, and the finalist is confirmed again",
                file=sys.stderr,
            )
        timed: SuiteTimingSource | FleetTimingSource = source
        if s.fleet is not None:
            from bench.fleet.tune_source import FleetTimingSource

            timed = self.fleet_source = FleetTimingSource(source, s.fleet)
        timing = ReplayingSource(
            _MemoryAwareSource(timed, estimates, _memory_limit_mib(config.device)), earlier
        )
        atoms = sum(1 for c in candidates if c.status is None and len(c.passes) == 1)
        # The pilot, the halving rounds (about log2 of the raced candidates), the confirmation.
        stages = (1 if atoms else 0) + max(1, (s.max_candidates - 1).bit_length()) + 1
        progress = _Progress(stages)
        source.on_progress = progress.suite_line
        self.race = Race(candidates, timing, s.bound, budget, self.plan, progress, baseline=BASELINE)
        try:
            result = self.race.run()
        finally:
            progress.close()
        return self._finish(candidates, result, budget)

    def _screen(self, candidates: list[Candidate]) -> None:
        from models import load_model

        config = self.settings.config
        print(f"[tune] loading {config.model} for the memory estimates", file=sys.stderr)
        loaded = load_model(config.model, config.weights, allow_pickle=config.allow_pickle)
        profile = config.hardware.profile if config.hardware is not None else None
        screen(candidates, loaded.pipeline, config.workloads[0], profile)
        del loaded
        return_freed_memory()

    def _finish(self, candidates: list[Candidate], result: RaceResult, budget: Budget) -> int:
        s = self.settings
        winner = answers.decide(candidates, s.bound)
        baseline_rows = self.race.baseline_measurements if self.race is not None else []
        answer = answers.TuneAnswer(
            command=s.command,
            model=s.config.model,
            profile=_profile_name(s.config),
            device=str(s.config.device),
            cpu_flags=" ".join(flag for flag in cpu_flags() if flag.startswith(("avx", "amx", "fma"))),
            bound=s.bound,
            budget_s=s.budget_s,
            started=self.started.isoformat(timespec="seconds"),
            ended=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            stopped=result.stopped,
            note=result.note,
            baseline=BASELINE,
            runs=sorted({m.run for c in candidates for m in c.measurements if m.run}),
            candidates=candidates,
            winner=winner,
            stages=[list(stage) for stage in result.stages],
            baseline_median_s=next((m.median_s for m in reversed(baseline_rows) if m.ok), None),
            search_key=self.key,
            fleet=self.fleet_source.record() if self.fleet_source is not None else None,
        )
        s.output.mkdir(parents=True, exist_ok=True)
        keep_earlier_answer(s.output)
        path = answers.save_answer(s.output, answer)
        print(answers.format_table(answer))
        if winner is None:
            print(
                f"[tune] nothing beat {BASELINE} within {s.bound.describe()}; "
                "the table says what each candidate lost"
            )
        else:
            print(answers.winner_line(winner, s.bound))
        print(f"[tune] {result.stopped} after {budget.elapsed() / 60:.1f} min; saved {path}", file=sys.stderr)
        if result.note:
            print(f"[tune] {result.note}", file=sys.stderr)
        # Saved either way; an interrupted search still exits as a shell reports Ctrl-C.
        return EXIT_INTERRUPTED if result.stopped == INTERRUPTED else 0


def keep_earlier_answer(folder: Path) -> None:
    """Nothing saved is lost: an earlier tune.json is kept beside the new one, named by its time."""
    path = folder / FILE_NAME
    if not path.exists():
        return
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).strftime("%Y%m%dT%H%M%S")
    target = folder / f"tune-{stamp}.json"
    number = 1
    while target.exists():
        number += 1
        target = folder / f"tune-{stamp}-{number}.json"
    path.replace(target)
    print(f"[tune] the earlier answer is kept as {target}", file=sys.stderr)


def screen_emulated(candidates: list[Candidate], device: torch.device) -> None:
    """A dtype pass this CPU only emulates (converted to fp32 per op: several times slower than
    fp32) is screened out with the pass's own note; naming it in --passes races it anyway."""
    for candidate in candidates:
        if candidate.status is not None:
            continue
        for name in candidate.passes:
            note = emulation_note(pass_class(name), device)
            if note:
                candidate.status, candidate.reason = (
                    Status.SCREENED,
                    f"{name}: {note} (--passes {name} races it)",
                )
                break


def _memory_limit_mib(device: torch.device) -> float:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free / (1 << 20) * RESIDENT_SHARE
    return psutil.virtual_memory().available / (1 << 20) * RESIDENT_SHARE


def _profile_name(config: SuiteConfig) -> str | None:
    return config.hardware.profile.name if config.hardware is not None else None


def _minutes(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds / 60:g} min"
