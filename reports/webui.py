"""The web UI study's table and plot: latency and throughput of a web UI against concurrency.

Rows are the saved runs' `webui(concurrency=N)` variants (written by `python -m bench.studies
webui`, see bench/webui/runs.py). The standard columns come from `reports.load`; the load
test's own figures (concurrency, requests, errors, throughput, device memory), which the
general report has no columns for, are read from the same rows' `extra_info`.

``python -m reports webui [PATH ...] --output-dir DIR`` writes DIR/webui.md and DIR/webui.png.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from reports import output
from reports.errors import ReportError
from reports.loader import load
from reports.plots import finite, new_figure, to_png

VARIANT = re.compile(r"webui\(concurrency=(\d+)\)")
# One line in the plot per run file (its path: two folders may both hold a 0001_webui), model, workload.
SERIES = ["source", "model", "workload"]
# Load-test figures read from extra_info: (key, column, pandas dtype).
EXTRAS: tuple[tuple[str, str, str], ...] = (
    ("url", "url", "str"),
    ("requests", "requests", "Int64"),
    ("completed", "completed", "Int64"),
    ("errors", "errors", "Int64"),
    ("throughput_ips", "throughput_ips", "float64"),
    ("wall_s", "wall_s", "float64"),
    ("peak_vram_used_mib", "peak_vram_used_mib", "float64"),
    ("vram_note", "vram_note", "str"),
    ("loadavg_1m", "loadavg_1m", "float64"),
)


def webui_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The web UI rows of a report frame with `concurrency` and the load-test columns added."""
    concurrency = df["variant"].str.extract(VARIANT, expand=False)
    rows = df[concurrency.notna()].copy()
    if rows.empty:
        raise ReportError(
            "no web UI rows (variant webui(concurrency=N)) in these runs; "
            "run `python -m bench.studies webui` first"
        )
    rows["concurrency"] = concurrency[rows.index].astype(int)
    docs: dict[str, dict[str, Any]] = {}
    extras = [
        _extra_info(docs, source, name) for source, name in zip(rows["source"], rows["name"], strict=True)
    ]
    for key, column, dtype in EXTRAS:
        values = [extra.get("extra_info", {}).get(key) for extra in extras]
        rows[column] = pd.Series(values, index=rows.index, dtype=dtype)
    # The quartiles themselves (not only their distance): the latency spread is rarely symmetric.
    for quartile in ("q1", "q3"):
        values = [extra.get("stats", {}).get(quartile) for extra in extras]
        rows[f"latency_{quartile}_s"] = pd.Series(values, index=rows.index, dtype="float64")
    return rows.sort_values([*SERIES, "concurrency"], kind="stable").reset_index(drop=True)


def _extra_info(docs: dict[str, dict[str, Any]], source: str, name: str) -> dict[str, dict[str, Any]]:
    """`extra_info` and `stats` of row `name` in run file `source` (empty dicts when unreadable).

    `docs` caches the parsed files for one call, so a run with many rows is read once.
    """
    if source not in docs:
        try:
            parsed = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            parsed = {}  # a remote run (fsspec URL): the standard columns still show
        docs[source] = parsed if isinstance(parsed, dict) else {}
    doc = docs[source]
    section = doc.get("diffbench") if isinstance(doc.get("diffbench"), dict) else {}
    for entry in [*(doc.get("benchmarks") or []), *(section.get("rows") or [])]:
        if isinstance(entry, dict) and entry.get("name") == name:
            return {
                key: entry[key] if isinstance(entry.get(key), dict) else {} for key in ("extra_info", "stats")
            }
    return {"extra_info": {}, "stats": {}}


def _run_names(rows: pd.DataFrame) -> dict[str, str]:
    """A short label per run file: its stem, prefixed by its folder when two files share a stem."""
    stems = {source: Path(source).stem for source in rows["source"].unique()}
    names = {}
    for source, stem in stems.items():
        folder = Path(source).parent
        folder = folder.parent if folder.name == "runs" else folder  # the study's DIR/runs/ layout
        names[source] = f"{folder.name}/{stem}" if list(stems.values()).count(stem) > 1 else stem
    return names


