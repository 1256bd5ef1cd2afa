"""The suite driven in this process on tiny-sd, with pytest-benchmark's fixture reduced to a loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


class FakeBenchmark:
    """pytest-benchmark's fixture, reduced to what Suite.run calls."""

    def pedantic(self, function, args=(), kwargs=None, setup=None, rounds=1, warmup_rounds=0, iterations=1):
        for _ in range(rounds):
            if setup is not None:
                setup()
            function(*args, **(kwargs or {}))


def tiny_suite_config(tmp_path: Path, variants: tuple[str, ...], **overrides: Any):
    from bench.suite_config import SuiteConfig
    from bench.workload import Workload

    options: dict[str, Any] = {
        "model": "tiny-sd",
        "weights": "random",
        "variants": variants,
        "workloads": (Workload(steps=2),),
        "rounds": 1,
        "warmup": 0,
        "device": torch.device("cpu"),
        "cache_root": tmp_path / "cache",
        "allow_pickle": False,
        **overrides,
    }
    return SuiteConfig(**options)


def real_benchmark(name: str = "test_generation"):
    """pytest-benchmark's own fixture (BenchmarkFixture), outside a pytest session: `pedantic` and
    its statistics are the library's, so what a test reads from `.stats` is what a run saves."""
    import time
    from types import SimpleNamespace

    from pytest_benchmark.fixture import BenchmarkFixture

    return BenchmarkFixture(
        node=SimpleNamespace(name=name, nodeid=f"bench/test_generation.py::{name}"),
        disable_gc=False,
        timer=SimpleNamespace(target=time.perf_counter),
        min_rounds=1,
        min_time=0.000005,
        max_time=1.0,
        precision=None,
        confidence=None,
        warmup=False,
        warmup_iterations=0,
        calibration_precision=10,
        add_stats=lambda stats: None,
        logger=None,
        warner=None,
        disabled=False,
        cprofile=False,
        cprofile_loops=None,
        cprofile_dump=None,
    )
