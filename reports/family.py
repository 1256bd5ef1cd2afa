"""The `family` report: Stable Diffusion pipelines, VAEs and GAN generators side by side.

    python -m reports family [PATH ...] --output-dir DIR

writes DIR/family.md (one table: model, family, variant, status, latency median and IQR,
peak RAM, peak VRAM, params, MACs per image, PSNR vs the baseline; then the context of every
run: workload, machine, device, date) and DIR/family.png (bars of latency, peak memory and
parameters per model and variant, coloured by family). pandas (+ matplotlib for the plot).

Each model's newest run wins (frames.latest). A row that could not be timed (unsupported,
oom, error) stays in the table with its reason; only ok rows are drawn.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from reports import frames, output, plots
from reports.errors import ReportError
from reports.loader import load

FAMILY_ORDER = ("stable-diffusion", "ddpm", "vae", "gan")
# (column in the frame, header in the table, how its cells are written)
TABLE: tuple[tuple[str, str, str], ...] = (
    ("model", "model", "text"),
    ("family", "family", "text"),
    ("variant", "variant", "text"),
    ("status", "status", "text"),
    ("latency_median_s", "latency median (s)", "number"),
    ("latency_iqr_s", "latency IQR (s)", "number"),
    ("peak_ram_mib", "peak RAM (MiB)", "number"),
    ("peak_vram_mib", "peak VRAM (MiB)", "number"),
    ("params", "params (M)", "millions"),
    ("macs_g", "MACs / image (G)", "number"),
    ("psnr_vs_baseline", "PSNR vs baseline (dB)", "number"),
    ("ssim_vs_baseline", "SSIM vs baseline", "ssim"),
)
BARS: tuple[tuple[str, str], ...] = (
    ("latency_median_s", "latency per generation, median (s)"),
    ("memory", "peak memory (MiB)"),
    ("params", "parameters (millions)"),
)


def family_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the table: newest run per model, workload, profile and variant, models in
    the order first seen, baseline variant first within each model."""
    df = frames.normalised(df)
    df = df[df["model"] != ""]
    if df.empty:
        raise ReportError("no diffbench rows in these runs (no model column): nothing to compare")
    df = frames.latest(df, frames.KEY).copy()
    # Failure rows carry no family (no collector ran for them): the model's other rows know it.
    known = df.dropna(subset=["family"]).drop_duplicates("model").set_index("model")["family"]
    df["family"] = df["family"].fillna(df["model"].map(known).astype(df["family"].dtype))
    models = list(dict.fromkeys(df["model"]))
    df["_model"] = df["model"].map(models.index)
    baselines = df["variant"] == df["baseline_variant"]
    df["_baseline"] = (~baselines).astype(int)
    df["_variant"] = df.groupby("model")["variant"].transform(lambda v: range(len(v)))
    df = df.sort_values(["_model", "_baseline", "_variant"], kind="stable")
    return df.drop(columns=["_model", "_baseline", "_variant"]).reset_index(drop=True)


def _cell(value: Any, how: str) -> str:
    if how == "millions":
        return "" if pd.isna(value) else f"{float(value) / 1e6:.3g}"
    if how == "number":
        return output.number(value)
    if how == "ssim":
        return output.figure("ssim_vs_baseline", value)
    return "" if pd.isna(value) else str(value)


def table_markdown(frame: pd.DataFrame) -> str:
    cells = pd.DataFrame({header: [_cell(v, how) for v in frame[column]] for column, header, how in TABLE})
    right = [header for _, header, how in TABLE if how != "text"]
    text = output.markdown(cells, right=right)
    failed = frame[frame["status"] != "ok"]
    if not failed.empty:
        text += "\nNot timed:\n\n"
        for _, row in failed.iterrows():
            text += f"- {row['model']} `{row['variant']}` ({row['status']}): {row['reason']}\n"
    return text


def context_markdown(frame: pd.DataFrame) -> str:
    """Where and how each model was measured: every figure carries its context."""
    columns = {"model": "model", "workload": "workload", "run": "run", "machine": "machine"}
    columns |= {"device": "device", "device_name": "device name", "datetime": "saved (UTC)"}
    context = frame.drop_duplicates(["model", "workload", "run", "machine"])[list(columns)]
    context = context.rename(columns=columns).copy()
    context["saved (UTC)"] = [
        "" if pd.isna(value) else value.strftime("%Y-%m-%d %H:%M") for value in context["saved (UTC)"]
    ]
    return output.markdown(context.astype(object).where(context.notna(), ""))


