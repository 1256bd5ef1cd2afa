"""R txt2img requests at concurrency N: per-request latencies, throughput, errors.

N client threads (a ThreadPoolExecutor) share R requests, so at most N are in flight at
once, as N users clicking "Generate" would. One warm-up request goes first and is not
counted (a web UI's first call compiles, allocates, loads). Throughput is images decoded
over the wall time from the first timed request sent to the last reply read.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tqdm import tqdm

from bench.webui.client import DEFAULT_TIMEOUT_S, Endpoint, Reply, Txt2Img, check_timeout, txt2img
from bench.webui.vram import DeviceMemorySampler


@dataclass
class LoadResult:
    concurrency: int
    requests: int  # timed requests asked for
    warmup: Reply | None = None
    replies: list[Reply] = field(default_factory=list)
    wall_s: float | None = None
    vram_idle_mib: float | None = None
    vram_peak_mib: float | None = None
    vram_note: str = ""
    # This machine's 1-minute load average as the timed requests began: a busy client (or a
    # local server sharing the CPU with other work) shows in the latencies, so it travels with them.
    loadavg_1m: float | None = None

    @property
    def latencies(self) -> list[float]:
        """Seconds of every request that succeeded, in the order they were sent."""
        return [reply.latency_s for reply in self.replies if reply.ok]

    @property
    def errors(self) -> int | None:
        """Failed timed requests; None when they were never sent (the warm-up failed)."""
        return sum(not reply.ok for reply in self.replies) if self.replies else None

    @property
    def images(self) -> int:
        return sum(len(reply.images) for reply in self.replies if reply.ok)

    @property
    def throughput_ips(self) -> float | None:
        """Images per second over the wall time; None when nothing came back."""
        if not self.wall_s or not self.images:
            return None
        return self.images / self.wall_s

    def failure_reasons(self) -> Counter[str]:
        return Counter(reply.reason for reply in self.replies if not reply.ok)

    @property
    def reason(self) -> str:
        """Empty when every request succeeded, else one line: how many failed and the commonest why."""
        if self.warmup is not None and not self.warmup.ok:
            return f"warm-up request failed: {self.warmup.reason}; {self.requests} timed requests not sent"
        reasons = self.failure_reasons()
        if not reasons:
            return ""
        text, count = reasons.most_common(1)[0]
        others = f" (+{len(reasons) - 1} other reason(s))" if len(reasons) > 1 else ""
        return f"{sum(reasons.values())} of {self.requests} requests failed: {count}x {text}{others}"


def run_load(
    endpoint: Endpoint,
    request: Txt2Img,
    requests: int,
    concurrency: int,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: bool = True,
) -> LoadResult:
    """One warm-up, then `requests` calls with at most `concurrency` in flight.

    `timeout` bounds each request from start to end; `BenchError` before any request when it
    is not a finite number of seconds above 0.
    """
    check_timeout(timeout)
    result = LoadResult(concurrency=concurrency, requests=requests)
    result.warmup = txt2img(endpoint, request, timeout)
    if not result.warmup.ok:
        return result
    sampler = DeviceMemorySampler(endpoint.host)
    bar = tqdm(total=requests, desc=f"webui c={concurrency}", unit="req", disable=not progress, leave=False)
    result.loadavg_1m = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with sampler, ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webui-client") as pool:
        start = time.perf_counter()
        futures = [pool.submit(txt2img, endpoint, request, timeout) for _ in range(requests)]
        for future in futures:
            result.replies.append(future.result())
            bar.update()
        result.wall_s = time.perf_counter() - start
    bar.close()
    result.vram_idle_mib, result.vram_peak_mib, result.vram_note = (
        sampler.idle_mib,
        sampler.peak_mib,
        sampler.note,
    )
    return result
