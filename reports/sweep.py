"""``sweep``: the table and plot of a workload sweep (``pytest bench/ --sweep steps=10,20,50 ...``).

The swept axes are the workload columns whose values differ between the rows; the table has
one row per variant x workload with those axes first, and the plot one panel per axis: x the
axis' values, y the median latency, a line per variant. In a cartesian sweep a panel's point
is the median over the other axes' values (the panel says so), so each panel reads as "what
this axis does".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from reports import frames, output
from reports.errors import ReportError
from reports.loader import load
from reports.plots import finite, new_figure, to_png

AXES = ("steps", "guidance", "scheduler", "resolution", "batch", "seed", "prompt")
FIGURES = (
    ("latency_median_s", "latency (s)"),
    ("latency_iqr_s", "IQR (s)"),
    ("step_median_ms", "step (ms)"),
    ("peak_ram_mib", "peak RAM (MiB)"),
    ("peak_vram_mib", "peak VRAM (MiB)"),
    ("psnr_vs_baseline", "PSNR vs baseline (dB)"),
    ("ssim_vs_baseline", "SSIM vs baseline"),
)


def swept_axes(df: pd.DataFrame) -> list[str]:
    """The workload axes whose values differ between the rows, in AXES order."""
    return [axis for axis in AXES if axis in df.columns and df[axis].dropna().nunique() > 1]


def _with_resolution(df: pd.DataFrame) -> pd.DataFrame:
    """Width and height as one axis, `WxH`, as the suite's --sweep resolution=... gives them."""
    known = df["width"].notna() & df["height"].notna()
    text = df["width"].astype("Int64").astype(str) + "x" + df["height"].astype("Int64").astype(str)
    return df.assign(resolution=text.where(known), _pixels=(df["width"] * df["height"]).where(known))


def sweep_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per model x variant x workload (the latest run's), the swept axes first."""
    df = frames.latest(frames.normalised(df), ["machine", "model", "variant", "workload", "profile"])
    df = _with_resolution(df)
    axes = swept_axes(df)
    if not axes:
        raise ReportError(
            "these runs sweep no workload axis (every row has the same steps, guidance, scheduler, "
            "size, batch, seed and prompt); run the suite with --sweep AXIS=V1,V2,..."
        )
    order = {name: index for index, name in enumerate(frames.order_variants(list(df["variant"].unique())))}
    sort = ["_pixels" if axis == "resolution" else axis for axis in axes]
    # The run's own order (the sweep's: first values first) breaks ties between base values.
    df = df.assign(_order=df["variant"].map(order), _run_order=range(len(df)))
    df = df.sort_values(["model", "_order", *sort])
    columns = ["model", "variant", *axes, "status", *[name for name, _ in FIGURES if df[name].notna().any()]]
    return df[[*columns, "_pixels", "_run_order"]].reset_index(drop=True)


def to_markdown(table: pd.DataFrame) -> str:
    cells = table.drop(columns=["_pixels", "_run_order"])
    numeric = [name for name, _ in FIGURES if name in cells.columns]
    for name in numeric:
        cells[name] = cells[name].map(lambda value, column=name: output.figure(column, value))
    if "prompt" in cells.columns:
        cells["prompt"] = cells["prompt"].map(
            lambda text: text if len(str(text)) <= 40 else f"{text[:37]}..."
        )
    headers = {name: label for name, label in FIGURES}
    return output.markdown(cells.rename(columns=headers), right=[headers[name] for name in numeric])


def base_values(table: pd.DataFrame, axes: list[str]) -> dict[str, object]:
    """Each axis' most frequent value: the base workload of a one-axis-at-a-time sweep (the
    value every other axis' workloads share), and a fixed slice through a cartesian one."""
    base: dict[str, object] = {}
    for axis in axes:
        counts = table[axis].value_counts()
        tied = counts[counts == counts.max()].index
        first_seen = table[table[axis].isin(tied)].sort_values("_run_order")[axis]
        base[axis] = first_seen.iloc[0]
    return base


def sweep_plot(table: pd.DataFrame) -> bytes:
    """One panel per swept axis: median latency against the axis' values, a line per variant,
    the other axes held at their base values (so a panel shows that axis alone)."""
    axes = swept_axes(table)
    if "latency_median_s" not in table.columns:  # the table leaves out figures no row has
        raise ReportError("no row of the sweep has a latency: nothing to plot")
    ok = table[(table["status"] == "ok") & finite(table["latency_median_s"]).notna()]
    if ok.empty:
        raise ReportError("no row of the sweep ran (status ok) with a finite latency: nothing to plot")
    base = base_values(ok, axes)
    figure = new_figure(4.2 * len(axes), 3.6)
    panels = figure.subplots(1, len(axes), squeeze=False)[0]
    for panel, axis in zip(panels, axes, strict=True):
        others = {other: base[other] for other in axes if other != axis}
        held = ok
        for other, value in others.items():
            held = held[held[other] == value]
        order = "_pixels" if axis == "resolution" else axis
        for (model, variant), group in held.groupby(["model", "variant"], sort=False):
            points = group.sort_values(order).groupby(axis, sort=False)["latency_median_s"].median()
            label = variant if ok["model"].nunique() == 1 else f"{model} {variant}"
            categorical = not pd.api.types.is_numeric_dtype(points.index)
            x = [str(value) for value in points.index] if categorical else list(points.index)
            panel.plot(x, points.to_numpy(), marker="o", label=label)
        panel.set_xlabel(axis)
        panel.set_ylabel("median latency (s)")
        held_text = ", ".join(f"{k}={_short(v)}" for k, v in others.items())
        panel.set_title(axis + (f"\n({held_text})" if held_text else ""), fontsize=8)
        panel.grid(alpha=0.3)
    panels[0].legend(fontsize=8)
    return to_png(figure)


def _short(value: object) -> str:
    text = output.number(value) if isinstance(value, float) else str(value)
    return text if len(text) <= 16 else f"{text[:13]}..."


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "sweep",
        parents=parents,
        help="table and plot of a workload sweep (pytest bench/ --sweep ...)",
        description="The swept workload axes against latency, per-step time, memory and PSNR, per variant.",
    )
    parser.add_argument(
        "--output-dir", type=Path, help="write sweep.md and sweep.png there (default: print the table)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    folder = None if args.output_dir is None else output.output_folder(args.output_dir)  # before reading
    table = sweep_table(load(args.paths or None))
    text = f"# Sweep\n\nSwept axes: {', '.join(swept_axes(table))}.\n\n{to_markdown(table)}"
    if folder is None:
        output.emit(text, None)
        return 0
    output.write_report(
        folder, "sweep", text + "\n![latency per swept axis](sweep.png)\n", lambda: sweep_plot(table)
    )
    return 0
