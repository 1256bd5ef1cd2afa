"""The race on a stub timing source: the pilot, the halving, the budget and Ctrl-C."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

import pytest

from bench.tune.candidates import Candidate, Measurement, QualityBound, Status
from bench.tune.errors import BudgetExpired
from bench.tune.race import BUDGET, FINISHED, INTERRUPTED, Budget, Race, RacePlan
from optimize import parse_recipe

BOUND = QualityBound(min_psnr=35.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class StubSource:
    """Each recipe's true speed-up and PSNR; every variant-round costs one second of the clock."""

    def __init__(
        self,
        truth: dict[str, tuple[float, float]],
        clock: Clock,
        *,
        fail: Sequence[str] = (),
        raise_at_call: int | None = None,
        error: type[BaseException] = BudgetExpired,
    ) -> None:
        self.truth = truth
        self.clock = clock
        self.fail = set(fail)
        self.calls: list[tuple[tuple[str, ...], int, str]] = []
        self.raise_at_call = raise_at_call
        self.error = error

    def work_units(self, recipes: Sequence[str], rounds: int) -> float:
        return (len(recipes) + 1) * (rounds + 2)

    def measure(self, recipes: Sequence[str], rounds: int, label: str) -> dict[str, Measurement]:
        self.calls.append((tuple(recipes), rounds, label))
        if self.raise_at_call is not None and len(self.calls) == self.raise_at_call:
            raise self.error()
        self.clock.now += self.work_units(recipes, rounds)  # one second per unit of work
        out: dict[str, Measurement] = {}
        for recipe in recipes:
            if recipe in self.fail:
                out[recipe] = Measurement(status="nan", reason="NaN in the image")
                continue
            speedup, psnr = self.truth[recipe]
            out[recipe] = Measurement(status="ok", rounds=rounds, speedups=(speedup,) * rounds, psnr_db=psnr)
        return out


def candidates_of(truth: dict[str, tuple[float, float]]) -> list[Candidate]:
    return [Candidate(recipe, tuple(p.name for p in parse_recipe(recipe).passes)) for recipe in truth]


def test_pilot_then_halving_finds_the_fastest_within_the_bound():
    truth = {
        "bf16": (2.0, 45.0),
        "int8": (1.2, 50.0),
        "prune(0.2)": (1.3, 40.0),
        "compile": (1.1, 120.0),
        "bf16+int8": (2.2, 44.0),
        "prune(0.2)+bf16": (2.7, 38.0),
        "prune(0.2)+bf16+compile": (3.0, 37.0),
        "bf16+compile": (2.3, 45.0),
        "int8+compile": (1.3, 50.0),
    }
    clock = Clock()
    candidates = candidates_of(truth)
    source = StubSource(truth, clock)
    result = Race(candidates, source, BOUND, Budget(None, clock), RacePlan(max_candidates=4)).run()
    assert result.stopped == FINISHED
    # The pilot timed the four single passes, once each, before any combination.
    assert source.calls[0] == (("bf16", "int8", "prune(0.2)", "compile"), 1, "pilot")
    # Predicted = product of the atoms: prune+bf16+compile 2.86, prune+bf16 2.6, bf16+int8 2.4,
    # bf16+compile 2.2: the four raced.
    raced = source.calls[1][0]
    assert set(raced) == {"prune(0.2)+bf16+compile", "prune(0.2)+bf16", "bf16+int8", "bf16+compile"}
    # Then 2 kept, then the one left is confirmed against the baseline once more.
    assert [len(call[0]) for call in source.calls[1:]] == [4, 2, 1]
    assert [call[1] for call in source.calls[1:]] == [2, 4, 3]
    assert source.calls[-1] == (("prune(0.2)+bf16+compile",), 3, "confirm")
    by_recipe = {c.recipe: c for c in candidates}
    assert by_recipe["bf16"].status is Status.SCREENED  # predicted 2.0x, below the cut-off
    assert by_recipe["bf16+int8"].status is Status.DROPPED
    assert "round 1" in by_recipe["bf16+int8"].reason
    survivor = [c for c in candidates if c.status is None]
    assert [c.recipe for c in survivor] == ["prune(0.2)+bf16+compile"]
    assert survivor[0].speedup == pytest.approx(3.0)


