"""``history``: a static page of every figure across runs, with change points and gate verdicts.

``python -m reports history [PATH ...] --output DIR`` (``diffbench report history``) writes
``DIR/history.html``: one self-contained file (no script, no server, nothing fetched) to open
from a CI artefact or a file share. Per model x workload x profile, the latency, step time,
peak VRAM and RAM, energy and FID (and SSIM, images per kWh) of every variant across the runs in
time order, the steps of each line marked (reports/changepoints.py), the gate's verdicts where
gate reports (``gate --output FILE.md``) lie under the PATHs, and each point's run, commit and
machine on hover and in the runs table. docs/history.md says how to read it.

(reports/history.py is something else: the gate's between-run noise.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reports import dashboard_data, dashboard_html, output
from reports.columns import COLUMNS
from reports.errors import ReportError
from reports.gate_reports import find_verdicts
from reports.loader import DEFAULT_PATH, load

PAGE = "history.html"


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "history",
        parents=parents,
        help="a static HTML page of every figure across runs, with change points and gate verdicts",
        description=(
            "Write DIR/history.html: per model, workload and profile, every variant's latency, step time, "
            "peak VRAM/RAM, energy and FID across the runs in time order, with the steps of each line "
            "marked and the gate's verdicts from gate reports (*.md) found under the PATHs. "
            "One self-contained file: no script, nothing fetched."
        ),
    )
    parser.add_argument(
        "--output",
        type=Path,
        required=True,
        metavar="DIR",
        help="the folder for history.html (made if it is not there)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    folder = output.output_folder(args.output, "--output")  # before any file is read
    roots = [str(path) for path in args.paths] or [str(DEFAULT_PATH)]
    # Only the columns the record lacks: a later record with its own commit column wins.
    extra = tuple(column for column in dashboard_data.COMMIT_COLUMNS if column.name not in COLUMNS)
    frame = load(roots, extra=extra)
    verdicts = find_verdicts(roots)
    board = dashboard_data.build(frame, verdicts)
    if not board.runs:
        raise ReportError(f"no rows in the runs under {', '.join(roots)}: nothing to draw")
    page = dashboard_html.page(board, roots)
    target = folder / PAGE
    output.write_bytes(page.encode("utf-8"), target)
    steps = len(board.steps)
    counts = (
        f"{len(board.runs)} runs, {len(board.groups)} groups, {steps} step{'' if steps == 1 else 's'} marked"
    )
    print(f"wrote {target} ({counts})")
    for group, chart, series, step in board.steps:
        run = next(r for r in board.runs if r.position == step.position)
        print(
            f"step {100 * step.change:+.1f}% {chart.metric.column} {series.label} ({group.title}) "
            f"at #{run.position} {run.run}{' ' + run.commit if run.commit else ''}"
        )
    return 0
