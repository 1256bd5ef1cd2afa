"""A pruning sweep from saved runs: each variant relative to the fp32 baseline, as a table and a plot.

    python tools/prune_sweep.py RUN.json [RUN.json ...] --output docs/results/NAME \
        [--steps STEPS.json ...]

writes NAME.md (markdown table) and NAME.png (params, MACs, step latency and peak RAM against
the pruning ratio, each relative to the baseline of its own run). pandas and matplotlib only.
`--steps` adds the interleaved step latencies of `python tools/step_latency.py` (every
variant timed in rotation within one process, so machine noise hits all alike): per model,
each variant's median relative to that file's fp32; the plot then uses them for step latency.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

from reports.loader import load

BASELINE = "fp32"
RELATIVE = {
    "params": "params",
    "macs_g": "MACs / image",
    "unet_macs_g": "UNet MACs / call",
    "step_median_ms": "step latency",
    "peak_ram_mib": "peak RAM",
}
_RATIO = re.compile(r"^prune\(([0-9.]+)\)$")


def sweep_frame(runs: list[Path]) -> pd.DataFrame:
    """One row per (model, workload, variant) with absolute figures and ratios to that run's fp32."""
    frame = load(runs)
    frame = frame[frame["status"] == "ok"].copy()
    rows = []
    for (run, model, workload), group in frame.groupby(["run", "model", "workload"], sort=False):
        base = group[group["variant"] == BASELINE]
        if base.empty:
            continue
        base_row = base.iloc[0]
        for _, row in group.iterrows():
            match = _RATIO.match(row["variant"])
            entry = {
                "run": run,
                "model": model,
                "workload": workload,
                "variant": row["variant"],
                "ratio": float(match.group(1)) if match else (0.0 if row["variant"] == BASELINE else None),
                "psnr_vs_baseline": row["psnr_vs_baseline"],
                "build_s": row["build_s"],
            }
            for column in RELATIVE:
                entry[column] = row[column]
                entry[f"{column}_rel"] = row[column] / base_row[column] if base_row[column] else None
            rows.append(entry)
    return pd.DataFrame(rows)


def interleaved_steps(paths: list[Path]) -> pd.DataFrame:
    """model, variant, step_interleaved_ms and its ratio to the same file's fp32 (NaN without one)."""
    rows = []
    for path in paths:
        result = json.loads(path.read_text())
        variants = result["variants"]
        base = variants.get(BASELINE, {}).get("step_median_ms")
        for name, item in variants.items():
            rows.append(
                {
                    "model": result.get("model", "?"),
                    "variant": name,
                    "step_interleaved_ms": item["step_median_ms"],
                    "step_interleaved_rel": item["step_median_ms"] / base if base else float("nan"),
                }
            )
    # Several files may time the same variant (each with its own fp32): keep the first.
    return pd.DataFrame(rows).drop_duplicates(["model", "variant"])


def with_interleaved(frame: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    return frame.merge(steps, on=["model", "variant"], how="left")


def markdown(frame: pd.DataFrame) -> str:
    lines = [
        "| model | variant | params (M) | MACs/image (G) | UNet MACs/call (G) | step (ms) | peak RAM (MiB) "
        "| params | MACs | UNet MACs | step | RAM | PSNR vs fp32 (dB) | build (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    interleaved = "step_interleaved_ms" in frame.columns
    if interleaved:
        lines[0] += " interleaved step (ms) | interleaved step |"
        lines[1] += " ---: | ---: |"
    for _, r in frame.iterrows():
        rel = [f"{r[f'{c}_rel']:.2f}x" if pd.notna(r[f"{c}_rel"]) else "n/a" for c in RELATIVE]
        psnr = "baseline" if r["variant"] == BASELINE else f"{r['psnr_vs_baseline']:.1f}"
        line = (
            f"| {r['model']} | `{r['variant']}` | {r['params'] / 1e6:.1f} | {r['macs_g']:.1f} | "
            f"{r['unet_macs_g']:.2f} | {r['step_median_ms']:.0f} | {r['peak_ram_mib']:.0f} | "
            + " | ".join(rel)
            + f" | {psnr} | {r['build_s']:.1f} |"
        )
        if interleaved:
            measured = pd.notna(r["step_interleaved_ms"])
            line += (
                f" {r['step_interleaved_ms']:.0f} | {r['step_interleaved_rel']:.2f}x |"
                if measured
                else " n/a | n/a |"
            )
        lines.append(line)
    return "\n".join(lines) + "\n"


def plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 1, figsize=(7, 4.5))
    sweep = frame[frame["ratio"].notna()].sort_values("ratio")
    styles = {"tiny-sd": "--", "sd15": "-"}
    for model, group in sweep.groupby("model", sort=False):
        for column, label in RELATIVE.items():
            if column == "macs_g":
                continue
            values = group[f"{column}_rel"]
            if (
                column == "step_median_ms"
                and "step_interleaved_rel" in group
                and group["step_interleaved_rel"].notna().all()
            ):
                values, label = group["step_interleaved_rel"], "step latency (interleaved)"
            axes.plot(
                group["ratio"],
                values,
                styles.get(model, ":"),
                marker="o",
                label=f"{model}: {label}",
            )
    axes.set_xlabel("pruning ratio (magnitude)")
    axes.set_ylabel("relative to fp32 baseline")
    axes.axhline(1.0, color="grey", linewidth=0.5)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    axes.set_title("Structured pruning on CPU, 256x256: cost relative to the unpruned model")
    figure.tight_layout()
    temporary = path.with_suffix(".tmp.png")
    figure.savefig(temporary, dpi=120)
    temporary.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/prune_sweep.py", description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--output", required=True, type=Path, help="path prefix for .md and .png")
    parser.add_argument("--steps", nargs="*", type=Path, default=[], help="tools/step_latency.py JSON files")
    args = parser.parse_args(argv)
    missing = [str(p) for p in [*args.runs, *args.steps] if not p.exists()]
    if missing:
        print(f"error: no such run file: {', '.join(missing)}", file=sys.stderr)
        return 2
    frame = sweep_frame(args.runs)
    if frame.empty:
        print("error: no ok rows with an fp32 baseline in these runs", file=sys.stderr)
        return 2
    if args.steps:
        try:
            frame = with_interleaved(frame, interleaved_steps(args.steps))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            print(f"error: --steps: not a tools/step_latency.py result ({error})", file=sys.stderr)
            return 2
    table = args.output.with_suffix(".md")
    temporary = table.with_suffix(".tmp")
    temporary.write_text(markdown(frame))
    temporary.replace(table)
    plot(frame, args.output.with_suffix(".png"))
    print(f"wrote {table} and {args.output.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
