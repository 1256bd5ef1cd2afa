"""Saved runs -> a markdown table of each variant relative to the baseline of the same run.

    python -m bench.relative_table STORAGE [--baseline fp32]

Per row: step and end-to-end latency medians, the ratio of the baseline's step time to the
variant's (>1: faster), build time, cache hit, size, PSNR against the baseline image, the
execution provider, and the status/reason of rows that could not be timed. Reads the runs
with `reports.load` (pandas only).
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

import reports

COLUMNS = [
    "run",
    "model",
    "variant",
    "status",
    "provider",
    "step_median_ms",
    "speedup_per_step",
    "latency_median_s",
    "build_s",
    "cache_hit",
    "size_mb",
    "psnr_vs_baseline",
    "reason",
]


def relative_table(frame: pd.DataFrame, baseline: str) -> pd.DataFrame:
    frame = frame.copy()
    base = frame[frame["variant"] == baseline].set_index(["run", "model"])["step_median_ms"]
    keys = list(zip(frame["run"], frame["model"], strict=True))
    frame["speedup_per_step"] = [base.get(key, float("nan")) for key in keys] / frame["step_median_ms"]
    present = [column for column in COLUMNS if column in frame.columns]
    return frame[present].sort_values(["run", "model"], kind="stable")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--baseline", default="fp32")
    args = parser.parse_args(argv)
    frame = reports.load(args.paths)
    if frame.empty:
        print(f"error: no saved runs under {', '.join(args.paths)}", file=sys.stderr)
        return 2
    print(relative_table(frame, args.baseline).to_markdown(index=False, floatfmt=".3g"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
