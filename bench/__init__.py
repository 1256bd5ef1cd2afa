"""Instruments, hardware context and the pytest-benchmark suite."""

import contextlib

# Before anything here imports diffusers (which imports torchao/bitsandbytes when installed),
# the filters for their harmless import-time log lines must be in place. Without torch
# (an analyst recovering a journal with `python -m bench.recover`) there is nothing to filter.
with contextlib.suppress(ImportError):
    from models import import_noise  # noqa: F401
