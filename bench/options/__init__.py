"""The suite's options in groups: each group (a dataclass) owns its options' names, defaults and
help, their parsing and their validation. The pytest plugin (bench/plugin.py) declares them all;
the studies (bench/studies) declare the ones they pass on, from the same records.

    model      --model --weights --variants --cache-dir --allow-pickle
    workload   --resolution --steps --batch --guidance --scheduler --prompt --seed, the sweeps
    run        --rounds --warmup --timeout --interleave --interleave-reload
    hardware   --device --profile --profile-file --calibration --offload
    adapters   --lora --textual-inversion --unet-checkpoint
    quality    --quality --fid-samples --fid-reference --fid-dims --fid-inception
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from bench.options.adapters import AdapterOptions
from bench.options.hardware import HardwareOptions
from bench.options.model import ModelOptions
from bench.options.quality import QualityOptions
from bench.options.run import RunOptions
from bench.options.spec import Option, OptionGroup, OptionLookup, PytestParser, add_argument
from bench.options.workload import WorkloadOptions

GROUPS: tuple[type[OptionGroup], ...] = (
    ModelOptions,
    WorkloadOptions,
    RunOptions,
    HardwareOptions,
    AdapterOptions,
    QualityOptions,
)
SUITE_OPTIONS: tuple[Option, ...] = tuple(option for group in GROUPS for option in group.OPTIONS)
_BY_NAME = {option.name: option for option in SUITE_OPTIONS}


def add_suite_options(parser: PytestParser) -> None:
    """Every suite option on pytest's parser, one section of `pytest --help` per group."""
    for group in GROUPS:
        group.addoption(parser)


def option_defaults() -> dict[str, Any]:
    """ "--name" -> the value the suite sees when the option is not given."""
    return {option.name: option.default_value for option in SUITE_OPTIONS}


def suite_option(name: str) -> Option:
    return _BY_NAME[name]


def add_study_arguments(
    parser: argparse.ArgumentParser,
    *names: str,
    defaults: Mapping[str, Any] | None = None,
    changes: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """A study passes these suite options on: declared with the suite's names and help, the study's
    own `defaults` ("--name" -> value) and `changes` ("--name" -> argparse attributes)."""
    for name in names:
        extra = dict((changes or {}).get(name, {}))
        if defaults and name in defaults:
            extra["default"] = defaults[name]
        add_argument(parser, suite_option(name), **extra)


def study_lookup(args: argparse.Namespace, names: tuple[str, ...]) -> OptionLookup:
    """An OptionLookup over a study's parsed `names`, the suite's defaults for every other option."""
    values = {name: getattr(args, suite_option(name).dest) for name in names}
    return lambda name: values[name] if name in values else _BY_NAME[name].default_value


def suite_arguments(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    """A study's parsed `names` back as `pytest bench/` arguments; options left unset are left out."""
    arguments: list[str] = []
    for name in names:
        option = suite_option(name)
        value = getattr(args, option.dest)
        if value is None or value is False:
            continue
        if option.action == "store_true":
            arguments.append(name)
        elif option.action == "append":
            arguments += [part for item in value for part in (name, str(item))]
        else:
            arguments += [name, str(value)]
    return arguments


__all__ = [
    "GROUPS",
    "SUITE_OPTIONS",
    "AdapterOptions",
    "HardwareOptions",
    "ModelOptions",
    "Option",
    "OptionGroup",
    "OptionLookup",
    "QualityOptions",
    "RunOptions",
    "WorkloadOptions",
    "add_study_arguments",
    "add_suite_options",
    "option_defaults",
    "study_lookup",
    "suite_arguments",
    "suite_option",
]
