"""``tune``: the answer of ``diffbench tune`` read back from its ``tune.json`` (docs/tune-format.md).

The table of every candidate (status, recipe, speed-up and its spread, seconds per generation,
quality, peak memory, the reason), the search's context above it and its conclusion below; with
``--output DIR`` also ``pareto.png``: seconds per generation against quality, point size the peak
memory, colour the status, the winner marked, the quality bound drawn.

``bench/tune/answer.py`` writes the file; this module reads it without importing bench (reports
imports nothing of ours), so the format's name and version are stated in both, and the round-trip
test (tests/bench/test_tune_answer.py) keeps them in step.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from reports import output
from reports.errors import ReportError
from reports.loader import TUNE_FORMAT
from reports.plots import finite, new_figure, to_png

FILE_NAME = "tune.json"
FORMAT = TUNE_FORMAT
VERSION = 1
FIGURES = (
    "speedup",
    "speedup_iqr",
    "paired_rounds",
    "rounds_reached",
    "median_s",
    "psnr_db",
    "fid",
    "fid_increase",
    "peak_ram_mib",
    "peak_vram_mib",
    "estimate_mib",
    "macs_g",
    "projected_step_ms",
    "predicted_speedup",
    "build_s",
)
TEXTS = ("recipe", "status", "reason")
# The plot's colour of each status that can have been timed (the others never have a point).
STATUS_COLOURS = {
    "winner": "tab:red",
    "pareto": "tab:blue",
    "slower": "tab:gray",
    "dropped": "tab:olive",
    "over quality bound": "tab:orange",
    "does not fit": "tab:purple",
    "failed": "black",
}
LABEL_EVERY_POINT_UP_TO = 15  # more points than this: only the front's are labelled


@dataclass(frozen=True)
class TuneResult:
    path: Path
    doc: dict[str, Any]
    candidates: pd.DataFrame  # one row per candidate, in the file's order (the table's)

    @property
    def uses_fid(self) -> bool:
        return self.doc["bound"].get("max_fid_increase") is not None


# --- reading -------------------------------------------------------------------------------------


def tune_file(path: Path) -> Path:
    """The tune.json a user named: the file itself, or the one in the folder given."""
    found = path / FILE_NAME if path.is_dir() else path
    if not found.is_file():
        raise ReportError(
            f"no {FILE_NAME} at {path}: give the folder `diffbench tune` wrote, or its {FILE_NAME}"
        )
    return found


def load(path: Path) -> TuneResult:
    """Read and check a tune.json; a missing or damaged file is a ReportError (one line)."""
    found = tune_file(path)
    try:
        doc = json.loads(found.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"cannot read {found}: {' '.join(str(error).split())}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ReportError(f'{found} is not a `diffbench tune` answer (no "format": "{FORMAT}")')
    if doc.get("version") != VERSION:
        raise ReportError(
            f"{found} has tune format version {doc.get('version')!r}; this reader knows {VERSION}"
        )
    candidates = doc.get("candidates")
    if not isinstance(doc.get("bound"), dict) or not isinstance(candidates, list):
        raise ReportError(f'{found} is damaged: it needs a "bound" object and a "candidates" list')
    if not all(isinstance(c, dict) and isinstance(c.get("recipe"), str) for c in candidates):
        raise ReportError(f'{found} is damaged: every candidate must be an object with a "recipe"')
    return TuneResult(found, doc, candidates_frame(candidates))


def candidates_frame(candidates: list[dict[str, Any]]) -> pd.DataFrame:
    """The candidates as a frame: text columns as strings, figures as floats (NaN where missing;
    the file writes an infinite PSNR, an identical image, as the string "inf")."""
    frame = pd.DataFrame(
        {
            **{name: [str(c.get(name) or "") for c in candidates] for name in TEXTS},
            **{name: [_number(c.get(name)) for c in candidates] for name in FIGURES},
            # True: the peaks are the interleaved set's (every variant resident); files written
            # before the field have none, which reads as not known.
            "peak_is_set": pd.array([_flag(c.get("peak_is_set")) for c in candidates], dtype="boolean"),
        }
    )
    return frame


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None  # absent (older files) or damaged: not known


def _number(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# --- the table -----------------------------------------------------------------------------------


def table(result: TuneResult) -> pd.DataFrame:
    """The candidates' table, formatted for reading."""
    frame = result.candidates
    quality = (
        ("FID increase", frame["fid_increase"].map(lambda v: "" if math.isnan(v) else f"{v:+.2f}"))
        if result.uses_fid
        else ("PSNR (dB)", frame["psnr_db"].map(_psnr))
    )
    return pd.DataFrame(
        {
            "status": frame["status"],
            "recipe": frame["recipe"],
            "speed-up": frame["speedup"].map(output.ratio),
            "IQR": frame["speedup_iqr"].map(lambda v: "" if math.isnan(v) else f"{v:.2f}"),
            "pairs": frame["paired_rounds"].map(lambda v: "" if math.isnan(v) or v == 0 else f"{v:.0f}"),
            "s / generation": frame["median_s"].map(output.number),
            quality[0]: quality[1],
            "peak RAM (MiB)": [
                f"{_mib(ram)} (set)" if pd.notna(shared) and bool(shared) and _mib(ram) else _mib(ram)
                for ram, shared in zip(frame["peak_ram_mib"], frame["peak_is_set"], strict=True)
            ],
            "peak VRAM (MiB)": frame["peak_vram_mib"].map(_mib),
            "est. (MiB)": frame["estimate_mib"].map(_mib),
            "reason": frame["reason"],
        }
    )