def test_an_atom_over_the_bound_screens_out_its_combinations():
    truth = {"bf16": (2.0, 45.0), "prune(0.3)": (1.5, 20.0), "prune(0.3)+bf16": (3.0, 19.0)}
    clock = Clock()
    candidates = candidates_of(truth)
    Race(candidates, StubSource(truth, clock), BOUND, Budget(None, clock)).run()
    by_recipe = {c.recipe: c for c in candidates}
    assert by_recipe["prune(0.3)"].status is Status.OVER_QUALITY
    assert "PSNR 20.0 dB < 35 dB" in by_recipe["prune(0.3)"].reason
    assert by_recipe["prune(0.3)+bf16"].status is Status.SCREENED
    assert "prune(0.3) alone" in by_recipe["prune(0.3)+bf16"].reason
    assert not by_recipe["prune(0.3)+bf16"].measurements


def test_a_failing_atom_is_failed_and_its_combinations_screened():
    truth = {"fp16": (1.0, 0.0), "int8": (1.4, 50.0), "fp16+int8": (1.0, 0.0)}
    clock = Clock()
    candidates = candidates_of(truth)
    Race(candidates, StubSource(truth, clock, fail=["fp16"]), BOUND, Budget(None, clock)).run()
    by_recipe = {c.recipe: c for c in candidates}
    assert by_recipe["fp16"].status is Status.FAILED
    assert by_recipe["fp16"].reason == "nan: NaN in the image"
    assert by_recipe["fp16+int8"].status is Status.SCREENED


def test_the_budget_shrinks_a_round_to_what_fits_then_stops():
    truth = {f"prune(0.{i})": (1.0 + i / 10, 40.0) for i in range(1, 5)}
    truth.update({f"prune(0.{i})+bf16": (2.0 + i / 10, 40.0) for i in range(1, 5)})
    truth["bf16"] = (2.0, 45.0)
    clock = Clock()
    candidates = candidates_of(truth)
    # The pilot (5 atoms x 1 round) costs 6 x 3 = 18 s of the stub's clock: 1 s per unit. Round 1
    # of 8 at 2 rounds would cost 9 x 4 = 36 s; 22 s are left, so the 4 best predicted are raced
    # (5 x 4 = 20 s); round 2 (2 x 4 rounds: 3 x 6 = 18 s) does not fit the 2 s then left.
    source = StubSource(truth, clock)
    result = Race(candidates, source, BOUND, Budget(40.0, clock), RacePlan(max_candidates=8)).run()
    assert [len(call[0]) for call in source.calls] == [5, 4]
    assert result.stopped == BUDGET
    assert "round 2" in result.note and "did not fit" in result.note
    by_recipe = {c.recipe: c for c in candidates}
    raced = set(source.calls[1][0])
    assert raced == {"prune(0.4)+bf16", "prune(0.3)+bf16", "prune(0.2)+bf16", "prune(0.1)+bf16"}
    left_out = by_recipe["bf16"]  # measured in the pilot, ranked 5th: left out of round 1
    assert left_out.status is Status.DROPPED and "left out to fit the budget" in left_out.reason


def test_a_round_the_budget_cannot_hold_still_leaves_time_to_confirm_the_best_ranked():
    truth = {"bf16": (2.0, 45.0), "int8": (1.4, 50.0), "bf16+int8": (2.5, 44.0)}
    clock = Clock()
    candidates = candidates_of(truth)
    source = StubSource(truth, clock)
    # Pilot 3 x 3 = 9 s, round 1 (3 candidates x 2 rounds) 4 x 4 = 16 s: 11 s left. Round 2 needs
    # 12 s even for one candidate (2 x 6); the confirmation (2 x 5 = 10 s) fits.
    result = Race(candidates, source, BOUND, Budget(36.0, clock)).run()
    assert [(call[0], call[2]) for call in source.calls][1:] == [
        (("bf16+int8", "bf16", "int8"), "round-1"),
        (("bf16+int8",), "confirm"),
    ]
    assert result.stopped == BUDGET
    assert "round 2" in result.note and "either" not in result.note
    assert {c.recipe: c for c in candidates}["bf16+int8"].last.stage == "confirm"


