"""``compare``: variants x (profiles | machines | runs), one pivot per figure, plus latency ratios.

Each cell is the figure of the newest run that has that variant there (so re-running a
machine replaces its cells rather than mixing old and new code). The ratio table divides a
variant's latency by its own baseline's on the same machine (frames.baseline_rows), so
machines of different speeds compare by what a variant buys, not by raw seconds.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from reports import frames, output
from reports.errors import ReportError
from reports.loader import load

BY_CHOICES = ("profile", "machine", "run")
INDEX = ["model", "workload", "variant"]

# (column, title); columns another issue adds are shown when the runs carry them.
METRICS: tuple[tuple[str, str], ...] = (
    ("latency_median_s", "latency, median (s)"),
    ("projected_latency_s", "projected latency (s)"),
    ("peak_vram_mib", "peak VRAM allocated (MiB)"),
    ("est_peak_mem_mib", "estimated peak device memory (MiB)"),
    ("peak_ram_mib", "peak RAM, process RSS (MiB)"),
    ("size_mb", "size on disk (MB)"),
    ("fid", "FID"),
)
RATIO = ("latency_ratio", "latency / baseline's latency on the same machine (below 1 is faster)")


@dataclass
class Section:
    column: str
    title: str
    values: pd.DataFrame  # index INDEX, one column per by-value; NaN where not measured
    status: pd.DataFrame  # same shape: the row's status, for cells that have no figure


@dataclass
class Comparison:
    by: str
    sections: list[Section]
    unmeasured: list[str]  # titles of the figures no row has


def compare(df: pd.DataFrame, by: str) -> Comparison:
    df = frames.normalised(df)
    df = df[df["model"] != ""]  # a plain pytest-benchmark row is no variant of a model
    if df.empty:
        raise ReportError("these runs have no diffbench rows (only plain pytest-benchmark ones) to compare")
    base = frames.baseline_rows(df)
    df["latency_ratio"] = df["latency_median_s"] / base["latency_median_s"]
    cells = frames.latest(df, [*INDEX, by])
    sections: list[Section] = []
    unmeasured: list[str] = []
    for column, title in (*METRICS, RATIO):
        if cells[column].isna().all():
            unmeasured.append(title)
            continue
        sections.append(
            Section(column, title, _pivot(cells, column, by), _pivot(cells, "status", by).astype(object))
        )
    return Comparison(by, sections, unmeasured)


def _pivot(cells: pd.DataFrame, column: str, by: str) -> pd.DataFrame:
    table = cells.pivot(index=INDEX, columns=by, values=column)
    columns = _by_order(cells, by)
    rows = _row_order(cells)
    return table.reindex(index=rows, columns=columns)


def _by_order(cells: pd.DataFrame, by: str) -> list[str]:
    if by == "run":  # chronological, so a row of runs reads as a history
        ordered = cells.sort_values(["datetime", "run"], na_position="first", kind="stable")
        return list(dict.fromkeys(ordered["run"]))
    return list(dict.fromkeys(cells[by]))


def _row_order(cells: pd.DataFrame) -> pd.MultiIndex:
    rows: list[tuple[str, str, str]] = []
    for (model, workload), group in cells.groupby(["model", "workload"], sort=False):
        for variant in frames.order_variants(list(group["variant"]), list(group["baseline_variant"])):
            rows.append((model, workload, variant))
    return pd.MultiIndex.from_tuples(rows, names=INDEX)


# --- rendering ----------------------------------------------------------------------------------


def to_markdown(result: Comparison) -> str:
    parts: list[str] = [f"# Compare by {result.by}\n", f"{cell_note(result.by)}\n"]
    for section in result.sections:
        parts.append(f"\n## {section.title}\n\n")
        parts.append(output.markdown(*display(section)))
    if result.unmeasured:
        parts.append(f"\nNot measured in these runs: {'; '.join(result.unmeasured)}.\n")
    return "".join(parts)


def cell_note(by: str) -> str:
    """What a cell is: with a column per run it is that run's own figure."""
    if by == "run":
        return (
            "Each cell: the variant's figure in the run its column names (the newest such run, where "
            "several machines saved runs under one name)."
        )
    return f"Each cell: the newest run's figure for that variant on that {by}."


def _cell(formatter: Callable[[Any], str], value: Any, state: Any) -> str:
    failed = state if isinstance(state, str) and state not in ("ok", "") else ""
    if pd.isna(value):
        return failed
    return f"{formatter(value)} ({failed})" if failed else formatter(value)


def display(section: Section) -> tuple[pd.DataFrame, list[str]]:
    formatter = output.ratio if section.column == "latency_ratio" else output.number
    shown = pd.DataFrame(index=section.values.index)
    for column in section.values.columns:
        values = section.values[column]
        status = section.status[column]
        # A cell without a figure says why when the row did not run ("oom", "unsupported"); a
        # figure of a row that failed after its rounds (an error in FID) carries its status too.
        shown[_label(column)] = [
            _cell(formatter, value, state) for value, state in zip(values, status, strict=True)
        ]
    shown = shown.reset_index()
    # One model and one workload: say so once in the column, not on every row.
    for level in ("model", "workload"):
        if shown[level].nunique() == 1 and len(shown) > 1:
            shown[level] = [shown[level].iloc[0]] + [""] * (len(shown) - 1)
    return shown, [_label(column) for column in section.values.columns]


def _label(by_value: object) -> str:
    return str(by_value) or "(none)"  # a plain pytest-benchmark run has no profile


def to_csv(result: Comparison) -> str:
    if not result.sections:
        return ""
    wide = pd.concat({section.column: section.values for section in result.sections}, axis=1)
    wide.columns = [f"{metric}[{by_value}]" for metric, by_value in wide.columns]
    return wide.reset_index().to_csv(index=False)


# --- the command ------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "compare",
        parents=parents,
        help="pivot variants x profiles, machines or runs",
        description=(
            "Pivot variants against profiles, machines or runs for latency, memory, size and FID, "
            "with each variant's latency as a ratio of its baseline's on the same machine."
        ),
    )
    parser.add_argument("--by", choices=BY_CHOICES, default="profile", help="columns of the pivot")
    parser.add_argument("--format", choices=("md", "csv"), default="md", help="output format (default: md)")
    parser.add_argument("--output", type=Path, help="write to FILE instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = compare(load(args.paths), args.by)
    output.emit(to_markdown(result) if args.format == "md" else to_csv(result), args.output)
    return 0
