"""Suite runs shared by many tests, and bad-input runs started together.

Every `pytest bench/` subprocess spends seconds importing torch and diffusers before it reads an
option, and a tiny run costs tens of CPU-seconds more: so the end-to-end tests that only read an
ordinary run's rows share one pair of runs per session (tests/conftest.py's `tiny_runs`), and the
runs that must stop at a bad option are started together, so their imports overlap.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers.suite_inline import run_bench_inline
from helpers.suite_process import run_bench

# Suite subprocesses alive at once: enough to overlap their imports on a 2-core machine
# without holding many interpreters' memory (about 0.5 GB each).
PARALLEL = 4

# The shared runs' options: a timed variant, an optimised one and an unsupported recipe (a
# failure row), on the gtx1650 profile, so its fit and projection columns are filled too.
SHARED_VARIANTS = ("fp32", "bf16", "fp16+bf16")
SHARED_PROFILE = "gtx1650"
SHARED_STEPS = 2


def run_bench_together(
    option_sets: Sequence[Sequence[str]],
    env: dict[str, str] | None = None,
    timeout: float = 600,
    envs: Sequence[dict[str, str]] | None = None,
) -> list[subprocess.CompletedProcess[str]]:
    """run_bench once per option set, several at a time; the results in the order given. ENV is
    every run's, ENVS (one per option set) each run's own on top."""
    own = list(envs) if envs is not None else [{} for _ in option_sets]
    if len(own) != len(option_sets):
        raise ValueError(f"{len(own)} environments for {len(option_sets)} option sets")

    def one(index: int) -> subprocess.CompletedProcess[str]:
        return run_bench(*option_sets[index], env={**(env or {}), **own[index]}, timeout=timeout)

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(one, range(len(option_sets))))


def runs_in_own_folders(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    folder_options: Callable[[Path], Sequence[str]],
    cases: Sequence[tuple[str, str]],
) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Each case's option (one string, split at spaces) run after FOLDER_OPTIONS of a fresh folder:
    {option: (its folder, its result)}. For the runs that must stop at bad input, each checked by
    its own test (the case's second item is what its message names). The first case runs as a
    user runs it, in a subprocess; the others in this process (helpers.suite_inline), where a run
    that stops at its option costs milliseconds instead of an interpreter's imports."""
    options = [option for option, _ in cases]
    pairs = [(option, tmp_path_factory.mktemp(name)) for option in options]
    option_sets = [(*folder_options(folder), *option.split()) for option, folder in pairs]
    env = {"DIFFBENCH_CACHE": str(pairs[0][1] / "cache")}
    results = [run_bench(*option_sets[0], env=env)]
    results += [run_bench_inline(*option_set, env=env) for option_set in option_sets[1:]]
    return {option: (folder, result) for (option, folder), result in zip(pairs, results, strict=True)}


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], named: str) -> None:
    """The run stopped at bad input as the design says: exit 2, one line naming NAMED, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    output = (result.stdout + result.stderr).strip()
    assert named in output
    assert len(output.splitlines()) == 1, output
    assert "Traceback" not in output


@dataclass(frozen=True)
class TinyRuns:
    """The same tiny-sd suite run twice into one storage: `first` builds every variant, `second`
    (with `--benchmark-compare`) must find them all cached and compare against `first`."""

    root: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    def saved(self) -> list[Path]:
        """The saved run files, oldest first."""
        return sorted(self.storage.rglob("*.json"))

    def load(self, index: int) -> dict[str, Any]:
        return json.loads(self.saved()[index].read_text())


def tiny_run_options(root: Path) -> tuple[str, ...]:
    return (
        f"--benchmark-storage={root / 'storage'}",
        f"--variants={','.join(SHARED_VARIANTS)}",
        f"--profile={SHARED_PROFILE}",
        f"--steps={SHARED_STEPS}",
        "--rounds=2",
        "--warmup=0",
    )


def _result_doc(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    fields = ("args", "returncode", "stdout", "stderr")
    return {name: getattr(result, name) for name in fields}


def _result_of(doc: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(doc["args"], doc["returncode"], doc["stdout"], doc["stderr"])


def shared_tiny_runs(root: Path) -> TinyRuns:
    """run_tiny_twice into ROOT once across processes (pytest-xdist workers): the first to take the
    lock runs it and writes what the two runs returned; the others wait, then read that."""
    from filelock import FileLock  # a dependency of diffusers and huggingface_hub

    root.mkdir(parents=True, exist_ok=True)
    results = root / "results.json"
    with FileLock(str(root.with_name(root.name + ".lock"))):
        if results.is_file():
            doc = json.loads(results.read_text())
            return TinyRuns(root, _result_of(doc["first"]), _result_of(doc["second"]))
        runs = run_tiny_twice(root)
        results.write_text(json.dumps({"first": _result_doc(runs.first), "second": _result_doc(runs.second)}))
        return runs


def run_tiny_twice(root: Path) -> TinyRuns:
    options = tiny_run_options(root)
    env = {"DIFFBENCH_CACHE": str(root / "cache")}
    first = run_bench(*options, "--benchmark-save=first", env=env)
    second = run_bench(*options, "--benchmark-save=second", "--benchmark-compare", env=env)
    return TinyRuns(root, first, second)
