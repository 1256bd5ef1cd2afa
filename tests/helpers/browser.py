"""A real headless Chromium for the HTML pages: load a page and read what it logged, or take a
screenshot. Only an installed browser binary is used (Debian's `chromium`, as docs/history.md
says how to install); where there is none, `find_chromium()` is None and the callers skip.

Console messages are read from Chromium's own log (`--enable-logging=stderr --v=0`): each
`console.*` call and each uncaught exception is one `INFO:CONSOLE...] "message", source: URL (line)`
line. Every run gets a new profile folder, so nothing carries over between loads.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Headless, offline, and quiet: nothing is fetched and nothing is synced or updated in the background.
FLAGS = (
    "--headless",
    "--no-sandbox",  # the build machines run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\] (?P<message>.*)$")


@dataclass(frozen=True)
class Load:
    console: list[str]  # every console message and uncaught error, in order
    dom: str  # the document as the browser built it (--dump-dom)
    returncode: int


def find_chromium() -> str | None:
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def load(page: Path, timeout: float = 120) -> Load:
    """Open ``page`` (a local file) and return its console messages and its DOM."""
    result = _run([page.resolve().as_uri(), "--dump-dom", "--enable-logging=stderr", "--v=0"], timeout)
    console = [m["message"] for line in result.stderr.splitlines() if (m := CONSOLE.search(line))]
    return Load(console, result.stdout, result.returncode)


def screenshot(url: str, png: Path, width: int, height: int, timeout: float = 120) -> None:
    """A PNG of the first ``width`` x ``height`` pixels of ``url`` (a ``#fragment`` scrolls to it)."""
    result = _run([f"--screenshot={png.resolve()}", f"--window-size={width},{height}", url], timeout)
    if result.returncode != 0 or not png.is_file():
        raise RuntimeError(f"chromium took no screenshot of {url}: {result.stderr.strip()[-500:]}")


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError(f"no Chromium installed (looked for {', '.join(NAMES)})")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