def report_markdown(frame: pd.DataFrame) -> str:
    return (
        "# Model families: Stable Diffusion pipeline vs VAE vs GAN\n\n"
        + table_markdown(frame)
        + "\nLatency is per generation of the workload's batch; peak RAM is the process RSS sampled "
        "during the generations; peak VRAM is torch's allocator peak (empty on a CPU run); MACs are "
        "per generated image, all stages. A VAE or a GAN has no text encoder and no denoising loop: "
        "the workload's steps, guidance and prompt do not apply to it.\n\n## Context\n\n"
        + context_markdown(frame)
    )


def family_plot(frame: pd.DataFrame) -> bytes:
    """Three panels of horizontal bars (latency with its IQR, peak memory, params), one bar
    per model and variant that ran ok, coloured by family."""
    latency = plots.finite(frame["latency_median_s"])
    ok = frame[(frame["status"] == "ok") & (latency >= 0)].copy()  # NaN, inf, below 0: not a time
    if ok.empty:
        raise ReportError("no variant ran ok with a latency in these runs: nothing to plot")
    # Device memory where a GPU measured it, else the process's RAM.
    vram, ram = plots.finite(ok["peak_vram_mib"]), plots.finite(ok["peak_ram_mib"])
    ok["memory"] = vram.where(vram.notna(), ram)
    ok["params"] = plots.finite(ok["params"]) / 1e6
    ok["latency_iqr_s"] = plots.finite(ok["latency_iqr_s"]).clip(lower=0.0)
    labels = [f"{m} · {v}" for m, v in zip(ok["model"], ok["variant"], strict=True)]
    families = [f if isinstance(f, str) else "unknown" for f in ok["family"]]
    order = [f for f in FAMILY_ORDER if f in families] + sorted(set(families) - set(FAMILY_ORDER))
    colours = [f"C{order.index(f) % 10}" for f in families]
    figure = plots.new_figure(13.0, 1.8 + 0.42 * len(ok))
    panels = figure.subplots(1, len(BARS), sharey=True)
    for axes, (column, title) in zip(panels, BARS, strict=True):
        values = ok[column].astype("float64").fillna(0.0)
        error = None
        if column == "latency_median_s":
            # A whisker as wide as the IQR, centred on the median; never below zero (log axes).
            half = ok["latency_iqr_s"].astype("float64").fillna(0.0) / 2
            error = [half.clip(upper=values * 0.99), half]
        axes.barh(labels, values, xerr=error, color=colours, capsize=3)
        axes.set_xlabel(title)
        if values.gt(0).all() and values.max() / max(values.min(), 1e-12) > 50:
            axes.set_xscale("log")  # SD's figures would flatten the small models' bars
        axes.grid(True, axis="x", alpha=0.3)
    panels[0].invert_yaxis()  # first model on top, as in the table
    handles = [plots_patch(f"C{i % 10}", family) for i, family in enumerate(order)]
    figure.legend(handles=handles, loc="outside lower center", ncols=len(order), fontsize=9)
    figure.suptitle("Model families: latency (bar: median, whisker: IQR), peak memory, parameters")
    memory_source = "peak VRAM" if ok["peak_vram_mib"].notna().any() else "peak RAM (process RSS)"
    panels[1].set_title(memory_source, fontsize=9)
    return plots.to_png(figure)


def plots_patch(colour: str, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(color=colour, label=label)


# --- the command ------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "family",
        parents=parents,
        help="SD pipeline vs VAE vs GAN: one table (family.md) and a bar chart (family.png)",
        description="Compare model families (time, memory, params, MACs) from saved runs: "
        "writes family.md and family.png into --output-dir (the plot needs matplotlib).",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=Path("."), help="folder for the files (default: .)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    folder = output.output_folder(args.output_dir)
    frame = family_frame(load(args.paths))
    output.write_report(folder, "family", report_markdown(frame), lambda: family_plot(frame))
    return 0
