"""pytest hooks for hardware profiles: saved runs stored per machine *and* profile, and the
emulated card's memory cap.

pytest-benchmark stores a run under `<storage>/<machine_id>/`, where machine_id is
`pytest_benchmark.utils.get_machine_id()` (OS-implementation-version-bits: the same for a
3050 laptop and a 3080 desktop). Its BenchmarkSession takes that id in its own trylast
`pytest_configure`, and loads `--benchmark-compare` baselines right away from that folder.
So a tryfirst configure hook makes the id the session sees end in the profile's storage key
(`Linux-CPython-3.11-64bit-rtx3080`, `...-gtx1650-on-h100-80gb-hbm3`, `...-cpu`) while
pytest-benchmark configures itself, and puts the original back at session start: saving,
`--benchmark-compare` and the `pytest-benchmark compare` CLI (which globs every machine
folder) all work as before. The key is read when pytest-benchmark asks for the id, from the
profile bench.plugin's own configure hook resolved (it runs between the two): the device and
profile are resolved once per run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from bench.suite_config import SuiteConfig


def _suite_config(config: pytest.Config) -> SuiteConfig | None:
    """The options bench.plugin's configure hook parsed (device and profile resolved there, once);
    None before it ran, or when the options were bad (it then reports them and exits 2)."""
    from bench.plugin import _SUITE

    suite = config.stash.get(_SUITE, None)
    return None if suite is None else suite.config


def _storage_key(config: pytest.Config) -> str | None:
    suite_config = _suite_config(config)
    if suite_config is None or suite_config.hardware is None:
        return None
    return suite_config.hardware.storage_key


_ORIGINAL = pytest.StashKey[Callable[[], str]]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Before pytest-benchmark's (trylast) configure: its session takes the profiled machine id."""
    import pytest_benchmark.session as benchmark_session

    original = benchmark_session.get_machine_id

    def machine_id_with_profile() -> str:
        key = _storage_key(config)
        return original() if key is None else f"{original()}-{key}"

    config.stash[_ORIGINAL] = original
    benchmark_session.get_machine_id = machine_id_with_profile


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Configuration is over: put pytest-benchmark's function back, cap the emulated card's memory."""
    _restore(session.config)
    _apply_memory_cap(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    _restore(config)


def _restore(config: pytest.Config) -> None:
    import pytest_benchmark.session as benchmark_session

    original = config.stash.get(_ORIGINAL, None)
    if original is not None:
        benchmark_session.get_machine_id = original
        del config.stash[_ORIGINAL]


def _apply_memory_cap(config: pytest.Config) -> None:
    from bench.profiles.select import apply_memory_cap

    suite_config = _suite_config(config)
    if suite_config is not None and suite_config.hardware is not None:
        apply_memory_cap(suite_config.hardware, suite_config.device)
