"""The workload options: resolution, steps, batch, guidance, scheduler, prompt, seed, and the sweeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.cli_parser import parse_float, parse_int
from bench.options.spec import Option, OptionGroup, OptionLookup
from bench.sweep import expand, sweep_axes
from bench.workload import Workload
from bench.workload_shard import select_share
from reports.record import DEFAULT_PROMPT

# torch.Generator.manual_seed takes 64 bits; a bigger seed would fail at the first generation.
MAX_SEED = 2**64 - 1
# The options one workload is made of (a sweep varies them); the option name without its dashes.
AXES = ("resolution", "steps", "batch", "guidance", "scheduler", "prompt", "seed")


@dataclass(frozen=True)
class WorkloadOptions(OptionGroup):
    TITLE: ClassVar[str] = "diffbench workload"
    DESCRIPTION: ClassVar[str] = "diffbench: what each variant generates, and the workload sweeps"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option(
            "--resolution",
            help="WIDTH or WIDTHxHEIGHT, multiples of 8 (default 64, or the model's native size if smaller)",
        ),
        Option("--steps", default="4", help="denoising steps (default 4)"),
        Option("--batch", default="1", help="images per prompt (default 1)"),
        Option("--guidance", default="7.5", help="classifier-free guidance scale (default 7.5)"),
        Option(
            "--scheduler", default="euler", help="euler, ddim, dpm++2m, pndm, or default (the model's own)"
        ),
        Option("--prompt", default=DEFAULT_PROMPT, help="the prompt"),
        # Text like every numeric option: the suite parses it (one-line error), not pytest (usage
        # error, exit 4).
        Option("--seed", default="0", help="seed of the initial latents (same for every variant)"),
        # Workload sweeps (bench/sweep.py): every workload runs every variant.
        Option(
            "--sweep",
            action="append",
            metavar="AXIS=V1,V2",
            help="sweep a workload axis: steps, guidance, scheduler, resolution, batch, seed, prompt; "
            "repeatable (e.g. --sweep steps=10,20,50 --sweep scheduler=euler,ddim)",
        ),
        Option(
            "--sweep-mode",
            default="product",
            help="product: every combination of the --sweep axes (default); each: one axis at a time",
        ),
        Option("--prompts-file", help="a text file of prompts, one per line: a prompt axis"),
        Option("--seeds", help="comma-separated seeds, e.g. 0,1,2: a seed axis"),
        Option(
            "--workload-shard",
            metavar="K/N",
            help="time only the Kth of N round-robin shares of the workloads, in sweep order "
            "(fleet run --shards sets it; default all)",
        ),
    )

    workloads: tuple[Workload, ...]

    @classmethod
    def parse(cls, option: OptionLookup, model: str) -> WorkloadOptions:
        """Every workload of the run (one, or a sweep's); BenchError with a one-line message."""
        # Imported here: declaring the options (pytest --help, a study's parser) imports no torch.
        from bench import preflight
        from bench.model_defaults import default_resolution

        base = {name: option(f"--{name}") for name in AXES}
        base["resolution"] = default_resolution(model, base["resolution"])
        prompts_file = option("--prompts-file")
        preflight.text_file(prompts_file, "--prompts-file", "a text file, one prompt per line")
        axes = sweep_axes(option("--sweep"), prompts_file, option("--seeds"))
        check_numbers(base, axes)
        workloads = expand(base, axes, option("--sweep-mode"))
        return cls(select_share(workloads, option("--workload-shard")))


def check_numbers(base: dict[str, str], axes: dict[str, list[str]]) -> None:
    """Every number of every workload through the shared parsers: 'abc', NaN and inf are one line."""
    for name, values in (*((key, [value]) for key, value in base.items()), *axes.items()):
        for value in values:
            if name in ("steps", "batch"):
                parse_int(f"--{name}", value, minimum=1)
            elif name == "seed":
                parse_int("--seed", value, minimum=0, maximum=MAX_SEED)
            elif name == "guidance":
                parse_float("--guidance", value, minimum=0.0, example="7.5")
