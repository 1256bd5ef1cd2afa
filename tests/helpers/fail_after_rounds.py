"""A pytest plugin for the suite under test (`-p helpers.fail_after_rounds`): the PSNR the suite
computes after a variant's timed rounds raises, so every non-baseline variant fails after it was
timed, the way a FID reference or a collector can."""

from __future__ import annotations

from typing import Any

import bench.suite

MESSAGE = "injected failure after the timed rounds"


def _failing_psnr(images: Any, reference: Any) -> float:
    raise RuntimeError(MESSAGE)


def pytest_configure(config: Any) -> None:
    # Patched only where pytest loads this as a plugin (the suite under test), never where a
    # test merely imports MESSAGE: the test process's own suites must keep the real PSNR.
    bench.suite.psnr = _failing_psnr
