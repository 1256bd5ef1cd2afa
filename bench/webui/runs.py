"""Web UI load results as a saved run: pytest-benchmark's JSON with diffbench's fields.

Why not a pytest-benchmark fixture run: the fixture times one call per round in the calling
thread, while R requests at concurrency N have their latencies in N worker threads, which
its public API cannot take in. So the run is written here, in exactly the format
docs/run-format.md describes (`benchmarks[].stats` computed by pytest-benchmark's own
`Stats` class over the per-request latencies, `extra_info` with the suite's keys plus the
web UI's, `machine_info` from pytest-benchmark and diffbench), and a level whose requests
all failed is a failure row under `diffbench.rows`, as the suite writes them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_benchmark import __version__ as PYTEST_BENCHMARK_VERSION
from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info
from pytest_benchmark.stats import Stats
from pytest_benchmark.utils import get_commit_info

from bench.machine import machine_info
from bench.webui.client import Endpoint, Txt2Img
from bench.webui.load import LoadResult
from reports.record import SCHEMA, workload_label

# A1111 sampler names -> the suite's scheduler names, so the workload text matches the suite's.
SAMPLERS = {"euler": "euler", "ddim": "ddim", "dpm++ 2m": "dpm++2m", "pndm": "pndm", "plms": "pndm"}


def variant(concurrency: int) -> str:
    return f"webui(concurrency={concurrency})"


def request_workload(request: Txt2Img) -> str:
    """The suite's canonical workload text (`64x64/4steps/cfg7.5/b1/euler`) for this payload:
    the same function spells both, so a web UI row and a suite row of one workload match."""
    sampler = request.sampler_name.strip().lower()
    scheduler = SAMPLERS.get(sampler, sampler.replace(" ", ""))
    return workload_label(
        request.width,
        request.height,
        request.steps,
        request.cfg_scale,
        request.batch_size,
        scheduler,
        seed=request.seed,
        prompt=request.prompt,
    )


def extra_info(result: LoadResult, request: Txt2Img, endpoint: Endpoint, model: str | None) -> dict[str, Any]:
    """The row: the suite's keys (what the web UI cannot tell us is null) and the load test's."""
    latencies = result.latencies
    errors = result.errors
    status = "ok" if errors == 0 else "error"
    return {
        "schema": SCHEMA,
        "model": model or "unknown",
        "weights": None,
        "variant": variant(result.concurrency),
        "baseline_variant": None,
        "device": None,  # a black box: the server's device is not visible over the API
        "profile": None,
        "dtype": None,
        "workload": request_workload(request),
        "workload_detail": {
            "width": request.width,
            "height": request.height,
            "steps": request.steps,
            "guidance": request.cfg_scale,
            "batch": request.batch_size,
            "scheduler": request.sampler_name,
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "seed": request.seed,
        },
        "status": status,
        "reason": result.reason,
        "rounds": len(latencies),
        "first_call_s": result.warmup.latency_s if result.warmup is not None and result.warmup.ok else None,
        "peak_vram_allocated_mib": None,
        "peak_vram_reserved_mib": None,
        "peak_vram_nvml_mib": None,
        # The web UI's own figures.
        "url": endpoint.url,
        "concurrency": result.concurrency,
        "requests": result.requests,
        "completed": len(latencies),
        "errors": errors,
        "error_reasons": dict(result.failure_reasons()),
        "wall_s": result.wall_s,
        "images": result.images,
        "throughput_ips": result.throughput_ips,
        "peak_vram_used_mib": result.vram_peak_mib,
        "idle_vram_used_mib": result.vram_idle_mib,
        "vram_note": result.vram_note,
        "loadavg_1m": result.loadavg_1m,
    }


def benchmark_entry(
    result: LoadResult, request: Txt2Img, endpoint: Endpoint, model: str | None
) -> dict[str, Any]:
    """One `benchmarks[]` entry, or a failure row (no `stats`) when no request succeeded."""
    info = extra_info(result, request, endpoint, model)
    param = f"{info['variant']}-{info['workload'].replace('/', '-')}"
    entry: dict[str, Any] = {
        "group": "webui",
        "name": f"test_webui[{param}]",
        "fullname": f"bench/webui::test_webui[{param}]",
        "params": {"concurrency": result.concurrency},
        "param": param,
        "extra_info": info,
        "options": {"timer": "perf_counter", "warmup": 1, "concurrency": result.concurrency},
    }
    latencies = result.latencies
    if latencies:
        stats = Stats()
        for latency in latencies:
            stats.update(latency)
        entry["stats"] = {**stats.as_dict(), "data": latencies}
    return entry


def run_document(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole run file: timed entries under `benchmarks`, the others under `diffbench.rows`."""
    machine = pytest_benchmark_generate_machine_info()
    machine["diffbench"] = machine_info()
    return {
        "machine_info": machine,
        "commit_info": get_commit_info(),
        "benchmarks": [entry for entry in entries if "stats" in entry],
        "datetime": datetime.now(UTC).isoformat(),
        "version": PYTEST_BENCHMARK_VERSION,
        "diffbench": {"schema": SCHEMA, "rows": [entry for entry in entries if "stats" not in entry]},
    }


def save_run(document: dict[str, Any], folder: Path, name: str) -> Path:
    """Write `folder/NNNN_name.json` with the next free number; an existing run is never replaced.

    The file is written to a temporary name and then hard-linked into place, which fails
    rather than overwrite when another writer took the same number first (then the next is tried).
    """
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ValueError(f"run name {name!r}: use letters, digits, '.', '_' or '-'")
    folder.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=4)
        os.chmod(temp, 0o644)
        while True:
            target = folder / f"{_next_number(folder):04d}_{name}.json"
            try:
                os.link(temp, target)
                return target
            except FileExistsError:
                continue
    finally:
        temp.unlink(missing_ok=True)


def _next_number(folder: Path) -> int:
    numbers = [
        int(match.group(1)) for path in folder.glob("*.json") if (match := re.match(r"(\d{4})_", path.name))
    ]
    return max(numbers, default=0) + 1
