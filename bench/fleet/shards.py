"""A profile's work split over several nodes of that profile (`fleet run --shards N`).

Two axes can be split: the variants (`--variants`) and the workloads (a sweep's, bench/sweep.py).
A task's cell of the grid is a group of variants times a share of the workloads
(`--workload-shard K/N`, bench/workload_shard.py). Every task times the baseline on its own
workloads: it is the PSNR/SSIM reference of every other variant and must run in the same suite
session (bench/suite.py). So splitting the workloads costs no extra baseline rounds, and
splitting the variants times the baseline once per variant group; `--shard-by auto` therefore
splits the workloads first and the variants with the shards left. The assembled run keeps one
baseline row per workload (bench/fleet/rows.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.fleet.errors import FleetError
from bench.workload_shard import deal

VARIANTS = "--variants"


def option_value(suite_options: Sequence[str], name: str) -> str | None:
    """The text of the last `NAME X` / `NAME=X` among the suite options, or None."""
    found = None
    for position, option in enumerate(suite_options):
        if option == name and position + 1 < len(suite_options):
            found = suite_options[position + 1]
        elif option.startswith(f"{name}="):
            found = option.split("=", 1)[1]
    return found


def without_option(suite_options: Sequence[str], name: str) -> list[str]:
    """The options with every `NAME X` / `NAME=X` taken out."""
    kept: list[str] = []
    skip = False
    for option in suite_options:
        if skip:
            skip = False
        elif option == name:
            skip = True
        elif not option.startswith(f"{name}="):
            kept.append(option)
    return kept


def variants_option(suite_options: Sequence[str]) -> str | None:
    return option_value(suite_options, VARIANTS)


def with_variants(suite_options: Sequence[str], variants: Sequence[str]) -> list[str]:
    """The options with every `--variants` replaced by one naming `variants`."""
    # Recipes hold commas only inside parentheses, and --variants splits on top-level commas.
    return [*without_option(suite_options, VARIANTS), f"{VARIANTS}={','.join(variants)}"]


def parse_shards(text: str, nodes: int) -> int:
    """`--shards`: a positive count, or `auto` (one per node of the profile)."""
    if text.strip().lower() == "auto":
        return max(nodes, 1)
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise FleetError(f"--shards {text!r} is not a positive whole number or auto")
    return count


def split_variants(variants: Sequence[str], shards: int, baseline: str) -> list[list[str]]:
    """`variants` (baseline first) dealt round-robin into at most `shards` lists, each led by the
    baseline when `variants` has it (without it, no row has a PSNR, as on one machine); fewer
    lists when there are fewer variants than shards."""
    others = [v for v in variants if v != baseline]
    lead = [baseline] if baseline in variants else []
    count = max(1, min(shards, len(others)))
    groups: list[list[str]] = [list(lead) for _ in range(count)]
    for position, variant in enumerate(others):
        groups[position % count].append(variant)
    return groups


SHARD_BY = ("auto", "workloads", "variants")


@dataclass(frozen=True)
class Cell:
    """One task's share of a profile's work."""

    variants: list[str] | None  # None: the suite's default set
    workloads: list[str]  # the labels of its workloads
    workload_share: str | None  # `K/N` for --workload-shard; None: every workload


def check_shard_by(text: str) -> str:
    choice = text.strip().lower()
    if choice not in SHARD_BY:
        raise FleetError(f"--shard-by {text!r} is unknown; accepted: {', '.join(SHARD_BY)}")
    return choice


def plan_cells(
    variants: Sequence[str] | None,
    workloads: Sequence[str],
    shards: int,
    shard_by: str,
    baseline: str,
    exact: bool = True,
) -> list[Cell]:
    """At most `shards` cells: the workloads dealt into shares, times the variants dealt into
    groups (see the module's note on which axis `auto` splits first). With nothing to split,
    FleetError when the user gave the count (`exact`), else one cell (`--shards auto`)."""
    others = [v for v in variants if v != baseline] if variants is not None else []
    splittable = {"workloads": len(workloads), "variants": len(others)}
    if shards > 1 and not any(splittable[axis] > 1 for axis in _axes(shard_by)):
        if exact:
            raise FleetError(_nothing_to_split(shards, shard_by, variants is None))
        shards = 1
    shares = min(shards, len(workloads)) if shard_by in ("auto", "workloads") else 1
    groups_wanted = max(1, shards // shares) if shard_by in ("auto", "variants") else 1
    groups = split_variants(variants, groups_wanted, baseline) if variants is not None else [None]
    dealt = deal(list(workloads), shares)
    return [
        Cell(
            variants=group,
            workloads=share_labels,
            workload_share=f"{number}/{shares}" if shares > 1 else None,
        )
        for number, share_labels in enumerate(dealt, start=1)
        for group in groups
    ]


def _axes(shard_by: str) -> tuple[str, ...]:
    return ("workloads", "variants") if shard_by == "auto" else (shard_by,)


def _nothing_to_split(shards: int, shard_by: str, default_variants: bool) -> str:
    variants = (
        "--variants (the default set depends on each node's device)"
        if default_variants
        else "--variants naming more than the baseline and one other"
    )
    ways = {
        "auto": f"{variants}, or a workload sweep (--sweep, --seeds, --prompts-file)",
        "variants": variants,
        "workloads": "a workload sweep (--sweep, --seeds, --prompts-file)",
    }[shard_by]
    return f"--shards {shards} with --shard-by {shard_by}: nothing to split; give {ways}"
