"""Run the benchmark suite and the report CLI as subprocesses, for the studies.

The suite runs in its own pytest process (the same `pytest bench/` a user types, so a study's
rows are exactly the suite's rows), and the tables and plots come from `python -m reports`,
which reads saved runs without torch.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# The folder holding the bench package (a clone's root, or site-packages of an installed diffbench):
# the suite runs as `pytest ROOT/bench`, its options declared by the plugin (bench/plugin.py).
ROOT = Path(__file__).resolve().parents[2]


class StudyError(Exception):
    """A study's bad input or a suite run that failed; the message is one line."""


def suite_command(options: Sequence[str], storage: Path, name: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "bench"),
        "-q",
        "-p",
        "no:cacheprovider",
        f"--rootdir={ROOT}",
        f"--benchmark-storage={storage}",
        f"--benchmark-save={name}",
        *options,
    ]


def run_suite(options: Sequence[str], storage: Path, name: str, *, quiet: bool = False) -> Path:
    """Run `pytest bench/ OPTIONS` saving into `storage` as NAME; returns the saved run's JSON.

    Failure rows (unsupported, oom, error) are part of a run: only a run that saved nothing
    (bad options, a crash before the first benchmark) is an error here.
    """
    storage.mkdir(parents=True, exist_ok=True)
    before = set(storage.rglob(f"*_{name}.json"))
    command = suite_command(options, storage, name)
    print(f"[study] pytest bench/ {' '.join(options)}", file=sys.stderr, flush=True)
    result = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        text=True,
        check=False,
    )
    if result.returncode == 2:
        tail = (result.stdout or "").strip().splitlines()[-1:] if quiet else []
        raise StudyError(
            f"the suite refused its options ({' '.join(options)}){': ' + tail[0] if tail else ''}"
        )
    saved = sorted(set(storage.rglob(f"*_{name}.json")) - before)
    if not saved:
        raise StudyError(f"the suite run {name!r} saved no results (pytest exit status {result.returncode})")
    return saved[-1]


def run_report(arguments: Sequence[str]) -> int:
    """`python -m reports ARGUMENTS`; its one-line errors pass through."""
    return subprocess.run([sys.executable, "-m", "reports", *arguments], cwd=ROOT, check=False).returncode


def add_suite_passthrough(parser: argparse.ArgumentParser) -> None:
    """`STUDY ... -- --device cuda --profile rtx3050`: what follows `--` goes to `pytest bench/`."""
    parser.add_argument(
        "suite_options", nargs=argparse.REMAINDER, help="after --: more pytest bench/ options"
    )


def suite_passthrough(args: argparse.Namespace) -> list[str]:
    extra = list(args.suite_options)
    return extra[1:] if extra[:1] == ["--"] else extra
