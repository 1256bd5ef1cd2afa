"""Out of memory on the device: the peak it reached, and `--offload auto`'s retries.

With `--offload auto`, a variant that ran out of memory is rebuilt on the CPU and retried
with diffusers' model CPU offload (whole components moved to the device in turn), then with
sequential CPU offload (submodules streamed in); the row records which one made it fit
(`offload`), the out-of-memory peak that forced it, and its own latency (what it cost).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from bench.measure import Measurement, measure

if TYPE_CHECKING:
    from bench.suite_config import SuiteConfig
    from bench.workload import Workload
    from optimize import Variant

MIB = 1 << 20
OFFLOAD_MODES = ("model", "sequential")


class OffloadFailed(Exception):
    """No offload mode made the variant fit; the message says what each one reached."""


def is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError | MemoryError)


def peak_allocated_mib(device: torch.device) -> float | None:
    """The allocator's peak since the last reset (the OOM happened just past it); None on CPU."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / MIB


def oom_fields(config: SuiteConfig, error: BaseException) -> dict[str, Any]:
    """Row fields for an out-of-memory: the peak it reached (and the emulation's cap), one-line reason."""
    peak = peak_allocated_mib(config.device)
    cap_mib = config.hardware.emulation.memory_cap_mib if config.hardware is not None else None
    reason = f"out of memory: {error}".splitlines()[0]
    if peak is not None:
        reason += f" (peak {peak:.0f} MiB allocated" + (f" of a {cap_mib:.0f} MiB cap)" if cap_mib else ")")
    return {"peak_vram_allocated_mib": peak, "reason": reason}


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _enable(pipeline: Any, mode: str, device: torch.device) -> None:
    if mode == "model":
        pipeline.enable_model_cpu_offload(device=device)
    else:
        pipeline.enable_sequential_cpu_offload(device=device)


def measure_offloaded(
    build: Callable[[], Variant],
    config: SuiteConfig,
    variant_name: str,
    workload: Workload,
    benchmark: Any,
    info: dict[str, Any],
) -> tuple[Variant, Measurement]:
    """Retry an out-of-memory variant with each offload mode; raises OffloadFailed when none fits.

    `build()` gives the variant on the CPU (from the cache: it was built for the first try) and
    drops whatever the caller held of the previous try. Each failed try is released outside its
    exception handler, so the next one never runs beside the failed one's memory."""
    device = config.device
    reached: list[str] = []
    for mode in OFFLOAD_MODES:
        _release(device)
        variant, result, failure = _try_offload(build, mode, config, variant_name, workload, benchmark)
        if failure is not None:
            reached.append(failure)
            del variant, result
            continue
        assert variant is not None and result is not None
        info.update(
            offload=mode,
            offload_note=f"{mode} CPU offload made it fit after: {info.get('reason') or 'out of memory'}",
            build_s=variant.build_s,
            cache_hit=variant.cache_hit,
            params=variant.params,
            size_mb=variant.size_bytes / 1e6,
            reason="",
        )
        return variant, result
    _release(device)
    raise OffloadFailed("; ".join(reached))


def _try_offload(
    build: Callable[[], Variant],
    mode: str,
    config: SuiteConfig,
    variant_name: str,
    workload: Workload,
    benchmark: Any,
) -> tuple[Variant | None, Measurement | None, str | None]:
    """(variant, measurement, None) when it fit; (None, None, what it reached) when out of memory."""
    from pytest_benchmark.fixture import FixtureAlreadyUsed

    device = config.device
    try:
        variant = build()
        _enable(variant.pipeline, mode, device)
        result = measure(
            variant.pipeline, workload, device, benchmark, config.rounds, config.warmup, label=variant_name
        )
    except FixtureAlreadyUsed:
        raise OffloadFailed(
            "it ran out of memory during the timed rounds, and a benchmark cannot be timed twice"
        ) from None
    except Exception as error:
        if not is_oom(error):
            raise
        peak = peak_allocated_mib(device)
        return None, None, f"{mode} offload: out of memory at {peak or 0:.0f} MiB"
    return variant, result, None
