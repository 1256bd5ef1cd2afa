"""``python -m reports checkpoints``: FID, KID and IS per fine-tuning checkpoint, against training step.

    python -m reports checkpoints [PATH ...] --output-dir DIR [--variant fp32]

Reads runs whose rows carry ``checkpoint`` (the suite run with ``--unet-checkpoint``,
``--lora`` or ``--textual-inversion`` and ``--quality fid``; ``python -m bench.studies
checkpoints`` makes them) and writes ``DIR/checkpoints.md`` (checkpoint, step, fid, kid, is,
fid_n, latency, and the best checkpoint by FID) and ``DIR/checkpoints.png`` (FID on the left
axis and IS, or KID where no row has an IS, on the right, against step).

A checkpoint's step is the last run of digits in its name (``step-000300`` -> 300); when a
name has none, or two names give the same step, every checkpoint gets its order instead
(1, 2, ... by the time its run was saved) and the table says so.
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports import frames, output
from reports.errors import ReportError
from reports.loader import load
from reports.plots import finite, new_figure, to_png

TABLE_NAME = "checkpoints.md"
PLOT_NAME = "checkpoints.png"
# Figures that must be the same for FIDs to be comparable across checkpoints.
CONTEXT = ("model", "workload", "fid_ref", "fid_dims", "machine")
TABLE_COLUMNS = ("checkpoint", "step", "fid", "kid", "is", "fid_n", "latency_s")


@dataclass(frozen=True)
class CheckpointTable:
    rows: pd.DataFrame  # one per checkpoint, by step
    step_source: str  # "name" or "order"
    context: dict[str, str]
    notes: list[str]

    @property
    def best(self) -> pd.Series | None:
        """The checkpoint with the lowest FID (then the lowest KID), or None without any FID."""
        scored = self.rows[finite(self.rows["fid"]).notna()]  # an infinite FID is no score
        if scored.empty:
            return None
        return scored.sort_values(["fid", "kid"], kind="stable", na_position="last").iloc[0]


def parse_step(name: str) -> int | None:
    """The last run of digits in a checkpoint's name, or None."""
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else None


def checkpoint_table(df: pd.DataFrame, variant: str = frames.DEFAULT_BASELINE) -> CheckpointTable:
    """One row per checkpoint from the loaded runs (newest run per checkpoint)."""
    df = frames.normalised(df)
    ok = df[(df["status"] == "ok") & df["checkpoint"].notna()]
    if ok.empty:
        raise ReportError(
            "no row of these runs names a checkpoint; run `python -m bench.studies checkpoints DIR` "
            "(or the suite with --unet-checkpoint/--lora and --quality fid)"
        )
    chosen = ok[ok["variant"] == variant]
    if chosen.empty:
        found = ", ".join(sorted(ok["variant"].unique()))
        raise ReportError(f"--variant {variant!r}: no checkpoint row has it; these runs have {found}")
    chosen = frames.latest(chosen, ["checkpoint", *CONTEXT])
    mixed = {c: sorted(chosen[c].dropna().astype(str).unique()) for c in CONTEXT}
    mixed = {c: values for c, values in mixed.items() if len(values) > 1}
    if mixed:
        what = "; ".join(f"{c}: {', '.join(values)}" for c, values in mixed.items())
        raise ReportError(f"these runs mix {what}: FIDs are comparable within one study, give its runs only")
    chosen = chosen.sort_values(["datetime", "run"], kind="stable", na_position="last")
    names = list(chosen["checkpoint"])
    steps = [parse_step(name) for name in names]
    step_source = "name"
    if None in steps or len(set(steps)) != len(steps):
        steps = list(range(1, len(names) + 1))
        step_source = "order"
    rows = pd.DataFrame(
        {
            "checkpoint": names,
            "step": steps,
            "fid": list(chosen["fid"]),
            "kid": list(chosen["kid"]),
            "is": list(chosen["is"]),
            "fid_n": list(chosen["fid_n"]),
            "latency_s": list(chosen["latency_median_s"]),
        }
    ).sort_values("step", kind="stable", ignore_index=True)
    first = chosen.iloc[0]
    context = {c: _text(first[c]) for c in ("model", "workload", "fid_ref", "fid_dims", "machine")}
    context["variant"] = variant
    notes = []
    if rows["is"].isna().all():
        note = next((n for n in chosen["quality_note"].dropna() if "IS" in n), None)
        reason = _is_reason(note) if note else "IS unavailable"
        notes.append(f"{reason} (`is` is null in every row): the plot's right axis is KID instead.")
    if rows["fid"].isna().all():
        notes.append("no row has a FID: run the suite with --quality fid")
    return CheckpointTable(rows, step_source, context, notes)


