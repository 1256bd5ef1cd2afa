"""tune's search space: every candidate valid or refused with the passes' reason, none missing."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
import torch

from bench.tune.candidates import Candidate, Status
from bench.tune.errors import TuneError
from bench.tune.space import atoms, combination_of, enumerate_space, options, parse_pass_set
from optimize.passes import PASSES, Pass
from optimize.passes.base import TUNE_STAGES
from optimize.recipe import Recipe, parse_recipe
from optimize.recipe_syntax import PassCall

CPU = torch.device("cpu")
# The pass set issue 18's tests name: one pass of every stage, and two of the runtime stage.
PASS_SET = ("prune", "bf16", "int8", "compile", "ort")


@pytest.fixture(scope="module")
def space() -> list[Candidate]:
    return enumerate_space(CPU)


def _grid_passes(names: Iterable[str]) -> list[Pass]:
    """Every searched pass of `names` bound with every argument set of its grid (the test's own binding)."""
    return [
        PASSES[name].bind(PassCall(name, (), dict(arguments)))
        for name in names
        for arguments in PASSES[name].tune_grid
    ]


def _option_set(recipe: Recipe) -> frozenset[str]:
    return frozenset(step.canonical() for step in recipe.passes)


def _valid_option_sets(candidates: list[Candidate]) -> set[frozenset[str]]:
    return {_option_set(parse_recipe(c.recipe)) for c in candidates if c.status is None}


def _distinct_names(sequence: tuple[Pass, ...]) -> bool:
    # A pass twice (prune(0.1)+prune(0.2), which the passes accept) is outside the space by design:
    # a candidate takes each pass once.
    return len({step.name for step in sequence}) == len(sequence)


# -- declarations --------------------------------------------------------------------------------
def test_the_passes_declare_their_stage_and_every_grid_entry_binds() -> None:
    stages = {name: PASSES[name].tune_stage for name in PASSES}
    assert stages["prune"] == "structure"
    assert stages["fp16"] == stages["bf16"] == "dtype"
    assert {stages[name] for name in ("int8", "int8wo", "bnb8", "nf4")} == {"weights"}
    assert {stages[name] for name in ("compile", "onnx", "ort", "ort-int8", "trt")} == {"runtime"}
    assert stages["fp32"] is None and stages["lora-fuse"] is None
    assert all(stage is None or stage in TUNE_STAGES for stage in stages.values())
    found = options()
    assert all(option.bound is not None for option in found), [o.error for o in found if o.error]
    texts = [option.text for option in found]
    assert {"prune(0.1)", "prune(0.2)", "prune(0.3)", "ort-int8(mode=static)", "trt(precision=int8)"} <= set(
        texts
    )
    assert len(texts) == len(set(texts))


# -- every candidate valid, or refused with the passes' own reason --------------------------------
def test_every_valid_candidate_parses_back_and_runs_on_the_cpu(space: list[Candidate]) -> None:
    valid = [c for c in space if c.status is None]
    assert len(valid) > 20
    for candidate in valid:
        recipe = parse_recipe(candidate.recipe)
        assert recipe.canonical == candidate.recipe
        assert recipe.unsupported_reason(CPU) is None, candidate.recipe
        assert candidate.passes == tuple(step.name for step in recipe.passes)
        assert all(PASSES[name].tune_stage is not None for name in candidate.passes)


def test_refused_candidates_carry_the_passes_reason(space: list[Candidate]) -> None:
    refused = [c for c in space if c.status is not None]
    assert refused and all(c.status is Status.REFUSED for c in refused)
    for candidate in refused:
        assert candidate.reason
        assert parse_recipe(candidate.recipe).unsupported_reason(CPU) == candidate.reason
    by_recipe = {c.recipe: c for c in space}
    # An export takes the float32 torch model: a dtype pass before it is refused, saying so.
    assert by_recipe["bf16+ort"].status is Status.REFUSED
    assert by_recipe["bf16+ort"].reason.startswith("ort after bf16")
    assert by_recipe["ort(precision=fp16)"].reason.endswith("this run is on cpu")


def test_orders_and_pairs_the_passes_refuse_are_never_valid(space: list[Candidate]) -> None:
    valid = [c.passes for c in space if c.status is None]
    for passes in valid:
        quantised_at = [i for i, name in enumerate(passes) if PASSES[name].tune_stage == "weights"]
        cast_at = [i for i, name in enumerate(passes) if PASSES[name].sets_dtype is not None]
        assert not (quantised_at and cast_at and max(cast_at) > min(quantised_at)), passes
        assert not {"compile", "ort-int8"} <= set(passes), passes
    # ...because the passes refuse them, in either order (not because the space left them out).
    for text in ("int8+bf16", "nf4+fp16", "compile+ort-int8", "ort-int8+compile"):
        assert parse_recipe(text).unsupported_reason(CPU), text
    assert ("bf16", "int8") in valid


# -- none missing ---------------------------------------------------------------------------------
def test_no_valid_combination_of_the_pass_set_is_missing() -> None:
    """Brute force: every ordering of up to 4 distinct options; the valid ones are the space's."""
    grid = _grid_passes(PASS_SET)
    brute: set[frozenset[str]] = set()
    for length in range(1, 5):
        for sequence in itertools.permutations(grid, length):
            if _distinct_names(sequence) and Recipe(sequence).unsupported_reason(CPU) is None:
                brute.add(_option_set(Recipe(sequence)))
    assert frozenset({"prune(0.3)", "bf16", "int8"}) in brute  # the brute force finds combinations
    assert _valid_option_sets(enumerate_space(CPU, PASS_SET)) == brute


def test_no_valid_combination_of_all_passes_is_missing(space: list[Candidate]) -> None:
    """Every valid sequence of distinct options at any length. A recipe is valid only when each
    prefix is (Recipe.unsupported_reason checks every pass against the ones before it), so
    extending only valid sequences finds them all."""
    grid = _grid_passes(name for name in PASSES if PASSES[name].tune_stage is not None)
    brute: set[frozenset[str]] = set()
    frontier: list[tuple[Pass, ...]] = [()]
    while frontier:
        sequence = frontier.pop()
        for step in grid:
            longer = (*sequence, step)
            if _distinct_names(longer) and Recipe(longer).unsupported_reason(CPU) is None:
                brute.add(_option_set(Recipe(longer)))
                frontier.append(longer)
    # A chain within the runtime stage: onnx's export, then ort-int8's quantisation of it.
    assert frozenset({"onnx", "ort-int8(mode=static)"}) in brute
    assert _valid_option_sets(space) == brute


# -- shape of the list ----------------------------------------------------------------------------
def test_sorted_by_length_then_stage_unique_and_deterministic(space: list[Candidate]) -> None:
    lengths = [len(c.passes) for c in space]
    assert lengths == sorted(lengths)
    assert [c.recipe for c in space[:4]] == ["prune(0.1)", "prune(0.2)", "prune(0.3)", "bf16"]
    singles = [c.passes[0] for c in space if len(c.passes) == 1]
    stage_order = [TUNE_STAGES.index(str(PASSES[name].tune_stage)) for name in singles]
    assert stage_order == sorted(stage_order)
    recipes = [c.recipe for c in space]
    assert len(recipes) == len(set(recipes))
    again = enumerate_space(CPU)
    assert [(c.recipe, c.status, c.reason) for c in again] == [(c.recipe, c.status, c.reason) for c in space]


def test_a_pass_set_is_the_full_space_restricted_to_it(space: list[Candidate]) -> None:
    restricted = enumerate_space(CPU, PASS_SET)
    expected = [c for c in space if set(c.passes) <= set(PASS_SET)]
    assert [(c.recipe, c.status) for c in restricted] == [(c.recipe, c.status) for c in expected]
    assert {name for c in restricted for name in c.passes} == set(PASS_SET)


def test_argument_sets_with_the_same_canonical_text_give_one_candidate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(PASSES["compile"], "tune_grid", ({}, {"mode": "default"}))
    recipes = [c.recipe for c in enumerate_space(CPU, ("compile", "bf16"))]
    assert recipes == ["bf16", "compile", "bf16+compile"]


def test_an_argument_set_that_does_not_bind_is_one_refused_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PASSES["prune"], "tune_grid", ({"ratio": 0.1}, {"ratio": 1.5}))
    candidates = enumerate_space(CPU, ("prune", "bf16"))
    bad = [c for c in candidates if "1.5" in c.recipe]
    assert len(bad) == 1
    assert bad[0].recipe == "prune(ratio=1.5)" and bad[0].passes == ("prune",)
    assert bad[0].status is Status.REFUSED and "ratio=1.5 is outside" in bad[0].reason
    assert [c.recipe for c in candidates if c.status is None] == ["prune(0.1)", "bf16", "prune(0.1)+bf16"]


