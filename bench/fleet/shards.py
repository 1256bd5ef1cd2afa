"""A profile's variants split over several nodes of that profile (`fleet run --shards N`).

Each shard times the baseline too: it is the PSNR/SSIM reference of every other variant and must
run in the same suite session (bench/suite.py). The assembled run keeps one baseline row per
workload (bench/fleet/rows.py). Workloads are not split: each shard times all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.fleet.errors import FleetError

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
