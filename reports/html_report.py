"""``html``: one self-contained HTML page (tables, and plots embedded as base64 PNG).

One file to attach to a CI run or mail to a colleague: no scripts, no external styles or
images. Without matplotlib the page still has every table and says the plots are missing.
"""

from __future__ import annotations

import argparse
import base64
import html
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from reports import compare, delta, frames, output, plots, recommend
from reports.errors import ReportError, ReportWarning
from reports.loader import load

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1300px; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; }
.left-1 td:nth-child(-n+1), .left-1 th:nth-child(-n+1) { text-align: left; }
.left-2 td:nth-child(-n+2), .left-2 th:nth-child(-n+2) { text-align: left; }
.left-3 td:nth-child(-n+3), .left-3 th:nth-child(-n+3) { text-align: left; }
.left-all td, .left-all th { text-align: left; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0 1em; }
.note { color: #555; font-style: italic; } .meta { color: #555; }
"""


def report(df: pd.DataFrame, sources: list[str]) -> str:
    body: list[str] = [
        "<h1>diffbench report</h1>",
        f'<p class="meta">Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC '
        f"from {_e(', '.join(sources))}.</p>",
        "<h2>Runs</h2>",
        _table(_runs(df), left=3),
    ]
    body += _plots(df)
    body += _comparison(df)
    body += _deltas(df)
    body += _recommendations(df)
    body += _failures(df)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>diffbench report</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _runs(df: pd.DataFrame) -> pd.DataFrame:
    df = frames.normalised(df)
    runs = df.groupby(["machine", "run"], sort=False).agg(
        saved=("datetime", "first"),
        gpu=("gpu", "first"),
        rows=("variant", "size"),
        ok=("status", lambda s: int((s == "ok").sum())),
    )
    runs = runs.reset_index()
    runs["saved"] = runs["saved"].map(lambda t: f"{t:%Y-%m-%d %H:%M}" if pd.notna(t) else "")
    return runs.astype(object).where(runs.notna(), "")


def _plots(df: pd.DataFrame) -> list[str]:
    parts = ["<h2>Plots</h2>"]
    try:
        made, notes = plots.all_plots(df)
    except ReportError as error:
        import warnings

        warnings.warn(f"the HTML report has no plots: {error}", ReportWarning, stacklevel=2)
        return [*parts, f'<p class="note">No plots: {_e(str(error))}.</p>']
    for plot in made:
        encoded = base64.b64encode(plot.png).decode("ascii")
        parts.append(
            f'<h3>{_e(plot.title)}</h3><img alt="{_e(plot.title)}" src="data:image/png;base64,{encoded}">'
        )
    parts += [_note(note) for note in notes]
    return parts


def _comparison(df: pd.DataFrame) -> list[str]:
    normal = frames.normalised(df)
    normal = normal[normal["model"] != ""]
    if normal.empty:
        return ["<h2>Compare</h2>", '<p class="note">No diffbench rows to compare.</p>']
    # The widest view the runs allow: across profiles, else machines, else runs.
    by = (
        "profile"
        if normal["profile"].nunique() > 1
        else "machine"
        if normal["machine"].nunique() > 1
        else "run"
    )
    result = compare.compare(df, by)
    parts = [f"<h2>Compare by {by}</h2>", f'<p class="note">{_e(compare.cell_note(by))}</p>']
    for section in result.sections:
        shown, _ = compare.display(section)
        parts += [f"<h3>{_e(section.title)}</h3>", _table(shown, left=3)]
    if result.unmeasured:
        parts.append(f'<p class="note">Not measured in these runs: {_e("; ".join(result.unmeasured))}.</p>')
    return parts


def _deltas(df: pd.DataFrame) -> list[str]:
    parts = ["<h2>Before / after (each machine's newest run)</h2>"]
    table = delta.delta(df, latest_only=True)
    if table.empty:
        return [*parts, f'<p class="note">{_e(delta.NOTHING)}</p>']
    for item in delta.before_after(table):
        parts.append(f"<h3>{_e(item.heading)}</h3>")
        if item.note:
            parts.append(f'<p class="note">{_e(item.note)}</p>')
        parts.append(_table(item.frame, left=1))
    return parts


def _recommendations(df: pd.DataFrame) -> list[str]:
    normal = frames.normalised(df)
    profiles = [p for p in dict.fromkeys(normal.loc[normal["model"] != "", "profile"]) if p]
    rows: list[dict[str, str]] = []
    notes: list[str] = []
    for profile in profiles:
        result = recommend.recommend(df, profile)
        notes += result.notes
        for group in result.groups:
            best = group.best
            rows.append(
                {
                    "profile": profile,
                    "machine": group.machine,
                    "model": group.model,
                    "workload": group.workload,
                    "fastest that fits": best.variant if best else "none",
                    "latency (s)": output.number(best.latency_s) if best else "",
                    "latency is": best.basis if best else "",
                    "fits": best.fits if best else "",
                    "runners-up": ", ".join(c.variant for c in group.ranked[1:]),
                    "excluded": "; ".join(f"{v}: {why}" for v, why in group.excluded),
                }
            )
    parts = ["<h2>Recommendation per profile (no quality bound)</h2>"]
    if not rows:
        return [*parts, '<p class="note">No diffbench rows with a profile.</p>']
    parts += [_note(note) for note in dict.fromkeys(notes)]
    return [*parts, _table(pd.DataFrame(rows), left="all")]


def _failures(df: pd.DataFrame) -> list[str]:
    normal = frames.normalised(df)
    failed = normal[normal["status"] != "ok"][
        ["run", "machine", "model", "workload", "variant", "status", "reason"]
    ]
    if failed.empty:
        return ["<h2>Variants that did not run</h2>", '<p class="note">None: every variant ran.</p>']
    return [
        "<h2>Variants that did not run</h2>",
        _table(failed.astype(object).where(failed.notna(), ""), left="all"),
    ]


def _table(frame: pd.DataFrame, left: int | str) -> str:
    """The table; its first ``left`` columns (text) left-aligned, the figures after them right-aligned."""
    return frame.to_html(index=False, na_rep="", escape=True, border=0, classes=f"left-{left}")


def _note(text: str) -> str:
    return f'<p class="note">{_e(text[:1].upper() + text[1:])}.</p>'


def _e(text: str) -> str:
    return html.escape(text, quote=True)


# --- the command ------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "html",
        parents=parents,
        help="a self-contained HTML report: tables and plots",
        description="Write one self-contained HTML page with the tables and the plots (embedded PNG).",
    )
    parser.add_argument(
        "--output", type=Path, default=Path("report.html"), help="the HTML file (default: report.html)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sources = [str(path) for path in args.paths] or [".benchmarks"]
    page = report(load(args.paths), sources)
    output.emit(page, args.output)
    print(f"wrote {args.output}")
    return 0
