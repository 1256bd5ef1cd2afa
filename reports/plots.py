"""Plots of saved runs as PNG bytes (matplotlib, Agg, no display and no pyplot state).

- latency vs FID and latency vs peak memory, one figure per profile, each point a variant,
  the Pareto front (no other variant is both faster and lower) drawn and its points ringed;
- per-stage time bars: text encoder, denoising (median step x steps), VAE decode, and the
  rest of the generation (scheduler, pre/post-processing), per variant.

matplotlib is optional (the ``plots`` extra); without it these raise ``ReportError`` saying so.
"""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from reports import frames, output
from reports.errors import ReportError
from reports.loader import load

# Device memory first: on a GPU run VRAM is the figure that decides what fits.
MEMORY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("peak_vram_mib", "peak VRAM allocated (MiB)"),
    ("est_peak_mem_mib", "estimated peak device memory (MiB)"),
    ("peak_ram_mib", "peak RAM, process RSS (MiB)"),
)
STAGES: tuple[tuple[str, str], ...] = (
    ("text_encoder_s", "text encoder"),
    ("denoise_s", "denoising (median step x steps)"),
    ("vae_decode_s", "VAE decode"),
    ("other_s", "rest of the generation"),
)
POINT_KEY = ["machine", "model", "workload", "profile", "variant"]
T = TypeVar("T")


@dataclass(frozen=True)
class Plot:
    name: str  # file stem: latency_vs_fid_cpu
    title: str
    png: bytes


def new_figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportError(
            "plots need matplotlib, which is not installed (pip install 'diffbench[plots]')"
        ) from None
    # A bare Figure renders through Agg on savefig: no GUI backend, no global pyplot state.
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def to_png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def finite(values: pd.Series) -> pd.Series:
    """``values`` as floats with NaN where a figure is not a finite number.

    JSON lets a saved run hold NaN and infinities; matplotlib cannot place them (an infinite
    point stretches the axis to nothing), so a plot leaves them out and the table shows them.
    """
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    return numbers.where(numbers.abs() < float("inf"))


def points(df: pd.DataFrame) -> pd.DataFrame:
    """The rows worth plotting: ran ok, newest run per machine/model/workload/profile/variant."""
    df = frames.normalised(df)
    ok = df[(df["status"] == "ok") & (df["model"] != "")]
    return frames.latest(ok, POINT_KEY)