def test_a_round_that_cannot_fit_even_one_candidate_stops_the_race():
    truth = {"bf16": (2.0, 45.0), "int8": (1.4, 50.0), "bf16+int8": (2.5, 44.0)}
    clock = Clock()
    candidates = candidates_of(truth)
    source = StubSource(truth, clock)
    # The pilot costs 3 x 3 = 9 s; round 1 needs at least 2 x 4 = 8 s; 10 s leave 1.
    result = Race(candidates, source, BOUND, Budget(10.0, clock)).run()
    assert result.stopped == BUDGET and len(source.calls) == 1
    assert {c.recipe: c for c in candidates}["bf16+int8"].status is Status.NOT_TRIED


def test_builds_are_guessed_apart_from_timing():
    class BuildingSource(StubSource):
        """Every variant not built before takes 100 s of build in its first run."""

        built: ClassVar[set[str]] = set()

        def measure(self, recipes, rounds, label):
            out = super().measure(recipes, rounds, label)
            for recipe in recipes:
                fresh = recipe not in self.built
                self.built.add(recipe)
                self.clock.now += 100 if fresh else 0
                out[recipe] = replace(out[recipe], build_s=100.0 if fresh else 1.0, cache_hit=not fresh)
            return out

    truth = {"bf16": (2.0, 45.0), "int8": (1.4, 50.0), "bf16+int8": (2.5, 44.0)}
    clock = Clock()
    candidates = candidates_of(truth)
    source = BuildingSource(truth, clock)
    race = Race(candidates, source, BOUND, Budget(None, clock))
    race.run()
    # The pilot took 3 x 3 s of timing plus 2 builds of 100 s: 1 s per unit once the builds are
    # taken out, and bf16+int8 is guessed to build in 100 + 100 s.
    assert race.cost.per_unit == pytest.approx(1.0)
    assert race._build_guess(Candidate("bf16+int8", ("bf16", "int8"))) == pytest.approx(200.0)
    assert race._build_guess({c.recipe: c for c in candidates}["bf16"]) == 0.0


def test_a_combination_of_atoms_loaded_from_the_cache_is_guessed_at_their_first_builds():
    class CachedAtoms(StubSource):
        """Every atom comes from the variant cache (a 1 s load), made earlier in 100 s."""

        def measure(self, recipes, rounds, label):
            out = super().measure(recipes, rounds, label)
            return {r: replace(m, build_s=1.0, first_build_s=100.0, cache_hit=True) for r, m in out.items()}

    truth = {"bf16": (2.0, 45.0), "int8": (1.4, 50.0), "bf16+int8": (2.5, 44.0)}
    clock = Clock()
    candidates = candidates_of(truth)
    race = Race(candidates, CachedAtoms(truth, clock), BOUND, Budget(None, clock))
    race.run()
    # The loads taught the timing nothing about builds (no build in the pilot), but the combination,
    # never built, is guessed at its atoms' builds as they were made: not 0, not their loads.
    assert race._build_guess(Candidate("bf16+int8", ("bf16", "int8"))) == pytest.approx(200.0)


@pytest.mark.parametrize(("error", "stopped"), [(BudgetExpired, BUDGET), (KeyboardInterrupt, INTERRUPTED)])
def test_a_stage_stopped_in_flight_keeps_what_earlier_stages_measured(error, stopped):
    truth = {"bf16": (2.0, 45.0), "int8": (1.4, 50.0), "bf16+int8": (2.5, 44.0)}
    clock = Clock()
    candidates = candidates_of(truth)
    source = StubSource(truth, clock, raise_at_call=2, error=error)
    result = Race(candidates, source, BOUND, Budget(None, clock)).run()
    assert result.stopped == stopped
    by_recipe = {c.recipe: c for c in candidates}
    assert by_recipe["bf16"].speedup == pytest.approx(2.0)
    assert by_recipe["bf16+int8"].status is Status.NOT_TRIED
    assert by_recipe["bf16+int8"].reason.startswith(stopped)


def test_best_so_far_is_the_fastest_within_the_bound():
    truth = {"bf16": (2.0, 45.0), "int8": (3.0, 20.0)}
    clock = Clock()
    candidates = candidates_of(truth)
    race = Race(candidates, StubSource(truth, clock), BOUND, Budget(None, clock))
    race.run()
    best = race.best()
    assert best is not None and best.recipe == "bf16"


