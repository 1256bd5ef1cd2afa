"""Workload sweeps: `--sweep steps=10,20,50 --sweep scheduler=euler,ddim` -> the workloads to run.

Two ways to combine the axes:
- `product` (default): the cartesian product of every axis (3 steps x 2 schedulers = 6 workloads);
- `each`: one axis at a time around the base workload (the other options' values), so
  `steps=10,20,50` and `scheduler=euler,ddim` give 3 + 2 workloads, the base counted once.

Prompts can come from a file (one per line) and seeds from a list; both are sweep axes like
the others, so each prompt and seed is a workload of its own (with its own baseline image).
Every value goes through the same validation as the single options (`make_workload`), so a
bad value fails with the option's own one-line error before anything is built.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

from bench.errors import BenchError
from bench.workload import Workload, make_workload

AXES = ("steps", "guidance", "scheduler", "resolution", "batch", "seed", "prompt")
MODES = ("product", "each")
# A sweep that would take days on a CPU is a typo far more often than a plan.
MAX_WORKLOADS = 256


def parse_axis(text: str) -> tuple[str, list[str]]:
    """`steps=10,20,50` -> ("steps", ["10", "20", "50"])."""
    name, sep, values = text.partition("=")
    name = name.strip().lower()
    if not sep or not name:
        raise BenchError(f"--sweep {text!r} is not AXIS=V1,V2,...; e.g. --sweep steps=10,20,50")
    if name not in AXES:
        raise BenchError(f"--sweep {text!r}: unknown axis {name!r}; accepted: {', '.join(AXES)}")
    # A prompt may hold commas: `prompt=` takes one value; give several prompts with --prompts-file.
    items = [values.strip()] if name == "prompt" else [v.strip() for v in values.split(",") if v.strip()]
    if not items:
        raise BenchError(f"--sweep {text!r}: no values after '='")
    if len(set(items)) != len(items):
        raise BenchError(f"--sweep {text!r}: a value is given twice")
    return name, items


def read_prompts(path: str) -> list[str]:
    """One prompt per line; blank lines and lines starting with # are skipped."""
    file = Path(path).expanduser()
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BenchError(
            f"--prompts-file {path!r} does not exist; give a text file, one prompt per line"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise BenchError(f"--prompts-file {path!r} cannot be read as UTF-8 text: {error}") from None
    prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise BenchError(f"--prompts-file {path!r} has no prompts (one per line; # starts a comment)")
    return list(dict.fromkeys(prompts))  # the same prompt twice would be the same workload twice


def parse_seeds(text: str) -> list[str]:
    seeds = [s.strip() for s in text.split(",") if s.strip()]
    for seed in seeds:
        try:
            int(seed)
        except ValueError:
            raise BenchError(f"--seeds {text!r}: {seed!r} is not an integer; give e.g. 0,1,2") from None
    if not seeds:
        raise BenchError(f"--seeds {text!r}: give comma-separated integers, e.g. 0,1,2")
    return list(dict.fromkeys(seeds))


def sweep_axes(
    sweeps: Sequence[str] | None, prompts_file: str | None, seeds: str | None
) -> dict[str, list[str]]:
    """The axes in the order given; --prompts-file and --seeds are the `prompt` and `seed` axes."""
    axes: dict[str, list[str]] = {}

    def add(name: str, values: list[str], source: str) -> None:
        if name in axes:
            raise BenchError(f"{source}: the {name} axis is given twice")
        axes[name] = values

    for text in sweeps or ():
        add(*parse_axis(text), source=f"--sweep {text!r}")
    if prompts_file:
        add("prompt", read_prompts(prompts_file), source="--prompts-file")
    if seeds:
        add("seed", parse_seeds(seeds), source="--seeds")
    return axes


def expand(base: dict[str, str], axes: dict[str, list[str]], mode: str) -> tuple[Workload, ...]:
    """The workloads of a sweep around `base` (option name without dashes -> its text value)."""
    if mode not in MODES:
        raise BenchError(f"--sweep-mode {mode!r} is unknown; accepted: {', '.join(MODES)}")
    if not axes:
        return (_workload(base),)
    if mode == "product":
        names = list(axes)
        combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*axes.values())]
    else:
        combos = [{}] + [{name: value} for name, values in axes.items() for value in values]
    if len(combos) > MAX_WORKLOADS:
        raise BenchError(
            f"the sweep has {len(combos)} workloads (more than {MAX_WORKLOADS}); "
            "use --sweep-mode each or fewer values"
        )
    workloads: list[Workload] = []
    for combo in combos:
        workload = _workload({**base, **combo})
        if workload not in workloads:  # `each`: an axis value equal to the base is the base itself
            workloads.append(workload)
    return tuple(workloads)


def _workload(values: dict[str, str]) -> Workload:
    return make_workload(
        values["resolution"],
        values["steps"],
        values["batch"],
        values["guidance"],
        values["scheduler"],
        values["prompt"],
        _seed(values["seed"]),
    )


def _seed(text: str | int) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise BenchError(f"--seed {text!r} is not an integer") from None
