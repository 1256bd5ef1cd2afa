"""Text output shared by the commands: number formatting, Markdown tables, atomic files."""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from reports.errors import ReportError

SIGNIFICANT = 4
# Figures whose interesting part lies beyond 4 significant digits: an SSIM of 0.99993 is not 1.
FIGURE_DIGITS = {"ssim_vs_baseline": 6}


def number(value: Any, digits: int = SIGNIFICANT) -> str:
    """A figure as text: 4 significant digits, empty when missing, ``inf`` kept as is."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, int | float):
        return f"{value:.{digits}g}"
    return str(value)


def figure(column: str, value: Any) -> str:
    """``number`` with the digits the figure in ``column`` needs (FIGURE_DIGITS, else 4)."""
    return number(value, FIGURE_DIGITS.get(column, SIGNIFICANT))


def percent(value: Any) -> str:
    """A signed percentage (``+12.3%``); empty when missing."""
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:+.1f}%"


def ratio(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.2f}x"


def markdown(df: pd.DataFrame, right: Iterable[str] = ()) -> str:
    """A frame of already formatted cells as a Markdown table; ``right`` columns right-aligned."""
    right = set(right)
    cells = df.astype(object).where(df.notna(), "")
    align = ["right" if column in right else "left" for column in df.columns]
    return cells.to_markdown(index=False, disable_numparse=True, colalign=align) + "\n"


def emit(text: str, output: Path | None) -> None:
    """Print ``text``, or write it to ``output`` atomically (a reader never sees half a file)."""
    if output is None:
        sys.stdout.write(text)
        return
    write_bytes(text.encode("utf-8"), output)


def write_bytes(data: bytes, output: Path) -> None:
    folder = output.parent
    if not folder.is_dir():
        raise ReportError(f"cannot write {output}: folder {folder} does not exist")
    handle, temp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        # mkstemp makes the file private (0600); a report is read by others, as any new file would be.
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, output)
    except OSError as error:
        raise ReportError(f"cannot write {output}: {error.strerror or error}") from None
    finally:
        temp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


def output_folder(folder: Path, option: str = "--output-dir") -> Path:
    """`folder`, made (with its parents) when it isn't there yet; the one-line error a report
    command gives when it is a file or cannot be made. Checked before any run is read."""
    if folder.exists() and not folder.is_dir():
        raise ReportError(f"{option} {folder} is not an existing folder (it is a file); give a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"{option} {folder}: cannot make the folder ({error.strerror or error})") from None
    return folder


def write_report(folder: Path, stem: str, markdown: str, plot: Callable[[], bytes]) -> None:
    """`stem.md` and `stem.png` in `folder`, each written atomically, and say so on stdout.

    The table is written first and stands on its own: a plot that cannot be drawn (matplotlib
    missing, nothing ran, figures matplotlib refuses) leaves a note on stderr, not a failed command.
    """
    table = folder / f"{stem}.md"
    write_bytes(markdown.encode("utf-8"), table)
    print(f"wrote {table}")
    try:
        png = plot()
    except Exception as error:  # whatever stops the drawing, the table is written and stands
        print(f"note: {stem}.png not written: {plot_failure(error)}", file=sys.stderr)
        return
    image = folder / f"{stem}.png"
    write_bytes(png, image)
    print(f"wrote {image}")


def plot_failure(error: Exception) -> str:
    """Why a plot was not drawn, in one line: our own reason as is; anything else (matplotlib
    refusing the data) named as the error it was, so that it can be reported and fixed."""
    if isinstance(error, ReportError):
        return str(error)
    return f"the plot could not be drawn ({type(error).__name__}: {' '.join(str(error).split())})"