def table(rows: pd.DataFrame) -> str:
    """Markdown: one line per run x concurrency, failures with their reason."""
    cells = pd.DataFrame(
        {
            "run": rows["source"].map(_run_names(rows)),
            "model": rows["model"],
            "workload": rows["workload"],
            "concurrency": rows["concurrency"].map(output.number),
            "requests": rows["requests"].map(output.number),
            "errors": rows["errors"].map(output.number),
            "status": rows["status"],
            "latency median (s)": rows["latency_median_s"].map(output.number),
            "latency IQR (s)": rows["latency_iqr_s"].map(output.number),
            "throughput (img/s)": rows["throughput_ips"].map(output.number),
            "peak VRAM used (MiB)": rows["peak_vram_used_mib"].map(output.number),
            "load avg": rows["loadavg_1m"].map(lambda value: output.number(value, 2)),
            "reason": rows["reason"].fillna(""),
        }
    )
    right = [
        "concurrency",
        "requests",
        "errors",
        "latency median (s)",
        "latency IQR (s)",
        "throughput (img/s)",
        "peak VRAM used (MiB)",
        "load avg",
    ]
    notes = sorted({note for note in rows["vram_note"].dropna() if note})
    text = output.markdown(cells, right)
    return text + "".join(f"\nVRAM: {note}\n" for note in notes)


def plot(rows: pd.DataFrame) -> bytes:
    """Two panels against concurrency: median latency (Q1 to Q3 as error bars) and throughput."""
    figure = new_figure(10, 4)
    latency_axes, throughput_axes = figure.subplots(1, 2)
    names = _run_names(rows)
    rows = rows.copy()
    # NaN or infinite figures cannot be placed: those points are left out (the table has them).
    for column in ("latency_median_s", "latency_q1_s", "latency_q3_s", "throughput_ips"):
        rows[column] = finite(rows[column])
    for (source, model, workload), series in rows.groupby(SERIES, sort=False):
        label = f"{names[source]} {model} {workload}"
        ok = series[series["latency_median_s"].notna()]
        if not ok.empty:
            latency_axes.errorbar(
                ok["concurrency"],
                ok["latency_median_s"],
                # Quartiles on the wrong side of the median (a damaged run) draw no whisker.
                yerr=[
                    (ok["latency_median_s"] - ok["latency_q1_s"]).clip(lower=0.0).fillna(0.0),
                    (ok["latency_q3_s"] - ok["latency_median_s"]).clip(lower=0.0).fillna(0.0),
                ],
                marker="o",
                capsize=3,
                label=label,
            )
        measured = series[series["throughput_ips"].notna()]
        if not measured.empty:
            throughput_axes.plot(measured["concurrency"], measured["throughput_ips"], marker="o", label=label)
        failed = series[series["latency_median_s"].isna()]
        for level in failed["concurrency"]:
            latency_axes.axvline(level, color="red", alpha=0.3, linestyle="--")
    latency_axes.set(
        xlabel="concurrent requests", ylabel="latency per request, median (s); bars: Q1-Q3", title="latency"
    )
    throughput_axes.set(
        xlabel="concurrent requests", ylabel="images / s (over wall time)", title="throughput"
    )
    levels = sorted(rows["concurrency"].unique())
    for axes in (latency_axes, throughput_axes):
        axes.set_xticks(levels)
        axes.grid(alpha=0.3)
        axes.set_ylim(bottom=0)  # from zero: a small wobble must not look like a trend
        if axes.has_data() and axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=7)
    if not rows["latency_median_s"].notna().any():
        latency_axes.text(
            0.5,
            0.5,
            "no request succeeded\n(see the table's reason)",
            ha="center",
            va="center",
            transform=latency_axes.transAxes,
            color="red",
        )
    return to_png(figure)


# --- the command ------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "webui",
        parents=parents,
        help="web UI load test: latency and throughput vs concurrency (webui.md, webui.png)",
        description="Table and plot of the web UI rows (python -m bench.studies webui) under PATH.",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=Path("."), help="folder for webui.md and webui.png"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    folder = output.output_folder(args.output_dir)
    rows = webui_rows(load(args.paths))
    text = table(rows)
    print(text, end="")
    output.write_report(folder, "webui", text, lambda: plot(rows))
    return 0
