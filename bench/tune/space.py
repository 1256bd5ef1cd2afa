"""The search space of `diffbench tune`: every recipe the passes allow on a device.

Each pass says where it acts (`Pass.tune_stage`, one of TUNE_STAGES) and which argument sets
are worth trying (`Pass.tune_grid`); an *option* is one searched pass bound with one of those
sets. A candidate takes, stage by stage in TUNE_STAGES order, nothing or one option of that
stage, and at least one option in all. Within a stage, options the passes accept as a chain
(`onnx+ort`, `ort-int8(mode=static)+trt(precision=int8)`) count as one choice too: the passes
allow them, and some options only run after another of their stage (TensorRT's int8 needs the
Q/DQ graph of a static ort-int8).

Which combinations work is the passes' own say: every combination across stages is returned,
and one the passes refuse (`Recipe.unsupported_reason`, or a `RecipeError` when an argument set
does not bind) has `Status.REFUSED` with their reason, so the answer can say why a recipe was not
tried. A chain within one stage is kept only when the passes accept it on the device: the
refused ones (`trt+onnx`, `compile+ort`) are orderings, not recipes anyone would ask for.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

import torch

from bench.tune.candidates import Candidate, Status
from bench.tune.errors import TuneError
from optimize.errors import RecipeError
from optimize.passes import PASSES, Pass
from optimize.passes.base import TUNE_STAGES
from optimize.recipe import Recipe, parse_recipe
from optimize.recipe_syntax import PassCall, Value


@dataclass(frozen=True)
class Option:
    """One searched pass with one argument set of its grid, bound, or why it would not bind."""

    stage: str
    name: str
    grid_index: int
    bound: Pass | None
    text: str  # the canonical pass text when bound, else the arguments as written
    error: str = ""

    @property
    def order(self) -> tuple[int, str, int]:
        return TUNE_STAGES.index(self.stage), self.name, self.grid_index


def searched_passes() -> dict[str, type[Pass]]:
    """Name -> class of every registered pass that tune searches (a `tune_stage` set), by name."""
    found: dict[str, type[Pass]] = {}
    for name in sorted(PASSES):
        cls = PASSES[name]
        if cls.tune_stage is None:
            continue
        if cls.tune_stage not in TUNE_STAGES:
            raise TuneError(
                f"pass {name!r} declares tune_stage={cls.tune_stage!r}; stages are {', '.join(TUNE_STAGES)}"
            )
        found[name] = cls
    return found


def _checked_names(names: Collection[str]) -> tuple[str, ...]:
    searched = searched_passes()
    for name in names:
        if name not in searched:
            why = "a pass tune does not search" if name in PASSES else "not a pass"
            raise TuneError(f"--passes: {name!r} is {why}; accepted: {', '.join(searched)}")
    return tuple(dict.fromkeys(names))


def parse_pass_set(text: str | None) -> tuple[str, ...] | None:
    """`--passes bf16,int8,prune` -> ("bf16", "int8", "prune"); None (no option) -> None: every pass."""
    if text is None:
        return None
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise TuneError(
            f"--passes {text!r} names no pass; give names joined by ',', e.g. bf16,int8; "
            f"accepted: {', '.join(searched_passes())}"
        )
    return _checked_names(names)


def _written(name: str, arguments: dict[str, Value]) -> str:
    """An argument set as recipe text, for an option that did not bind (so has no canonical text)."""
    if not arguments:
        return name

    def value(item: Value) -> str:
        return ("true" if item else "false") if isinstance(item, bool) else str(item)

    return f"{name}({','.join(f'{key}={value(item)}' for key, item in arguments.items())})"


def options(passes: Collection[str] | None = None) -> list[Option]:
    """Every searched pass with every argument set of its grid, bound like recipe text, in order."""
    classes = searched_passes()
    names = tuple(classes) if passes is None else _checked_names(passes)
    found: list[Option] = []
    for name in names:
        cls = classes[name]
        for index, arguments in enumerate(cls.tune_grid):
            stage = str(cls.tune_stage)
            try:
                bound = cls.bind(PassCall(name, (), dict(arguments)))
            except RecipeError as error:
                found.append(Option(stage, name, index, None, _written(name, arguments), str(error)))
                continue
            found.append(Option(stage, name, index, bound, bound.canonical()))
    return sorted(found, key=lambda option: option.order)


def _valid_chains(stage_options: Sequence[Option], device: torch.device) -> list[tuple[Option, ...]]:
    """Sequences of two or more distinct passes of one stage that the passes accept on the device.

    A recipe is accepted only when each of its prefixes is (every pass is checked against the
    ones before it), so only accepted chains are extended.
    """
    chains: list[tuple[Option, ...]] = []

    def extend(chain: tuple[Option, ...]) -> None:
        used = {option.name for option in chain}
        for option in stage_options:
            if option.name in used:
                continue
            longer = (*chain, option)
            if _reason(longer, device) is None:
                chains.append(longer)
                extend(longer)

    for first in stage_options:
        if first.bound is not None and _reason((first,), device) is None:
            extend((first,))
    return chains


def _reason(chosen: Sequence[Option], device: torch.device) -> str | None:
    failed = next((option for option in chosen if option.bound is None), None)
    if failed is not None:
        return failed.error
    recipe = Recipe(tuple(option.bound for option in chosen if option.bound is not None))
    return recipe.unsupported_reason(device)


def _stage_choices(all_options: Sequence[Option], device: torch.device) -> list[list[tuple[Option, ...]]]:
    """Per stage: nothing, each option alone, and each chain of that stage the passes accept."""
    choices: list[list[tuple[Option, ...]]] = []
    for stage in TUNE_STAGES:
        of_stage = [option for option in all_options if option.stage == stage]
        bound = [option for option in of_stage if option.bound is not None]
        choices.append([(), *((option,) for option in bound), *_valid_chains(bound, device)])
    return choices


def _combinations(all_options: Sequence[Option], device: torch.device) -> Iterator[tuple[Option, ...]]:
    for picked in itertools.product(*_stage_choices(all_options, device)):
        combined = tuple(option for choice in picked for option in choice)
        if combined:
            yield combined


def _candidate(chosen: Sequence[Option], device: torch.device) -> Candidate:
    reason = _reason(chosen, device)
    return Candidate(
        recipe="+".join(option.text for option in chosen),
        passes=tuple(option.name for option in chosen),
        status=Status.REFUSED if reason else None,
        reason=reason or "",
    )


def enumerate_space(device: torch.device, passes: Collection[str] | None = None) -> list[Candidate]:
    """Every recipe of at most one option (or one accepted chain) per stage, refused ones included.

    `passes` restricts the searched pass names (None: every pass with a `tune_stage`). Sorted by
    the number of passes, then stage order (then pass name and grid position); one candidate per
    canonical recipe text. An argument set that does not bind is one refused candidate on its own.
    """
    all_options = options(passes)
    chosen_sets: list[tuple[Option, ...]] = [(option,) for option in all_options if option.bound is None]
    chosen_sets.extend(_combinations(all_options, device))
    chosen_sets.sort(key=lambda chosen: (len(chosen), [option.order for option in chosen]))
    candidates: dict[str, Candidate] = {}
    for chosen in chosen_sets:
        candidate = _candidate(chosen, device)
        candidates.setdefault(candidate.recipe, candidate)
    return list(candidates.values())


def atoms(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The valid single-pass candidates: what the race's pilot times."""
    return [candidate for candidate in candidates if candidate.status is None and len(candidate.passes) == 1]


def combination_of(
    candidate: Candidate, atom_candidates: Sequence[Candidate]
) -> tuple[Candidate, ...] | None:
    """The atoms a candidate is made of, in recipe order; None when its speed-up is no product of them.

    That is when a pass of it is no valid atom (`trt(precision=int8)` runs only after a static
    ort-int8), or when two of its passes share a stage: `onnx+ort` exports once, so the product of
    `onnx`'s and `ort`'s speed-ups would count the export's effect twice.
    """
    by_recipe = {atom.recipe: atom for atom in atom_candidates}
    parts = [step.canonical() for step in parse_recipe(candidate.recipe).passes]
    stages = [PASSES[name].tune_stage for name in candidate.passes]
    if len(set(stages)) < len(stages):
        return None
    found = tuple(by_recipe.get(part) for part in parts)
    if any(atom is None for atom in found):
        return None
    return tuple(atom for atom in found if atom is not None)