def test_a_second_search_replays_every_stage_but_the_confirmation():
    from bench.tune.reuse import ReplayingSource, earlier_measurements

    truth = {"bf16": (2.0, 45.0), "int8": (1.4, 50.0), "bf16+int8": (2.5, 44.0)}
    clock = Clock()
    first = candidates_of(truth)
    Race(first, StubSource(truth, clock), BOUND, Budget(None, clock)).run()
    saved = [
        {
            "recipe": c.recipe,
            "measurements": [{**vars(m), "speedups": list(m.speedups)} for m in c.measurements],
        }
        for c in first
    ]
    again = StubSource(truth, clock)
    replaying = ReplayingSource(again, earlier_measurements(saved))
    second = candidates_of(truth)
    Race(second, replaying, BOUND, Budget(None, clock)).run()
    assert [call[2] for call in again.calls] == ["confirm"]
    assert replaying.replayed == ["pilot", "round 1", "round 2"]
    assert [(c.recipe, c.status) for c in second] == [(c.recipe, c.status) for c in first]


def test_a_stage_with_a_recipe_not_measured_before_times_only_that_one():
    from bench.tune.reuse import ReplayingSource, earlier_measurements

    truth = {"bf16": (2.0, 45.0), "int8": (1.4, 50.0)}
    clock = Clock()
    earlier = earlier_measurements(
        [
            {
                "recipe": "bf16",
                "measurements": [{"stage": "pilot", "status": "ok", "rounds": 1, "speedups": [2.0]}],
            }
        ]
    )
    again = StubSource(truth, clock)
    Race(candidates_of(truth), ReplayingSource(again, earlier), BOUND, Budget(None, clock)).run()
    assert again.calls[0] == (("int8",), 1, "pilot")


def test_a_chain_within_one_stage_is_not_predicted_by_a_product():
    truth = {"onnx": (1.2, 120.0), "ort": (1.7, 120.0), "onnx+ort": (1.7, 120.0)}
    clock = Clock()
    candidates = candidates_of(truth)
    Race(candidates, StubSource(truth, clock), BOUND, Budget(None, clock)).run()
    chain = {c.recipe: c for c in candidates}["onnx+ort"]
    assert chain.status is Status.SCREENED and "no product" in chain.reason


def test_a_refusal_at_build_time_is_refused_and_takes_its_combinations_out():
    truth = {"compile": (1.0, 0.0), "int8": (1.4, 50.0), "int8+compile": (1.0, 0.0)}

    class Refusing(StubSource):
        def measure(self, recipes, rounds, label):
            out = super().measure(recipes, rounds, label)
            out["compile"] = Measurement(status="unsupported", reason="compile: DDPMPipeline has no VAE")
            return out

    clock = Clock()
    candidates = candidates_of(truth)
    Race(candidates, Refusing(truth, clock), BOUND, Budget(None, clock)).run()
    by_recipe = {c.recipe: c for c in candidates}
    assert by_recipe["compile"].status is Status.REFUSED
    assert by_recipe["compile"].reason == "compile: DDPMPipeline has no VAE"
    assert by_recipe["int8+compile"].status is Status.SCREENED
    assert by_recipe["int8+compile"].reason.startswith("compile alone: refused")


def test_the_confirmation_times_the_races_survivor_not_a_faster_one_dropped_earlier():
    # Whoever the halving keeps is confirmed, and is the race's leader; a faster-looking candidate
    # dropped earlier on fewer rounds is not.
    truth = {"bf16": (2.0, 45.0), "int8": (1.5, 50.0), "bf16+int8": (2.6, 44.0)}
    clock = Clock()
    candidates = candidates_of(truth)
    source = StubSource(truth, clock)
    race = Race(candidates, source, BOUND, Budget(None, clock), RacePlan(max_candidates=3))
    race.run()
    survivor = [c for c in candidates if c.status is None]
    assert len(survivor) == 1
    assert source.calls[-1] == ((survivor[0].recipe,), 3, "confirm")
    assert race.best() is survivor[0]
