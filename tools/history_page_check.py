"""The history page of issue 20 (item 1), as its "done when" asks: docs/results' saved runs plus a
synthetic line of 20 runs with a +15% step at run 12 on one variant (bf16's latency), the gate
run on runs 12 and 13 (its reports beside the runs); which steps the page marks, and screenshots
in a real headless Chromium.

    python tools/history_page_check.py --output DIR [--screenshots DIR]

The synthetic runs are written with the tests' own builder (tests/helpers/history_runs.py), so
the page here is the one tests/reports/test_history_page.py checks. Exit 0 when the page marks
exactly the synthetic step at run 12 and nothing else, 1 otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the run builder and the browser are test helpers

from helpers import browser  # noqa: E402
from helpers.history_runs import Line, gate_runs, write_line  # noqa: E402
from helpers.reports_runs import run_cli  # noqa: E402

# The screenshots: (file, the sections shown, window height); the width is the same for all. A
# headless screenshot shows the top of the page (a #fragment is not scrolled to), so the sections
# not shown are hidden by a style added to a copy of the page; nothing else of the page changes.
SHOTS = (
    ("top.png", None, 1000),
    ("synthetic-line.png", ("top", "steps", "verdicts", "group-{synthetic}"), 1150),
    ("runs.png", ("runs",), 800),
)
WIDTH = 1240


def build(work: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """The synthetic line and its gate reports under ``work``; the page of it and docs/results."""
    paths = write_line(work, Line())
    gate_runs(run_cli, work, paths, (12, 13))  # the step's run fails the gate; the next one passes
    return run_cli("history", "docs/results", work, "--output", output.resolve())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="folder for history.html")
    parser.add_argument("--screenshots", type=Path, help="folder for the PNGs (needs chromium)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="history-line-") as work:
        result = build(Path(work), args.output)
    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)
    if result.returncode != 0:
        return result.returncode
    steps = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    # One step: bf16's latency, at the synthetic run 12 (whatever its position among all the runs).
    expected = len(steps) == 1 and "latency_median_s bf16" in steps[0] and " 0012_main " in steps[0]
    print(f"steps marked: {len(steps)}; only the synthetic one at run 12: {'yes' if expected else 'NO'}")
    page = args.output / "history.html"
    print(f"page: {page} ({page.stat().st_size / 1e3:.0f} kB)")
    if args.screenshots is not None:
        _screenshots(page, args.screenshots)
    return 0 if expected else 1


def _screenshots(page: Path, folder: Path) -> None:
    if browser.find_chromium() is None:
        print("no screenshots: chromium is not installed", file=sys.stderr)
        return
    folder.mkdir(parents=True, exist_ok=True)
    text = page.read_text(encoding="utf-8")
    synthetic = _synthetic_group(text)
    for name, sections, height in SHOTS:
        png = folder / name
        shown = page
        if sections is not None:
            ids = ":not(".join(f"#{s.format(synthetic=synthetic)})" for s in sections)
            hide = f"<style>body > :not({ids} {{ display: none; }}</style></head>"
            shown = folder / f".{name}.html"
            shown.write_text(text.replace("</head>", hide, 1), encoding="utf-8")
        try:
            browser.screenshot(shown.resolve().as_uri(), png, WIDTH, height)
        finally:
            if shown != page:
                shown.unlink()
        _shrink(png)
        print(f"screenshot: {png} ({png.stat().st_size / 1e3:.0f} kB)")


def _synthetic_group(page: str) -> int:
    """The number of the synthetic line's group (tiny-sd on the CI runner's default workload)."""
    marker = page.index("<h2>tiny-sd · 64x64/4steps/cfg7.5/b1/euler · cpu</h2>")
    return int(page[:marker].rsplit('<section id="group-', 1)[1].split('"', 1)[0])


def _shrink(png: Path) -> None:
    """A 256-colour palette: a page of text and lines loses nothing visible and two thirds of the bytes."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(png) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(png, optimize=True)


if __name__ == "__main__":
    raise SystemExit(main())