def _is_reason(note: str) -> str:
    """The IS sentence of a row's quality_note."""
    parts = [part.strip() for part in re.split(r";|\.\s", note) if "IS" in part]
    return parts[0].rstrip(".") if parts else note


def _text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render_markdown(table: CheckpointTable) -> str:
    ctx = table.context
    lines = [
        "# Checkpoints: FID and KID against training step",
        "",
        f"Model `{ctx['model']}`, variant `{ctx['variant']}`, workload `{ctx['workload']}`, "
        f"machine `{ctx['machine']}`; FID/KID against `{ctx['fid_ref']}` with {ctx['fid_dims']}-d "
        "Inception features (lower is better).",
        "",
    ]
    cells = table.rows.copy()
    for column in ("fid", "kid", "is", "latency_s"):
        cells[column] = [output.number(v) for v in cells[column]]
    cells["fid_n"] = [output.number(v) for v in cells["fid_n"]]
    cells["step"] = [str(v) for v in cells["step"]]
    lines.append(output.markdown(cells[list(TABLE_COLUMNS)], right=TABLE_COLUMNS[1:]).rstrip("\n"))
    lines.append("")
    if table.step_source == "order":
        lines.append(
            "Steps are the checkpoints' order (their names do not all carry a distinct step number)."
        )
        lines.append("")
    best = table.best
    if best is not None:
        lines.append(
            f"**Best checkpoint by FID: `{best['checkpoint']}`** (step {best['step']}, "
            f"FID {output.number(best['fid'])}, KID {output.number(best['kid'])})."
        )
        lines.append("")
    lines.extend(f"Note: {note}" for note in table.notes)
    return "\n".join(lines).rstrip("\n") + "\n"


def render_plot(table: CheckpointTable) -> bytes:
    """FID (left) and IS or KID (right) against step, the best checkpoint ringed."""
    rows = table.rows.copy()
    for column in ("fid", "kid", "is"):
        rows[column] = finite(rows[column])  # NaN or infinite: not placed (the table shows it)
    figure = new_figure(7.5, 4.8)
    left = figure.add_subplot()
    right = left.twinx()
    has_is = rows["is"].notna().any()
    other, other_label = ("is", "IS (higher is better)") if has_is else ("kid", "KID (lower is better)")
    fid = rows[rows["fid"].notna()]
    left.plot(fid["step"], fid["fid"], "o-", color="C0", label="FID")
    second = rows[rows[other].notna()]
    right.plot(second["step"], second[other], "s--", color="C1", label=other.upper())
    best = table.best
    if best is not None:
        left.scatter([best["step"]], [best["fid"]], s=220, facecolors="none", edgecolors="C0", zorder=3)
        left.annotate(
            f"best: {best['checkpoint']}",
            (best["step"], best["fid"]),
            textcoords="offset points",
            xytext=(8, 8),
            fontsize=9,
        )
    step_label = "training step" if table.step_source == "name" else "checkpoint (order)"
    left.set_xlabel(step_label)
    left.set_ylabel("FID (lower is better)", color="C0")
    right.set_ylabel(other_label, color="C1")
    ctx = table.context
    title = (
        f"{ctx['model']}: FID and {other.upper()} per checkpoint (vs {ctx['fid_ref']}, {ctx['fid_dims']}-d)"
    )
    if not has_is:
        title += "\nIS not available: the FID Inception file has no classifier logits"
    left.set_title(title, fontsize=10)
    left.grid(True, alpha=0.3)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles=handles, fontsize=8, loc="best")
    return to_png(figure)


# --- the command ------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "checkpoints",
        parents=parents,
        help="FID/KID/IS per fine-tuning checkpoint vs training step: a table and a dual-axis plot",
        description=f"Write {TABLE_NAME} and {PLOT_NAME} for the checkpoints in the runs.",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=Path("."), help="folder for the files (default: .)"
    )
    parser.add_argument(
        "--variant",
        default=frames.DEFAULT_BASELINE,
        help="the variant to compare checkpoints on (default fp32)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    folder = output.output_folder(args.output_dir)
    table = checkpoint_table(load(args.paths), args.variant)
    text = render_markdown(table)
    print(text, end="")
    output.write_report(folder, Path(TABLE_NAME).stem, text, lambda: render_plot(table))
    return 0
