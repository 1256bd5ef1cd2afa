"""The history page in a real headless Chromium: it loads without a console error and the browser
draws every chart. Skipped, with the reason, where no Chromium is installed (CI has none; on a
Debian build machine `apt-get install -y chromium`, docs/history.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import browser
from helpers.history_runs import Line, gate_runs, write_line
from helpers.reports_runs import REPO, call

pytestmark = pytest.mark.skipif(
    browser.find_chromium() is None,
    reason=f"no Chromium installed (looked for {', '.join(browser.NAMES)}): the page is not opened",
)


def test_the_console_check_sees_an_error_when_there_is_one(tmp_path: Path) -> None:
    """The check below could pass by reading nothing: here a page that does log, and throw."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head><body>'
        "<script>console.error('logged on purpose'); notAFunction();</script></body></html>"
    )
    loaded = browser.load(page)
    assert any("logged on purpose" in message for message in loaded.console), loaded.console
    assert any("notAFunction is not defined" in message for message in loaded.console), loaded.console


def test_the_history_page_loads_without_a_console_error(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    gate_runs(call, storage, write_line(storage, Line()), (12,))
    result = call("history", REPO / "docs" / "results", storage, "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = browser.load(tmp_path / "history.html")
    assert loaded.returncode == 0
    assert loaded.console == []
    # The browser built the document: every chart, and the step's mark with its label.
    page = (tmp_path / "history.html").read_text(encoding="utf-8")
    assert loaded.dom.count("<svg") == page.count("<svg") > 10
    assert "+15" in loaded.dom and "stroke-dasharray" in loaded.dom


def test_a_screenshot_is_a_png_of_the_page(tmp_path: Path) -> None:
    write_line(tmp_path / "line", Line(runs=10, step_run=None))
    assert call("history", tmp_path / "line", "--output", tmp_path).returncode == 0
    png = tmp_path / "shot.png"
    browser.screenshot((tmp_path / "history.html").as_uri(), png, 800, 600)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000  # not a blank page
