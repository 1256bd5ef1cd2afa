"""Saved runs -> a markdown table of each variant relative to the baseline of the same run.

    python tools/relative_table.py STORAGE [--baseline fp32] [--extra quantised_bytes_ratio,peak_ram_mib]

Per row: step and end-to-end latency medians, the ratio of the baseline's step time to the
variant's (>1: faster), end-to-end latency and size on disk relative to the baseline (<1:
smaller), build time, cache hit, size, PSNR against the baseline image, the execution
provider, and the status/reason of rows that could not be timed; `--extra` appends report
columns. Ratios are taken within one run (same run, model and workload), never across runs.
Reads the runs with `reports.load` (pandas only).
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
    "latency_vs_baseline",
    "build_s",
    "cache_hit",
    "size_mb",
    "size_vs_baseline",
    "psnr_vs_baseline",
    "reason",
]


def _baseline_values(frame: pd.DataFrame, baseline: str, column: str) -> list[float]:
    """The baseline's `column` for each row's (run, model, workload); NaN where the run has none."""
    group = [key for key in ("run", "model", "workload") if key in frame.columns]
    base = frame[(frame["variant"] == baseline) & (frame["status"] == "ok")]
    lookup = base.drop_duplicates(group).set_index(group)[column].to_dict()
    keys = list(frame[group].itertuples(index=False, name=None))
    return [float(lookup.get(key if len(group) > 1 else key[0], float("nan"))) for key in keys]


def relative_table(frame: pd.DataFrame, baseline: str, extra: list[str] | None = None) -> pd.DataFrame:
    frame = frame.copy()
    frame["speedup_per_step"] = _baseline_values(frame, baseline, "step_median_ms") / frame["step_median_ms"]
    frame["latency_vs_baseline"] = frame["latency_median_s"] / _baseline_values(
        frame, baseline, "latency_median_s"
    )
    frame["size_vs_baseline"] = frame["size_mb"] / _baseline_values(frame, baseline, "size_mb")
    wanted = COLUMNS + [column for column in extra or [] if column not in COLUMNS]
    present = [column for column in wanted if column in frame.columns]
    return frame[present].sort_values(["run", "model"], kind="stable")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--baseline", default="fp32")
    parser.add_argument("--extra", default="", help="comma-separated report columns to append")
    args = parser.parse_args(argv)
    frame = reports.load(args.paths)
    if frame.empty:
        print(f"error: no saved runs under {', '.join(args.paths)}", file=sys.stderr)
        return 2
    extra = [column for column in args.extra.split(",") if column]
    unknown = [column for column in extra if column not in frame.columns]
    if unknown:
        known = ", ".join(sorted(frame.columns))
        print(f"error: --extra {','.join(unknown)}: no such column; known: {known}", file=sys.stderr)
        return 2
    print(relative_table(frame, args.baseline, extra).to_markdown(index=False, floatfmt=".3g"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
