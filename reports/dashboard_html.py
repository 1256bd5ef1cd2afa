"""The history page as one self-contained HTML file: inline CSS and SVG, no script, no network.

Every point is an SVG circle whose ``<title>`` (the browser's hover text) names the run's
position, file, commit, machine and date; the runs table at the end says the same for readers
without a pointer. Steps are dashed lines (red: worse, green: better) labelled with the change;
gate verdicts are triangles under the axis (red: failed, green: passed), and a figure the gate
failed has a red ring.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from datetime import UTC, datetime

from reports import changepoints, output
from reports.dashboard_data import Chart, Dashboard, Group, RunInfo, Series, StepMark

WIDTH, HEIGHT = 560, 210
LEFT, RIGHT, TOP, BOTTOM = 62, 14, 18, 30
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
WORSE, BETTER = "#d62728", "#2a9d3a"

STYLE = (
    """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.55em; text-align: left; }
th { background: #f2f2f2; } td.num { text-align: right; }
.meta { color: #555; } .worse { color: #b71c1c; } .better { color: #1b7a2e; }
.charts { display: flex; flex-wrap: wrap; gap: 0.8em 1.6em; }
figcaption { font-size: 0.9em; margin-bottom: 0.2em; }
.legend > span { display: inline-block; margin-right: 0.9em; } .swatch { font-weight: bold; }
svg { background: #fff; border: 1px solid #ddd; }
svg text { font-size: 10px; fill: #444; }
"""
    + f"figure {{ margin: 0; max-width: {WIDTH}px; }}\n"
)  # the legend wraps at the chart's width


def page(dashboard: Dashboard, sources: list[str]) -> str:
    runs = {run.position: run for run in dashboard.runs}
    header = [
        "<h1>diffbench history</h1>",
        f'<p class="meta">{_e(_summary(dashboard))}; from {_e(", ".join(sources))}; generated '
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>",
        f'<p class="meta">Steps: the piecewise-constant fit of each line (log scale) that minimises '
        f"n ln(SSR/n) + {changepoints.BETA:g} k ln n, on lines of at least {changepoints.MIN_POINTS} runs "
        f"(a shorter line has none), each level held for at least {changepoints.MIN_SEGMENT} runs "
        "(docs/history.md). Hover a point for its run, commit and machine; the runs table is at the end.</p>",
        _contents(dashboard),
    ]
    # Each part a section of its own, so that a reader (or a screenshot) can show one alone.
    body = [
        _section("top", header, tag="header"),
        _section("steps", _steps_table(dashboard, runs)),
        _section("verdicts", _verdicts_table(dashboard)),
        *(_section(f"group-{n}", _group(group, runs)) for n, group in enumerate(dashboard.groups, start=1)),
        _section("runs", _runs_table(dashboard.runs)),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>diffbench history</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _section(name: str, parts: list[str], tag: str = "section") -> str:
    return f'<{tag} id="{name}">\n' + "\n".join(parts) + f"\n</{tag}>" if parts else ""


def _summary(dashboard: Dashboard) -> str:
    runs = dashboard.runs
    dates = [run.when for run in runs if run.when]
    span = f" from {min(dates)} to {max(dates)} UTC" if dates else ""
    machines = len({run.machine for run in runs})
    return (
        f"{len(runs)} runs{span} on {machines} machine{'s' if machines != 1 else ''}, "
        f"{len(dashboard.groups)} model x workload x profile groups, "
        f"{len(dashboard.steps)} step{'' if len(dashboard.steps) == 1 else 's'} marked"
    )


def _contents(dashboard: Dashboard) -> str:
    items = []
    for number, group in enumerate(dashboard.groups, start=1):
        steps = sum(len(series.steps) for chart in group.charts for series in chart.series)
        marked = f" ({steps} step{'s' if steps != 1 else ''})" if steps else ""
        items.append(f'<a href="#group-{number}">{_e(group.title)}</a>{_e(marked)}')
    return '<p class="meta">Groups: ' + " · ".join(items) + ' · <a href="#runs">runs</a></p>'


# --- tables --------------------------------------------------------------------------------------


def _steps_table(dashboard: Dashboard, runs: dict[int, RunInfo]) -> list[str]:
    steps = dashboard.steps
    parts = [f"<h2>Steps ({len(steps)})</h2>"]
    if not steps:
        return [*parts, '<p class="meta">No figure changed level beyond its noise.</p>']
    rows = []
    for group, chart, series, step in steps:
        run = runs[step.position]
        rows.append(
            [
                _e(group.title),
                _e(chart.metric.title),
                _e(series.label),
                _e(f"#{run.position} {run.run}"),
                _e(run.commit),
                _num(
                    f"{output.number(step.before)} → {output.number(step.after)} {chart.metric.unit}".strip()
                ),
                _cell(f"{100 * step.change:+.1f}%", "num worse" if step.worse else "num better"),
            ]
        )
    return [
        *parts,
        _table(["group", "figure", "line", "first run at the new level", "commit", "level", "change"], rows),
    ]


def _verdicts_table(dashboard: Dashboard) -> list[str]:
    judged = [(run, verdict) for run in dashboard.runs for verdict in run.verdicts]
    if not judged and not dashboard.unmatched:
        return []
    rows = [
        [
            _e(f"#{run.position} {run.run}"),
            _e(run.commit),
            f'<td class="{"better" if verdict.passed else "worse"}">{_e(verdict.describe())}</td>',
            _e(verdict.report),
        ]
        for run, verdict in judged
    ]
    parts = [
        f"<h2>Gate verdicts ({len(judged)})</h2>",
        _table(["candidate run", "commit", "verdict", "report"], rows),
    ]
    if dashboard.unmatched:
        names = ", ".join(f"{v.report} (candidate {v.candidate})" for v in dashboard.unmatched)
        parts.append(f'<p class="meta">Gate reports of runs not among these: {_e(names)}.</p>')
    return parts


def _runs_table(runs: Iterable[RunInfo]) -> list[str]:
    rows = [
        [
            _num(f"#{run.position}"),
            _e(run.run),
            _e(run.commit),
            _e(run.machine),
            _e(run.when),
            _e("; ".join(verdict.describe() for verdict in run.verdicts)),
            _e(run.source),
        ]
        for run in runs
    ]
    return [
        "<h2>Runs</h2>",
        "<details open><summary>every run, in time order</summary>",
        _table(["#", "run", "commit", "machine", "saved (UTC)", "gate", "file"], rows),
        "</details>",
    ]


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(name)}</th>" for name in header)
    body = "".join(
        "<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _num(text: str) -> str:
    return _cell(text, "num")


def _cell(text: str, css: str) -> str:
    return f'<td class="{css}">{_e(text)}</td>'


# --- a group and its charts ----------------------------------------------------------------------


def _group(group: Group, runs: dict[int, RunInfo]) -> list[str]:
    parts = [f"<h2>{_e(group.title)}</h2>"]
    if not group.charts:
        parts.append('<p class="meta">No row of this group ran: nothing to draw.</p>')
    parts.append('<div class="charts">')
    parts += [_chart(chart, group, runs, first=i == 0) for i, chart in enumerate(group.charts)]
    parts.append("</div>")
    if group.failures:
        rows = [
            [_e(f"#{f.position} {runs[f.position].run}"), _e(f.variant), _e(f.status), _e(f.reason)]
            for f in group.failures
        ]
        parts.append(_table(["run", "variant", "status", "reason"], rows))
    return parts


def _chart(chart: Chart, group: Group, runs: dict[int, RunInfo], first: bool) -> str:
    metric = chart.metric
    unit = f" ({metric.unit})" if metric.unit else ""
    values = [p.value for s in chart.series for p in s.points]
    x = _XScale(group.positions)
    y = _YScale(min(values), max(values))
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{_e(metric.title)}">',
        *_axes(x, y),
    ]
    for run in (runs[p] for p in group.positions):
        if run.verdicts:
            svg.append(_verdict_mark(x(run.position), run))
    if first:
        svg += [
            _failure_mark(x(f.position), f"{f.variant}: {f.status} {f.reason}".strip())
            for f in group.failures
        ]
    legend = []
    for i, series in enumerate(chart.series):
        colour = PALETTE[i % len(PALETTE)]
        svg += _series(series, colour, x, y, metric.unit, runs)
        legend.append(
            f'<span><span class="swatch" style="color:{colour}">━</span> {_e(series.label)} '
            f'<span class="meta">({_e(_about(series))})</span></span>'
        )
    svg.append("</svg>")
    legend_html = f'<div class="legend">{" ".join(legend)}</div>'
    caption = f"<figcaption><b>{_e(metric.title + unit)}</b>{legend_html}</figcaption>"
    return f"<figure>{caption}{''.join(svg)}</figure>"


def _about(series: Series) -> str:
    """The legend's note: how many runs, and the noise the fit left (or why there is no fit)."""
    runs = len(series.points)
    if runs < changepoints.MIN_POINTS:
        return f"{runs} run{'s' if runs != 1 else ''}"  # too few for steps: the header says so
    return f"{runs} runs, noise {100 * math.expm1(series.sigma):.1f}% per run"


def _series(
    series: Series, colour: str, x: _XScale, y: _YScale, unit: str, runs: dict[int, RunInfo]
) -> list[str]:
    coords = [(x(p.position), y(p.value)) for p in series.points]
    parts = []
    if len(coords) > 1:
        line = " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.4"/>')
    for step in series.steps:
        parts.append(_step_mark(step, x(step.position), series.label, unit, runs[step.position]))
    for point, (px, py) in zip(series.points, coords, strict=True):
        run = runs[point.position]
        text = (
            f"#{run.position} {run.run} · commit {run.commit or '?'} · {run.machine} · {run.when}\n"
            f"{series.label}: {output.number(point.value)} {unit}".rstrip()
        )
        if point.regressed:
            text += f"\n{point.regressed}"
            ring = f'fill="none" stroke="{WORSE}" stroke-width="1.6"'
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5.5" {ring}/>')
        parts.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.4" fill="{colour}"><title>{_e(text)}</title></circle>'
        )
    return parts


def _step_mark(step: StepMark, px: float, label: str, unit: str, run: RunInfo) -> str:
    colour = WORSE if step.worse else BETTER
    change = f"{100 * step.change:+.1f}%"
    text = (
        f"step {change} on {label} at #{run.position} {run.run} (commit {run.commit or '?'}): "
        f"{output.number(step.before)} → {output.number(step.after)} {unit}".rstrip()
    )
    return (
        f'<g><title>{_e(text)}</title><line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
        f'stroke="{colour}" stroke-width="1.4" stroke-dasharray="4 3"/>'
        f'<text x="{px + 3:.1f}" y="{TOP + 9}" style="fill:{colour};font-weight:bold">{_e(change)}</text></g>'
    )


def _verdict_mark(px: float, run: RunInfo) -> str:
    passed = all(verdict.passed for verdict in run.verdicts)
    colour = BETTER if passed else WORSE
    base = HEIGHT - BOTTOM
    text = f"#{run.position} {run.run}: " + "; ".join(verdict.describe() for verdict in run.verdicts)
    triangle = f"M{px:.1f},{base - 9} l-5,9 h10 z"
    return f'<path d="{triangle}" fill="{colour}" opacity="0.85"><title>{_e(text)}</title></path>'


def _failure_mark(px: float, text: str) -> str:
    base = HEIGHT - BOTTOM - 4
    return f'<text x="{px - 3:.1f}" y="{base}" style="fill:#888"><title>{_e(text)}</title>×</text>'


# --- scales and axes -----------------------------------------------------------------------------


class _XScale:
    """Run positions to pixels: the group's runs evenly spaced in time order (runs of other groups
    leave no gaps), each labelled with its position among all runs."""

    def __init__(self, positions: tuple[int, ...]) -> None:
        self.positions = positions
        self.index = {position: i for i, position in enumerate(positions)}

    def __call__(self, position: int) -> float:
        span = WIDTH - LEFT - RIGHT - 16
        if len(self.positions) == 1:
            return LEFT + 8 + span / 2
        return LEFT + 8 + span * self.index[position] / (len(self.positions) - 1)

    def ticks(self) -> list[int]:
        if len(self.positions) <= 6:
            return list(self.positions)
        step = (len(self.positions) - 1) / 5
        return [self.positions[round(i * step)] for i in range(6)]


class _YScale:
    """Figures to pixels with a margin above and below the data, and round ticks: linear, or
    logarithmic when the figures span more than LOG_SPAN (lines of one chart may differ by 10x,
    and a step is a ratio, the same height anywhere on a log axis)."""

    LOG_SPAN = 4.0

    def __init__(self, low: float, high: float) -> None:
        # Far from 1 (1e300: a damaged run), only a log axis keeps its margins finite.
        self.log = high / low > self.LOG_SPAN or not 1e-100 < low <= high < 1e100
        if self.log:
            low, high = math.log10(low), math.log10(high)
        pad = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
        self.low, self.high = low - pad, high + pad
        raw = (self.high - self.low) / 4
        magnitude = 10.0 ** math.floor(math.log10(raw))
        multiple = next(m for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
        self.step = multiple * magnitude
        # Digits after the point that the ticks need: 0.25 steps need two where 0.2 steps need one.
        self.decimals = max(0, -math.floor(math.log10(self.step)) + (1 if multiple == 2.5 else 0))

    def __call__(self, value: float) -> float:
        span = HEIGHT - TOP - BOTTOM
        scaled = math.log10(value) if self.log else value
        return TOP + span * (self.high - scaled) / (self.high - self.low)

    def ticks(self) -> list[float]:
        if self.log:  # 1, 2 and 5 times the powers of ten in range; only powers over many decades
            decades = range(max(math.ceil(self.low) - 1, -300), min(math.floor(self.high) + 1, 300) + 1)
            stride = max(1, math.ceil(len(decades) / 6))
            multiples = (1, 2, 5) if len(decades) <= 3 else (1,)
            marks = [m * 10.0**d for d in decades[::stride] for m in multiples]
            return [t for t in marks if self.low <= math.log10(t) <= self.high]
        first = math.ceil(self.low / self.step) * self.step
        return [first + i * self.step for i in range(6) if first + i * self.step <= self.high]

    def label(self, tick: float) -> str:
        """A tick as plain decimals (12,000 or 0.25), never 1.2e+04; tiny or huge figures in e-notation."""
        if tick != 0 and not 1e-4 <= abs(tick) < 1e9:
            return f"{tick:.3g}"
        if self.log:
            return f"{tick:,.{max(0, -math.floor(math.log10(tick)))}f}"
        return f"{tick:,.{self.decimals}f}"


def _axes(x: _XScale, y: _YScale) -> list[str]:
    right, base = WIDTH - RIGHT, HEIGHT - BOTTOM
    parts = [
        f'<rect x="{LEFT}" y="{TOP}" width="{right - LEFT}" height="{base - TOP}" fill="none" stroke="#bbb"/>'
    ]
    for tick in y.ticks():
        py = y(tick)
        parts.append(f'<line x1="{LEFT}" x2="{right}" y1="{py:.1f}" y2="{py:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{py + 3:.1f}" text-anchor="end">{_e(y.label(tick))}</text>')
    for position in x.ticks():
        px = x(position)
        parts.append(f'<text x="{px:.1f}" y="{base + 13}" text-anchor="middle">#{position}</text>')
    scale = ", log scale" if y.log else ""
    parts.append(f'<text x="{right}" y="{HEIGHT - 4}" text-anchor="end">run, in time order{scale}</text>')
    return parts


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
