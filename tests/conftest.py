"""Shared fixtures for the harness's own tests, and how `pytest tests/` spreads over workers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# Most of the tests' time is spent in `pytest bench/` and `python -m ...` subprocesses that import
# torch and diffusers on one core; two workers keep both cores of a build machine busy.
MOST_WORKERS = 4
# Each worker, and each suite it starts, would otherwise run torch on every core: on 2 cores two
# workers' OpenMP threads then spin waiting for each other, which doubled the CPU time of the
# suite-running tests (docs/contributing.md has the figures). A value the user set is kept.
WORKER_THREADS = "1"
# pytest-xdist sets these in each worker. The suite runs the tests start (`pytest bench/` in a
# subprocess) would inherit them, and pytest-benchmark then believes it runs under xdist and
# saves nothing.
XDIST_VARIABLES = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


def default_workers() -> int:
    return min(MOST_WORKERS, max(2, os.cpu_count() or 1))


def _whole_folder(config: pytest.Config) -> bool:
    """The run names the whole tests/ folder (or the clone), not a file or a test in it."""
    folders = {TESTS, ROOT}
    args = [arg.split("::")[0] for arg in config.args] or ["."]
    return any(Path(config.invocation_params.dir, arg).resolve() in folders for arg in args)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`pytest tests/` runs on `default_workers()` pytest-xdist workers, a file per worker at a time
    (`--dist loadfile`: a module's fixtures run once). A narrower selection (a file, `-k`
    within one) runs in this process, as does any run given `-n` (`-n 0`: none), `--pdb` or
    `--collect-only`. Torch then runs one thread per worker (WORKER_THREADS). Called before
    xdist's own hook (tryfirst, and conftests register later)."""
    option = config.option
    if getattr(option, "numprocesses", "absent") is not None or hasattr(config, "workerinput"):
        return  # xdist absent (-p no:xdist), -n given, or this is a worker
    if option.usepdb or option.collectonly or not _whole_folder(config):
        return
    option.numprocesses = default_workers()
    if option.dist == "no":
        option.dist = "loadfile"
    # Set before the workers start: they, and the subprocesses they run, inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", WORKER_THREADS)


def pytest_configure(config: pytest.Config) -> None:
    for name in XDIST_VARIABLES:
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def tiny_model():
    from models import load_model

    return load_model("tiny-sd")


@pytest.fixture
def cache(tmp_path: Path):
    from optimize import VariantCache

    return VariantCache(tmp_path / "variants")


@pytest.fixture(scope="session")
def tiny_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One ordinary tiny-sd suite run and its repeat, shared by every end-to-end test that only
    reads their rows (tests/helpers/suite_runs.py says which options), made once per `pytest
    tests/` whichever worker asks first."""
    from helpers.suite_runs import run_tiny_twice, shared_tiny_runs

    if not hasattr(request.config, "workerinput"):
        return run_tiny_twice(tmp_path_factory.mktemp("tiny-runs"))
    # Under xdist each worker's base folder is popen-gwN inside the run's own one.
    return shared_tiny_runs(tmp_path_factory.getbasetemp().parent / "tiny-runs")
