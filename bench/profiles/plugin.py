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
folder) all work as before.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.errors import BenchError


def _storage_key(config: pytest.Config) -> str | None:
    from bench.devices import resolve_device
    from bench.profiles.select import select_profile

    try:
        device = resolve_device(config.getoption("--device"))
        selection = select_profile(
            config.getoption("--profile"),
            device,
            config.getoption("--profile-file"),
            config.getoption("--calibration"),
        )
    except (BenchError, ValueError):
        return None  # bad options: bench.plugin reports them and exits 2
    return selection.storage_key


_ORIGINAL = pytest.StashKey[Callable[[], str]]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Before pytest-benchmark's (trylast) configure: its session takes the profiled machine id."""
    import pytest_benchmark.session as benchmark_session

    key = _storage_key(config)
    if key is None:
        return
    original = benchmark_session.get_machine_id
    config.stash[_ORIGINAL] = original
    benchmark_session.get_machine_id = lambda: f"{original()}-{key}"


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
    from bench.plugin import _SUITE
    from bench.profiles.select import apply_memory_cap

    suite = config.stash.get(_SUITE, None)
    if suite is not None and suite.config.hardware is not None:
        apply_memory_cap(suite.config.hardware, suite.config.device)
