"""Is anything else using the CPU while we time? Load, other processes' CPU time, torch threads.

On a small machine another process cuts throughput far more than its share (torch's worker
threads spin and wait on each other), so a row timed beside another job is not comparable
with one timed alone. The kernel counts every CPU's busy time (psutil.cpu_times: /proc/stat
on Linux, with the time a hypervisor stole for other guests) and this process's own CPU time;
the difference over the
timed rounds is what others took, as a share of the machine's capacity (wall time x CPUs).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil
import torch

# Others taking more than this share of the machine's CPU capacity during the timed rounds
# mark the row `contended`: one busy thread of another job on a 2-core machine is 50%, an idle
# desktop's background is a few percent.
CONTENDED_SHARE_PCT = 10.0

# psutil's names for time that is not work: guest time is already counted inside user/nice.
_NOT_BUSY = ("idle", "iowait", "guest", "guest_nice")


def _machine_busy_s() -> float | None:
    """Seconds of CPU time all CPUs spent busy since boot (not idle, not waiting on I/O), or None."""
    try:
        times = psutil.cpu_times()
    except (OSError, NotImplementedError):
        return None
    return sum(value for name, value in times._asdict().items() if name not in _NOT_BUSY)


def _own_cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


@dataclass(frozen=True)
class Contention:
    other_cpu_pct: float | None  # others' CPU time over the block, % of wall time x CPUs
    load_avg_1m: float
    torch_threads: int
    cpus: int

    @property
    def contended(self) -> bool | None:
        if self.other_cpu_pct is None:
            return None
        return self.other_cpu_pct > CONTENDED_SHARE_PCT

    def fields(self) -> dict[str, float | int | bool | None]:
        return {
            "other_cpu_pct": self.other_cpu_pct,
            "load_avg_1m": self.load_avg_1m,
            "torch_threads": self.torch_threads,
            "contended": self.contended,
        }


class ContentionMeter:
    """Wraps the timed rounds: reads the counters on entry and exit (and at `so_far`), nothing else."""

    def __init__(self) -> None:
        self.process = psutil.Process(os.getpid())
        self.result: Contention | None = None
        self._busy = self._own = self._wall = 0.0
        self._has_busy = False

    def __enter__(self) -> ContentionMeter:
        busy = _machine_busy_s()
        self._has_busy = busy is not None
        self._busy = busy or 0.0
        self._own = _own_cpu_s(self.process)
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.result = self.so_far()

    def so_far(self) -> Contention:
        """Others' share from entry until now, without ending the block (a reloaded interleaved
        variant's row is finished while the others still time their last round)."""
        wall = time.perf_counter() - self._wall
        own = _own_cpu_s(self.process) - self._own
        busy = _machine_busy_s()
        cpus = psutil.cpu_count() or 1
        other_pct: float | None = None
        # Tick granularity (10 ms) makes blocks shorter than ~0.2 s meaningless.
        if self._has_busy and busy is not None and wall > 0.2:
            others = max(0.0, (busy - self._busy) - own)
            other_pct = round(100.0 * others / (wall * cpus), 1)
        return Contention(
            other_cpu_pct=other_pct,
            load_avg_1m=round(os.getloadavg()[0], 2),
            torch_threads=torch.get_num_threads(),
            cpus=cpus,
        )
