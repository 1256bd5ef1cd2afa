"""The pytest plugin behind `pytest bench/` and `pytest --pyargs bench`: the suite's options, the
parametrisation, the session's Suite, and failure rows carried into the saved run through
pytest-benchmark's JSON hook.

Registered by the `pytest11` entry point `bench.plugin` (pyproject.toml), so an installed
diffbench runs the suite from anywhere. The entry point's name is this module's name: the root
conftest.py of a clone names the plugin too (for runs with plugin autoloading off), and pytest
skips a plugin already registered under the name it is asked for.
"""

from __future__ import annotations

import os

# Set before anything here imports huggingface_hub, which reads them once at import. There is no
# model hub where the suite runs (build machines, CI): anything that tries to download must fail
# fast, not hang.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

from typing import TYPE_CHECKING, Any

import pytest

from bench.errors import BenchError
from bench.options import add_suite_options
from models import ModelError
from optimize import PassError
from reports.record import SCHEMA

if TYPE_CHECKING:
    from bench.suite import Suite

# What this module imports at the top is light (no torch, no diffusers): every pytest process
# with diffbench installed loads it (`pytest --help`, pytest-benchmark's CLI, a project's own
# tests). The suite's modules are imported when a run configures, and not for --help.

# Hooks of their own, registered with this plugin: the run's journal and per-profile storage.
pytest_plugins = ("bench.journal_plugin", "bench.profiles.plugin")

_SUITE = pytest.StashKey["Suite"]()
OPTION_ERRORS = (BenchError, ModelError, PassError)
# The libraries' harmless warnings, kept out of a run's output wherever the suite runs from (a
# clone's pyproject.toml lists them too, for tests/; an installed package has no ini file).
WARNING_FILTERS = (
    "ignore::DeprecationWarning:torchao.*",
    # bitsandbytes compiles a kernel on import, which imports inductor, which imports torch.utils.mkldnn.
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning",
    "ignore::FutureWarning:diffusers.*",
    # diffusers' schedulers call np.array(tensor, copy=False) paths that numpy 2 flags; harmless.
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_suite_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Validate the options and every file and folder the run needs before collection, so bad
    input stops the run with one line and exit 2, before anything is built or saved."""
    for line in WARNING_FILTERS:
        config.addinivalue_line("filterwarnings", line)
    if config.option.help or config.option.version:
        return  # pytest prints its help or version and stops: nothing to validate or build
    from bench.suite import Suite
    from bench.suite_config import config_from_options

    try:
        suite_config = config_from_options(config.getoption)
        _check_storage(config)
        config.stash[_SUITE] = Suite(suite_config)
    except OPTION_ERRORS as error:
        pytest.exit(f"error: {' '.join(str(error).split())}", returncode=2)


def _check_storage(config: pytest.Config) -> None:
    """The folder a saving run writes its run and journal to (pytest-benchmark's `--benchmark-storage`)."""
    from bench import preflight

    saves = config.getoption("benchmark_save", None) or config.getoption("benchmark_autosave", None)
    folder = preflight.storage_folder(config.getoption("benchmark_storage", None))
    if saves and folder is not None:
        preflight.writable_folder(folder, "--benchmark-storage")


def suite_from(config: pytest.Config) -> Suite:
    return config.stash[_SUITE]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        cases = suite_from(metafunc.config).cases()
        metafunc.parametrize("case", cases, ids=[c.test_id for c in cases])


@pytest.fixture(scope="session")
def suite(request: pytest.FixtureRequest) -> Suite:
    return suite_from(request.config)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    from bench.machine import machine_info as diffbench_machine_info

    machine_info["diffbench"] = diffbench_machine_info()


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    rows = config.stash[_SUITE].failure_rows if _SUITE in config.stash else []
    output_json["diffbench"] = {"schema": SCHEMA, "rows": rows}


__all__ = ["suite", "suite_from"]