# -- --passes -------------------------------------------------------------------------------------
def test_parse_pass_set_reads_names() -> None:
    assert parse_pass_set(None) is None
    assert parse_pass_set(" bf16, INT8,,bf16,prune ") == ("bf16", "int8", "prune")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("bf16,int9", "'int9' is not a pass"),
        ("fp32", "'fp32' is a pass tune does not search"),
        ("lora-fuse,bf16", "'lora-fuse' is a pass tune does not search"),
        (" , ", "names no pass"),
    ],
)
def test_parse_pass_set_refuses_with_one_line_listing_the_accepted(text: str, named: str) -> None:
    with pytest.raises(TuneError) as caught:
        parse_pass_set(text)
    message = str(caught.value)
    assert named in message and "\n" not in message
    assert "accepted: " in message and "ort-int8" in message and "fp32," not in message


def test_enumerate_space_refuses_an_unknown_pass_name() -> None:
    with pytest.raises(TuneError, match="'nope' is not a pass"):
        enumerate_space(CPU, ("bf16", "nope"))


# -- atoms and combinations -----------------------------------------------------------------------
def test_atoms_are_the_valid_single_passes(space: list[Candidate]) -> None:
    found = atoms(space)
    assert found == [c for c in space if c.status is None and len(c.passes) == 1]
    assert {"bf16", "int8", "prune(0.2)", "ort-int8(mode=static)"} <= {c.recipe for c in found}
    assert "ort(precision=fp16)" not in {c.recipe for c in found}  # refused on a CPU


def test_combination_of_names_the_atoms_or_none(space: list[Candidate]) -> None:
    by_recipe = {c.recipe: c for c in space}
    found = atoms(space)
    parts = combination_of(by_recipe["prune(0.2)+bf16+int8"], found)
    assert parts is not None and [c.recipe for c in parts] == ["prune(0.2)", "bf16", "int8"]
    # Two runtime passes: ort reuses onnx's export, so their speed-ups are no product.
    assert combination_of(by_recipe["onnx+ort"], found) is None
    # A part with no valid atom of its own.
    assert combination_of(by_recipe["bf16+int8"], [c for c in found if c.recipe != "bf16"]) is None
