"""How the history page scales with the number of runs: build time (by stage) and page size.

A synthetic CI line (tests/helpers/history_runs.py: 3 variants, 2% noise per run, +15% on bf16's
latency halfway) of each size is written to a temporary folder, then `reports history` is timed
in this process stage by stage (load the runs, read gate reports, shape and find the steps, render
the page, write it) and as a user runs it (`python -m reports history`, a new interpreter), the
median of --repeat builds. With Chromium installed, the time the browser takes to load the page
and build its DOM (`--dump-dom`, the browser's own start included) is measured too.

    python tools/history_page_scale.py [--runs 20 100 500] [--repeat 3]

Prints a Markdown table (docs/results/2026-12-05-history-page.md).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the run builder and the browser are test helpers

from helpers import browser  # noqa: E402
from helpers.history_runs import Line, write_line  # noqa: E402

from reports import dashboard_data, dashboard_html, output  # noqa: E402
from reports.gate_reports import find_verdicts  # noqa: E402
from reports.loader import load  # noqa: E402


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = work()
    return value, time.perf_counter() - start


def measure(runs: int, repeat: int, folder: Path) -> dict[str, Any]:
    storage = folder / f"runs-{runs}"
    write_line(storage, Line(runs=runs, step_run=runs // 2 + 1))
    roots = [str(storage)]
    stages: dict[str, list[float]] = {
        "load": [],
        "gate reports": [],
        "shape + steps": [],
        "render": [],
        "write": [],
    }
    cli: list[float] = []
    page_path = folder / f"page-{runs}"
    page_path.mkdir()
    for _ in range(repeat):
        frame, seconds = timed(lambda: load(roots, extra=dashboard_data.COMMIT_COLUMNS))
        stages["load"].append(seconds)
        verdicts, seconds = timed(lambda: find_verdicts(roots))
        stages["gate reports"].append(seconds)
        board, seconds = timed(lambda f=frame, v=verdicts: dashboard_data.build(f, v))
        stages["shape + steps"].append(seconds)
        page, seconds = timed(lambda b=board: dashboard_html.page(b, roots))
        stages["render"].append(seconds)
        _, seconds = timed(lambda p=page: output.write_bytes(p.encode("utf-8"), page_path / "history.html"))
        stages["write"].append(seconds)
        command = [sys.executable, "-m", "reports", "history", str(storage), "--output", str(page_path)]
        _, seconds = timed(lambda c=command: subprocess.run(c, cwd=REPO, check=True, capture_output=True))
        cli.append(seconds)
    html = (page_path / "history.html").read_text(encoding="utf-8")
    figures: dict[str, Any] = {
        "runs": runs,
        **{stage: statistics.median(values) for stage, values in stages.items()},
        "python -m reports history": statistics.median(cli),
        "size_kb": len(html.encode("utf-8")) / 1e3,
        "points": html.count("<circle "),
        "steps": len(board.steps),
        "step_at": ", ".join(str(step.position) for *_, step in board.steps),
    }
    if browser.find_chromium() is not None:
        loads = [timed(lambda: browser.load(page_path / "history.html"))[1] for _ in range(repeat)]
        figures["chromium load"] = statistics.median(loads)
    return figures


def _cell(name: str, value: Any) -> str:
    if name == "size_kb":
        return str(round(value))
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="history-scale-") as folder:
        for runs in args.runs:
            rows.append(measure(runs, args.repeat, Path(folder)))
            print(f"measured {runs} runs", file=sys.stderr)
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for figures in rows:
        print("| " + " | ".join(_cell(name, value) for name, value in figures.items()) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
