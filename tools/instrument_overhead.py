"""Do the suite's instruments slow what they measure? One generation bare and instrumented, interleaved.

    python tools/instrument_overhead.py --model tiny-sd --pairs 40 --output overhead.json
    python tools/instrument_overhead.py --model sd15 --resolution 256 --steps 2 --pairs 8

Each round runs three arms in a rotating order, on the same pipeline, seed and workload:
- `bare`: `generate()` alone;
- `suite`: inside the instruments `bench.measure` wraps the timed rounds with today (the
  kernel's peak-RSS mark, the stage recorder's hooks and step callback, the contention meter);
- `thread5ms`: the instruments as they were before (RSS sampled every 5 ms in a thread, the
  stage recorder).
It prints each arm's median and IQR and its median ratio to `bare` over the rounds (each
round's instrumented time divided by the same round's bare time, so drift of the machine
between rounds cancels), and writes them as JSON with the machine's CPU flags and load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from bench.generate import generate
from bench.instruments.contention import ContentionMeter
from bench.instruments.memory import RssSampler
from bench.instruments.stages import StageRecorder
from bench.machine import cpu_capability, cpu_flags, cpu_name
from bench.workload import Workload
from models import load_model

ARMS = ("bare", "suite", "thread5ms")


@contextlib.contextmanager
def _instruments(arm: str, pipeline: object, device: torch.device) -> Iterator[StageRecorder | None]:
    if arm == "bare":
        yield None
        return
    rss = RssSampler(use_kernel=True) if arm == "suite" else RssSampler(interval=0.005, use_kernel=False)
    meter = ContentionMeter() if arm == "suite" else contextlib.nullcontext()
    with rss, StageRecorder(pipeline, device) as stages, meter:
        yield stages


def _timed(arm: str, pipeline: object, workload: Workload, device: torch.device) -> float:
    with _instruments(arm, pipeline, device) as stages:
        started = time.perf_counter()
        generate(pipeline, workload, device, stages)
        return time.perf_counter() - started


def _iqr(values: list[float]) -> float:
    quartiles = statistics.quantiles(values, n=4, method="inclusive")
    return quartiles[2] - quartiles[0]


def run(model: str, workload: Workload, pairs: int, progress: Callable[[str], None]) -> dict[str, object]:
    device = torch.device("cpu")
    pipeline = load_model(model).pipeline
    pipeline.set_progress_bar_config(disable=True)
    for arm in ARMS:  # first calls and one warm-up each, not counted
        _timed(arm, pipeline, workload, device)
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    load_before = os.getloadavg()[0]
    for index in range(pairs):
        order = ARMS[index % 3 :] + ARMS[: index % 3]
        for arm in order:
            times[arm].append(_timed(arm, pipeline, workload, device))
        progress(f"round {index + 1}/{pairs}: " + ", ".join(f"{a} {times[a][-1]:.3f}s" for a in ARMS))
    summary = {}
    for arm in ARMS:
        ratios = [t / b for t, b in zip(times[arm], times["bare"], strict=True)]
        summary[arm] = {
            "median_s": statistics.median(times[arm]),
            "iqr_s": _iqr(times[arm]),
            "median_ratio_to_bare": statistics.median(ratios),
            "ratio_iqr": _iqr(ratios),
        }
    return {
        "model": model,
        "workload": workload.label,
        "pairs": pairs,
        "summary": summary,
        "times_s": times,
        "machine": {
            "cpu": cpu_name(),
            "cpu_flags": cpu_flags(),
            "cpu_capability": cpu_capability(),
            "torch_threads": torch.get_num_threads(),
            "load_avg_1m_before": load_before,
            "load_avg_1m_after": os.getloadavg()[0],
        },
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(sys.argv),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-sd")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    workload = Workload(width=args.resolution, height=args.resolution, steps=args.steps)
    result = run(args.model, workload, args.pairs, lambda line: print(line, file=sys.stderr, flush=True))
    for arm, figures in result["summary"].items():
        print(
            f"{arm:10s} median {figures['median_s']:.4f}s  IQR {figures['iqr_s']:.4f}s  "
            f"ratio to bare {figures['median_ratio_to_bare']:.4f} (IQR {figures['ratio_iqr']:.4f})"
        )
    if args.output:
        args.output.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
