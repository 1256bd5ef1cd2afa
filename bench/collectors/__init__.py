"""Extra row fields computed after a variant is measured (MACs, profile fit, FID, ...).

A collector is a function of the finished run that returns fields for the row's extra_info.
Each lives in its own module in this package and registers itself with `@collector(order=N)`;
collect() imports every module here on its first call (nothing to list), so adding a metric is
one file plus its test. A collector that cannot compute its fields returns None values (never
invented numbers).

Collectors run by ascending `order` (ties by module, then function name). The order matters
twice: the row's keys appear in the order the collectors first write them, and a later
collector may overwrite an earlier one's field (vram, order 90, decides `fits` from NVML after
the profile fit, order 10, estimated it).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.instruments.meta_trace import RowTrace
    from bench.measure import Measurement
    from bench.suite_config import SuiteConfig
    from bench.workload import Workload
    from models import LoadedModel
    from optimize import Variant


@dataclass
class FinishedRun:
    config: SuiteConfig
    model: LoadedModel
    variant: Variant
    workload: Workload
    measurement: Measurement
    # Fields already in the row (status, latency stages, ...), read-only for collectors.
    row: dict[str, Any]

    @cached_property
    def meta_trace(self) -> RowTrace:
        """The row's one meta-device trace (its MACs, and its memory estimate where the row has a
        hardware profile), made on first use and shared by the collectors that read it."""
        from bench.instruments.meta_trace import trace_row  # torch and diffusers: only when a row asks

        return trace_row(self.variant.pipeline, self.workload, memory=self.config.hardware is not None)


Collector = Callable[[FinishedRun], dict[str, Any]]


@dataclass(frozen=True)
class Registered:
    order: int
    module: str
    name: str
    function: Collector


# Keyed by (module, function name), so a module imported twice registers its collector once.
_REGISTERED: dict[tuple[str, str], Registered] = {}
_discovered = False


def collector(*, order: int) -> Callable[[Collector], Collector]:
    """Register a collector; `order` places it among the others (lower runs first)."""

    def register(function: Collector) -> Collector:
        key = (function.__module__, function.__name__)
        _REGISTERED[key] = Registered(order, function.__module__, function.__name__, function)
        return function

    return register


def collector_modules() -> list[str]:
    """Every module of this package, by name: the ones that hold collectors."""
    return sorted(f"{__name__}.{info.name}" for info in pkgutil.iter_modules(__path__))


def registered_collectors() -> list[Registered]:
    """Every collector of the package's modules (imported on the first call), in running order."""
    global _discovered
    if not _discovered:
        for module in collector_modules():
            importlib.import_module(module)
        _discovered = True
    return sorted(_REGISTERED.values(), key=lambda entry: (entry.order, entry.module, entry.name))


def collect(run: FinishedRun) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for entry in registered_collectors():
        fields.update(entry.function(run))
    return fields
