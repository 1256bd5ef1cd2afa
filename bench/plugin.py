"""The pytest plugin behind `pytest bench/`: parametrisation, the session's Suite, and
failure rows carried into the saved run through pytest-benchmark's JSON hook."""

from __future__ import annotations

from typing import Any

import pytest

from bench import preflight
from bench.errors import BenchError
from bench.suite import SCHEMA, Case, Suite
from bench.suite_config import config_from_options
from models import ModelError
from optimize import PassError

_SUITE = pytest.StashKey[Suite]()
OPTION_ERRORS = (BenchError, ModelError, PassError)


def pytest_configure(config: pytest.Config) -> None:
    """Validate the options and every file and folder the run needs before collection, so bad
    input stops the run with one line and exit 2, before anything is built or saved."""
    try:
        suite_config = config_from_options(config.getoption)
        _check_storage(config)
        config.stash[_SUITE] = Suite(suite_config)
    except OPTION_ERRORS as error:
        pytest.exit(f"error: {' '.join(str(error).split())}", returncode=2)


def _check_storage(config: pytest.Config) -> None:
    """The folder a saving run writes its run and journal to (pytest-benchmark's `--benchmark-storage`)."""
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
def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    rows = config.stash[_SUITE].failure_rows if _SUITE in config.stash else []
    output_json["diffbench"] = {"schema": SCHEMA, "rows": rows}


__all__ = ["Case", "suite", "suite_from"]