def _psnr(value: float) -> str:
    if math.isinf(value) and value > 0:
        return "identical"
    return "" if math.isnan(value) else f"{value:.1f}"


def _mib(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.0f}"


def to_markdown(result: TuneResult) -> str:
    doc = result.doc
    context = [
        f"model {doc.get('model')}, profile {doc.get('profile')}, device {doc.get('device')}",
        f"bound {doc['bound'].get('text', '')}; budget {_budget(doc.get('budget_s'))}; "
        f"stopped: {doc.get('stopped')} ({doc.get('started')} to {doc.get('ended')})",
    ]
    if doc.get("cpu_flags"):
        context.append(f"CPU flags: {doc['cpu_flags']}")
    shown = table(result)
    if result.candidates["peak_is_set"].any():
        context.append(
            'peak RAM "(set)": measured while every variant of its stage was resident together, so '
            "it is the whole set's peak, not the candidate's alone (`pytest bench/ --variants ...` "
            "without --interleave measures one variant's)"
        )
    if (shown["peak VRAM (MiB)"] == "").all():
        shown = shown.drop(columns=["peak VRAM (MiB)"])  # a CPU search: no VRAM to show
    right = ["speed-up", "IQR", "pairs", "s / generation", shown.columns[6], "peak RAM (MiB)"]
    right += [name for name in ("peak VRAM (MiB)", "est. (MiB)") if name in shown]
    return (
        "# diffbench tune: every candidate\n\n"
        + "".join(f"- {line}\n" for line in context)
        + "\n"
        + output.markdown(shown, right=right)
        + f"\n{doc.get('conclusion') or ''}\n"
    )


def to_csv(result: TuneResult) -> str:
    """The candidates with their raw figures (a spreadsheet's input, not formatted text)."""
    return result.candidates.to_csv(index=False)


def _budget(seconds: Any) -> str:
    return "none" if not isinstance(seconds, int | float) else f"{seconds:g} s"


# --- the plot ------------------------------------------------------------------------------------


def pareto_plot(result: TuneResult) -> bytes:
    """Seconds per generation (x) against quality (y, up is better), point size the peak memory,
    colour the status; the winner starred and labelled, the bound and the baseline drawn."""
    frame = result.candidates.copy()
    column = "fid_increase" if result.uses_fid else "psnr_db"
    frame["x"] = finite(frame["median_s"])
    # An identical image has an infinite PSNR (never an infinite FID increase).
    identical = frame[column].map(lambda v: math.isinf(v) and v > 0)
    frame["y"] = finite(frame[column])
    bound = result.doc["bound"].get("max_fid_increase" if result.uses_fid else "min_psnr")
    if identical.any():  # drawn at the top, above every finite figure
        top = max([*frame["y"].dropna(), *([bound] if isinstance(bound, int | float) else [])], default=40.0)
        frame.loc[identical, "y"] = top + 5.0
    points = frame.dropna(subset=["x", "y"])
    if points.empty:
        raise ReportError("no candidate has both a time and a quality figure: nothing to plot")
    figure = new_figure(8.0, 5.5)
    axes = figure.add_subplot()
    sizes = _sizes(points)
    for status, rows in points.groupby("status", sort=False):
        colour = STATUS_COLOURS.get(str(status), "tab:brown")
        marker = "*" if status == "winner" else "o"
        scale = 2.5 if status == "winner" else 1.0
        axes.scatter(
            rows["x"],
            rows["y"],
            s=sizes[rows.index] * scale,
            c=colour,
            marker=marker,
            alpha=0.7,
            edgecolors="black",
            linewidths=0.5,
            label=str(status),
            zorder=3,
        )
    front = points[points["status"].isin(["winner", "pareto"])].sort_values("x")
    axes.plot(front["x"], front["y"], color="tab:blue", linewidth=1, alpha=0.5, zorder=2)
    _labels(axes, points)
    if isinstance(bound, int | float):
        axes.axhline(bound, color="tab:orange", linestyle="--", linewidth=1.2, zorder=1)
        axes.annotate(
            f"bound: {result.doc['bound'].get('text', bound)}",
            # At the left, just below the line: the baseline's line is at the right (the slowest),
            # and the front's points hug the bound from above.
            (0.01, bound),
            xycoords=("axes fraction", "data"),
            textcoords="offset points",
            xytext=(0, -11),
            fontsize=8,
            color="tab:orange",
        )
    baseline = result.doc.get("baseline") or {}
    if isinstance(baseline.get("median_s"), int | float):
        axes.axvline(baseline["median_s"], color="black", linestyle=":", linewidth=1, zorder=1)
        axes.annotate(
            f"{baseline.get('recipe', 'baseline')} (baseline)",
            (baseline["median_s"], 0.98),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
        )
    if result.uses_fid:
        axes.invert_yaxis()  # a smaller FID increase is better: up is better on both kinds of bound
        axes.set_ylabel("FID increase over the baseline (up is better)")
    else:
        axes.set_ylabel("PSNR vs the baseline image (dB)" + ("; top: identical" if identical.any() else ""))
    axes.set_xlabel("seconds per generation, median")
    memory = _memory_column(points)
    size_note = "no memory figure"
    if memory is not None:
        low, high = finite(points[memory]).min(), finite(points[memory]).max()
        spread = f"{low:.0f} MiB" if low == high else f"{low:.0f} to {high:.0f} MiB"
        size_note = f"point size: {MEMORY[memory]}, {spread}"
    doc = result.doc
    axes.set_title(f"{doc.get('model')} on {doc.get('profile')}: time vs quality ({size_note})", fontsize=10)
    axes.grid(True, alpha=0.3)
    legend = axes.legend(fontsize=8, loc="best")
    for handle in legend.legend_handles:  # one marker size in the legend: size is memory, not status
        handle.set_sizes([50.0])
    return to_png(figure)


