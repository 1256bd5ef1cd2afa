"""``delta``: before/after tables, every variant against the baseline of its model, workload
and machine (frames.baseline_rows), as absolute figures and as a change in percent.

Markdown: one table per machine x model x workload x profile x run, a row per figure, the
baseline's column first and then each variant as ``value (Δ%)``. CSV: the same in long form,
one line per variant and figure, for a spreadsheet or a notebook.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports import frames, output
from reports.loader import load

# (column, title); absent or all-NaN figures are left out of the tables.
METRICS: tuple[tuple[str, str], ...] = (
    ("latency_median_s", "latency, median (s)"),
    ("step_median_ms", "denoising step, median (ms)"),
    ("projected_latency_s", "projected latency (s)"),
    ("peak_vram_mib", "peak VRAM allocated (MiB)"),
    ("est_peak_mem_mib", "estimated peak device memory (MiB)"),
    ("peak_ram_mib", "peak RAM (MiB)"),
    ("size_mb", "size on disk (MB)"),
    ("macs_g", "MACs (G)"),
    ("fid", "FID"),
    ("psnr_vs_baseline", "PSNR vs baseline (dB)"),
    ("ssim_vs_baseline", "SSIM vs baseline"),
)
NOTHING = "No variant besides a baseline in these runs: nothing to compare."
GROUP = ["machine", "model", "workload", "profile", "run"]
LONG_COLUMNS = [
    *GROUP,
    "baseline_variant",
    "baseline_run",
    "variant",
    "status",
    "metric",
    "before",
    "after",
    "delta",
    "delta_pct",
]


def delta(df: pd.DataFrame, latest_only: bool = False) -> pd.DataFrame:
    """One line per (non-baseline variant, figure): before, after, their difference and Δ%."""
    df = frames.first_per_run(frames.normalised(df))  # a variant is a column of its table: once each
    base = frames.baseline_rows(df)
    if latest_only:
        df = frames.latest_runs(df)
        base = base.loc[df.index]
    # A plain pytest-benchmark row (no diffbench fields) has no baseline to be compared with.
    variants = (df["variant"] != df["baseline_variant"]) & (df["model"] != "")
    df, base = df[variants], base[variants]
    metrics = [(column, title) for column, title in METRICS if not frames.missing_columns(df, [column])]
    lines: list[dict[str, object]] = []
    for index, row in df.iterrows():
        before_row = base.loc[index]
        for column, _ in metrics:
            after, before = row[column], before_row[column]
            if pd.isna(after) and pd.isna(before):
                continue
            change = after - before if pd.notna(after) and pd.notna(before) else float("nan")
            pct = 100.0 * change / before if pd.notna(change) and before not in (0, 0.0) else float("nan")
            lines.append(
                {
                    **{key: row[key] for key in GROUP},
                    "baseline_variant": row["baseline_variant"],
                    "baseline_run": before_row["run"],
                    "variant": row["variant"],
                    "status": row["status"],
                    "metric": column,
                    "before": before,
                    "after": after,
                    "delta": change,
                    "delta_pct": pct,
                }
            )
    return pd.DataFrame(lines, columns=LONG_COLUMNS)


@dataclass
class BeforeAfter:
    """One machine x model x workload x profile x run: a row per figure, a column per variant."""

    heading: str
    note: str
    frame: pd.DataFrame  # formatted cells


def before_after(table: pd.DataFrame) -> list[BeforeAfter]:
    titles = dict(METRICS)
    tables: list[BeforeAfter] = []
    for keys, group in table.groupby(GROUP, sort=False):
        machine, model, workload, profile, run = keys
        baseline = group["baseline_variant"].iloc[0]
        baseline_runs = {r for r in group["baseline_run"] if isinstance(r, str) and r}
        note = ""
        if not baseline_runs:
            note = f"No {baseline} baseline on this machine: only the variants' own figures."
        elif baseline_runs != {run}:
            note = f"The {baseline} baseline comes from run {', '.join(sorted(baseline_runs))}."
        before = f"{baseline} (before)"
        variants = list(dict.fromkeys(group["variant"]))
        statuses = group.drop_duplicates("variant").set_index("variant")["status"]
        shown: dict[str, list[str]] = {"figure": ["status"], before: ["ok" if baseline_runs else ""]}
        for variant in variants:
            shown[variant] = [str(statuses[variant])]
        for metric in dict.fromkeys(group["metric"]):
            lines = group[group["metric"] == metric].set_index("variant")
            known = lines["before"].dropna()
            shown["figure"].append(titles[metric])
            shown[before].append(output.figure(metric, known.iloc[0]) if len(known) else "")
            for variant in variants:
                cell, change = "", ""
                if variant in lines.index:
                    cell = output.figure(metric, lines.at[variant, "after"])
                    change = output.percent(lines.at[variant, "delta_pct"])
                shown[variant].append(f"{cell} ({change})" if cell and change else cell)
        heading = f"{model} · {workload} · {profile or 'no profile'} · {machine} · run {run}"
        tables.append(BeforeAfter(heading, note, pd.DataFrame(shown)))
    return tables


def to_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return NOTHING + "\n"
    parts = ["# Before / after: each variant against its baseline on the same machine\n"]
    for item in before_after(table):
        parts.append(f"\n## {item.heading}\n\n")
        if item.note:
            parts.append(f"{item.note}\n\n")
        parts.append(output.markdown(item.frame, right=[c for c in item.frame.columns if c != "figure"]))
    return "".join(parts)


def to_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False)


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "delta",
        parents=parents,
        help="before/after: every variant against its baseline",
        description=(
            "Every variant against the baseline of the same model, workload and machine: latency, "
            "per-step time, VRAM, RAM, size, MACs, FID, PSNR and SSIM, as figures and as a change in percent."
        ),
    )
    parser.add_argument("--latest", action="store_true", help="only each machine's newest run")
    parser.add_argument("--format", choices=("md", "csv"), default="md", help="output format (default: md)")
    parser.add_argument("--output", type=Path, help="write to FILE instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    table = delta(load(args.paths), latest_only=args.latest)
    output.emit(to_markdown(table) if args.format == "md" else to_csv(table), args.output)
    return 0