def pareto_front(x: Sequence[float], y: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats on both x and y (lower is better), by x."""
    order = sorted(range(len(x)), key=lambda i: (x[i], y[i]))
    front: list[int] = []
    best_y = float("inf")
    for i in order:
        if y[i] < best_y:
            front.append(i)
            best_y = y[i]
    return front


def tradeoff_plots(df: pd.DataFrame) -> tuple[list[Plot], list[str]]:
    """Latency vs FID and latency vs peak memory per profile, and notes on what could not be drawn."""
    data = points(df)
    plots: list[Plot] = []
    notes: list[str] = []
    if data.empty:
        return plots, ["no variant ran ok in these runs: nothing to plot"]
    for profile, group in data.groupby("profile", sort=False):
        label = profile or "no profile"
        # Only rows with a finite latency can be placed at all.
        group = group[finite(group["latency_median_s"]).notna()]
        if finite(group["fid"]).notna().any():
            name = f"latency_vs_fid_{label}"
            plot = _drawn(notes, name, _tradeoff, group, "fid", "FID (lower is better)", name, label)
            plots += [plot] if plot else []
        else:
            notes.append(f"latency vs FID for {label}: no FID in these runs")
        measured = [c for c in _memory_columns(group) if c[0] in group and finite(group[c[0]]).notna().any()]
        memory = measured[0] if measured else None
        if memory is None:
            notes.append(f"latency vs peak memory for {label}: no memory figure in these runs")
        else:
            name = f"latency_vs_memory_{label}"
            plot = _drawn(notes, name, _tradeoff, group, memory[0], memory[1], name, label)
            plots += [plot] if plot else []
    return plots, notes


def _memory_columns(group: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """The memory figures in the order to try. Rows that ran on a CPU as themselves (not
    emulating a card) have no device memory but RAM: their measured peak RSS comes before the
    meta-device estimate, which counts weights and activations only (a third of the RSS of a
    tiny-sd run)."""
    on_cpu = group["device"].eq("cpu").all() and not group["emulated"].fillna(False).astype(bool).any()
    if not on_cpu:
        return MEMORY_COLUMNS
    ram = [c for c in MEMORY_COLUMNS if c[0] == "peak_ram_mib"]
    return (*ram, *[c for c in MEMORY_COLUMNS if c[0] != "peak_ram_mib"])


def _drawn(notes: list[str], name: str, draw: Callable[..., T], *args: Any) -> T | None:
    """``draw(*args)``, or None and a note when matplotlib refuses it: one plot must not sink the
    others, nor the HTML page's tables. A missing matplotlib still raises (said once, by the caller)."""
    try:
        return draw(*args)
    except ReportError:
        raise
    except Exception as error:
        notes.append(f"{name}: {output.plot_failure(error)}")
        return None


def _tradeoff(group: pd.DataFrame, column: str, y_label: str, name: str, profile: str) -> Plot:
    figure = new_figure(7.5, 5.0)
    axes = figure.add_subplot()
    series = list(group.groupby(["machine", "model", "workload"], sort=False))
    colours = [f"C{i % 10}" for i in range(len(series))]
    for colour, ((machine, model, workload), rows) in zip(colours, series, strict=True):
        rows = rows[finite(rows["latency_median_s"]).notna() & finite(rows[column]).notna()]
        if rows.empty:
            continue
        x = list(rows["latency_median_s"])
        y = list(rows[column])
        label = f"{model} {workload}" + (f" on {machine}" if len(series) > 1 else "")
        axes.scatter(x, y, color=colour, alpha=0.6, label=label, zorder=2)
        front = pareto_front(x, y)
        axes.step(
            [x[i] for i in front], [y[i] for i in front], where="post", color=colour, linewidth=1.5, zorder=1
        )
        axes.scatter(
            [x[i] for i in front],
            [y[i] for i in front],
            facecolors="none",
            edgecolors=colour,
            s=160,
            zorder=3,
        )
        for k, (xi, yi, variant) in enumerate(zip(x, y, rows["variant"], strict=True)):
            # Alternate above/below so that variants at nearly the same point stay readable.
            offset = (6, 6) if k % 2 == 0 else (6, -14)
            axes.annotate(variant, (xi, yi), textcoords="offset points", xytext=offset, fontsize=9)
    axes.set_xlabel("latency per generation, median (s)")
    axes.set_ylabel(y_label)
    axes.set_title(f"{profile}: latency vs {y_label.split(' (')[0]} (ringed: Pareto front)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    return Plot(_safe(name), axes.get_title(), to_png(figure))


def stage_plot(df: pd.DataFrame) -> tuple[Plot | None, str | None]:
    """Stacked horizontal bars of where a generation's time goes, per variant."""
    data = points(df)
    data = data[finite(data["latency_median_s"]).notna()]
    stage_columns = ["text_encoder_s", "step_median_ms", "vae_decode_s"]
    if data.empty or data[stage_columns].apply(finite).isna().all().all():
        return None, "per-stage times: no stage timings in these runs"
    # A stage time that is not a finite, non-negative figure draws as no bar, not as a broken axis.
    stages = pd.DataFrame(index=data.index)
    stages["text_encoder_s"] = _seconds(data["text_encoder_s"])
    stages["denoise_s"] = _seconds(data["step_median_ms"] * data["steps"].astype("float64") / 1000.0)
    stages["vae_decode_s"] = _seconds(data["vae_decode_s"])
    # Medians of parts don't add up to the median of the whole exactly; the rest is never negative.
    stages["other_s"] = (data["latency_median_s"] - stages.sum(axis=1)).clip(lower=0.0)
    several = {column: data[column].nunique() > 1 for column in ("machine", "model", "workload", "profile")}
    labels = [_bar_label(row, several) for _, row in data.iterrows()]
    figure = new_figure(9.0, 1.6 + 0.45 * len(data))
    axes = figure.add_subplot()
    left = [0.0] * len(data)
    for i, (column, title) in enumerate(STAGES):
        widths = list(stages[column])
        axes.barh(labels, widths, left=left, color=f"C{i}", label=title)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axes.invert_yaxis()  # first variant on top, as in the tables
    axes.set_xlabel("seconds per generation (medians over the timed rounds)")
    axes.set_title("Where the time goes, per stage")
    axes.grid(True, axis="x", alpha=0.3)
    figure.legend(fontsize=8, loc="outside lower center", ncols=len(STAGES))
    return Plot("stages", "Where the time goes, per stage", to_png(figure)), None


def _seconds(values: pd.Series) -> pd.Series:
    return finite(values).clip(lower=0.0).fillna(0.0)


def _bar_label(row: pd.Series, several: dict[str, bool]) -> str:
    parts = [row["variant"]]
    for column in ("profile", "model", "workload", "machine"):
        if several[column]:
            parts.append(str(row[column]))
    return " · ".join(parts)


def all_plots(df: pd.DataFrame) -> tuple[list[Plot], list[str]]:
    plots, notes = tradeoff_plots(df)
    stages, note = _drawn(notes, "stages", stage_plot, df) or (None, None)
    if stages is not None:
        plots.append(stages)
    if note:
        notes.append(note)
    return plots, notes


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


# --- the command ------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "plots",
        parents=parents,
        help="PNG plots: latency vs FID / peak memory with the Pareto front, per-stage times",
        description="Write PNG plots of the runs into a folder (needs matplotlib: diffbench[plots]).",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("."), help="folder for the PNGs (default: .)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    new_figure(1, 1)  # fail on a missing matplotlib before reading runs
    output.output_folder(args.output_dir)
    plots, notes = all_plots(load(args.paths))
    for plot in plots:
        path = args.output_dir / f"{plot.name}.png"
        output.write_bytes(plot.png, path)
        print(f"wrote {path}")
    for note in notes:
        print(f"note: {note}")
    return 0