MEMORY = {"peak_vram_mib": "peak VRAM", "peak_ram_mib": "peak RAM"}


def _memory_column(points: pd.DataFrame) -> str | None:
    """The memory figure most points have; device memory on a tie (it decides what fits a card).
    One figure for every point: sizes from two different figures would not compare."""
    counts = {column: int(finite(points[column]).notna().sum()) for column in MEMORY}
    best = max(counts, key=lambda column: counts[column])  # dicts keep order: VRAM wins a tie
    return best if counts[best] else None


def _sizes(points: pd.DataFrame) -> pd.Series:
    """Marker areas from 40 to 400 by peak memory; 80 where there is no memory figure."""
    column = _memory_column(points)
    if column is None:
        return pd.Series(80.0, index=points.index)
    memory = finite(points[column])
    low, high = memory.min(), memory.max()
    spread = (memory - low) / (high - low) if high > low else memory * 0.0 + 0.5
    return (40.0 + 360.0 * spread).fillna(80.0)


def _labels(axes: Any, points: pd.DataFrame) -> None:
    labelled = points if len(points) <= LABEL_EVERY_POINT_UP_TO else points[points["status"] == "pareto"]
    for k, (_, row) in enumerate(labelled.iterrows()):
        if row["status"] == "winner":
            continue
        offset = (6, 6) if k % 2 == 0 else (6, -12)  # neighbours alternate above and below
        axes.annotate(
            row["recipe"], (row["x"], row["y"]), textcoords="offset points", xytext=offset, fontsize=8
        )
    for _, row in points[points["status"] == "winner"].iterrows():
        text = f"{row['recipe']} ({output.ratio(row['speedup'])})"
        axes.annotate(
            text,
            (row["x"], row["y"]),
            textcoords="offset points",
            xytext=(8, 8),
            fontsize=9,
            fontweight="bold",
            color=STATUS_COLOURS["winner"],
        )


# --- the command ---------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "tune",
        help="the answer of `diffbench tune`: every candidate, the winner, the Pareto plot",
        description=(
            "Every candidate of a `diffbench tune` search with its status and reason, read from its "
            f"{FILE_NAME}; with --output DIR also the table and pareto.png (time vs quality) in DIR."
        ),
    )
    parser.add_argument(
        "path", type=Path, metavar="FOLDER_OR_TUNE_JSON", help=f"the answer's folder or {FILE_NAME}"
    )
    parser.add_argument("--format", choices=("md", "csv"), default="md", help="output format (default: md)")
    parser.add_argument("--output", type=Path, metavar="DIR", help="also write the table and pareto.png here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Every check before the first line of output: a bad option prints its one line and nothing else.
    folder = None if args.output is None else output.output_folder(args.output, "--output")
    result = load(args.path)
    text = to_markdown(result) if args.format == "md" else to_csv(result)
    sys.stdout.write(text)
    if folder is None:
        return 0
    table_file = folder / f"tune.{args.format}"
    output.write_bytes(text.encode("utf-8"), table_file)
    # stdout holds the table (csv may be piped on): the files written are said on stderr.
    print(f"wrote {table_file}", file=sys.stderr)
    try:
        png = pareto_plot(result)
    except Exception as error:  # the table stands whatever stops the drawing
        print(f"note: pareto.png not written: {output.plot_failure(error)}", file=sys.stderr)
        return 0
    image = folder / "pareto.png"
    output.write_bytes(png, image)
    print(f"wrote {image}", file=sys.stderr)
    return 0
