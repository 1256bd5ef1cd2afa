"""Render a report DataFrame as Markdown, CSV, HTML or Parquet, and the ``table`` command."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from reports.columns import BY_NAME, COLUMNS
from reports.errors import ReportError
from reports.loader import load

FORMATS = ("md", "csv", "html", "parquet")
TEXT_FORMATS = ("md", "csv", "html")
ALL = "all"  # --columns all: every column, the table before the reader's default

# What a reader needs first, in this order; a column without a value in any row is left out.
READER_COLUMNS = (
    "model",
    "variant",
    "status",
    "latency_median_s",
    "latency_iqr_s",
    "step_median_ms",
    "peak_ram_mib",
    "peak_vram_mib",
    "size_mb",
    "psnr_vs_baseline",
    "ssim_vs_baseline",
    "fid",
    "reason",
)
# Shown first when they tell rows apart (more than one value): else every row shares them.
CONTEXT_COLUMNS = ("run", "machine", "profile", "workload")
ALWAYS = ("model", "variant", "status")


def render(df: pd.DataFrame, fmt: str) -> str:
    """The table as text in ``fmt`` (one of ``TEXT_FORMATS``); missing values print empty."""
    renderers: dict[str, Callable[[pd.DataFrame], str]] = {"md": _markdown, "csv": _csv, "html": _html}
    if fmt not in renderers:
        raise ReportError(f"cannot render {fmt!r} as text; text formats are {', '.join(TEXT_FORMATS)}")
    return renderers[fmt](df)


def write(df: pd.DataFrame, fmt: str, output: Path) -> None:
    """Write the table to ``output`` atomically: a reader never sees half a file."""
    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt!r}; formats are {', '.join(FORMATS)}")
    folder = output.parent
    if not folder.is_dir():
        raise ReportError(f"cannot write {output}: folder {folder} does not exist")
    handle, temp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=folder)
    os.close(handle)
    temp = Path(temp_name)
    try:
        if fmt == "parquet":
            df.to_parquet(temp, index=False)
        else:
            temp.write_text(render(df, fmt), encoding="utf-8")
        os.replace(temp, output)
    except OSError as error:
        raise ReportError(f"cannot write {output}: {error.strerror or error}") from None
    except ImportError:
        # pandas writes parquet through pyarrow, an optional dependency of an analyst's install.
        raise ReportError(f"cannot write {output}: parquet needs pyarrow (pip install pyarrow)") from None
    finally:
        temp.unlink(missing_ok=True)


def parse_columns(spec: str | None) -> list[str] | None:
    """The column names in ``spec`` ("a,b,c"), in that order; None (the reader's columns) when spec
    is None; every column for ``all``."""
    if spec is None:
        return None
    if spec.strip() == ALL:
        return list(COLUMNS)
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in BY_NAME]
    if unknown or not names:
        bad = ", ".join(unknown) if unknown else repr(spec)
        raise ReportError(f"unknown column(s) {bad}; columns are {ALL} or any of {', '.join(COLUMNS)}")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        # Parquet refuses duplicate column names, and no table is clearer for repeating one.
        raise ReportError(f"column(s) {', '.join(twice)} given more than once in --columns")
    return names


def reader_columns(df: pd.DataFrame) -> list[str]:
    """The default table's columns: the context columns that vary, then the reader's columns
    that hold a value in some row (all of them for a run without rows)."""
    if df.empty:
        return list(READER_COLUMNS)
    varying = [name for name in CONTEXT_COLUMNS if df[name].nunique(dropna=True) > 1]
    present = [name for name in READER_COLUMNS if name in ALWAYS or _has_value(df[name])]
    return varying + present


def _has_value(column: pd.Series) -> bool:
    if pd.api.types.is_string_dtype(column) or column.dtype == object:
        return bool(column.fillna("").astype(str).str.strip().ne("").any())
    return bool(column.notna().any())


def rest_hint(shown: int) -> str:
    """The line after the default table: how to see the columns it left out."""
    return (
        f"note: {shown} of {len(COLUMNS)} columns shown; --columns {ALL} prints every one, "
        "--columns a,b,c picks them (names in --help and docs/run-format.md)"
    )


def _markdown(df: pd.DataFrame) -> str:
    # tabulate would print NaN as "nan" and <NA> as "<NA>": hand it None, shown as "".
    cells = df.astype(object).where(df.notna(), None)
    # tabulate also parses strings that look like numbers (run "0001" -> 1): only let it
    # parse (and right-align) the truly numeric columns.
    text_columns: list[int] | bool = [
        i
        for i, name in enumerate(df.columns)
        if not pd.api.types.is_numeric_dtype(df[name]) or pd.api.types.is_bool_dtype(df[name])
    ]
    if df.empty:
        text_columns = True  # no cell to parse; tabulate's per-column list fails on an empty table
    return cells.to_markdown(index=False, missingval="", disable_numparse=text_columns) + "\n"


def _csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False)


def _html(df: pd.DataFrame) -> str:
    return df.to_html(index=False, na_rep="") + "\n"


# --- the `table` command ------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "table",
        parents=parents,
        help="print every run as one table",
        description="Print every saved run under PATH as one table (one row per benchmark or failure).",
    )
    parser.add_argument("--format", choices=FORMATS, default="md", help="output format (default: md)")
    parser.add_argument("--output", type=Path, help="write to FILE instead of stdout (needed for parquet)")
    parser.add_argument(
        "--columns",
        help=f"'{ALL}', or comma-separated columns to keep, in order (default: {', '.join(READER_COLUMNS)}, "
        f"those with a value, after {', '.join(CONTEXT_COLUMNS)} where rows differ in them); "
        f"from: {', '.join(COLUMNS)}",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Check the options before reading any run, so a typo fails fast.
    if args.format == "parquet" and args.output is None:
        raise ReportError("--format parquet writes a binary file: give --output FILE")
    columns = parse_columns(args.columns)
    df = load(args.paths)
    df = df[columns if columns is not None else reader_columns(df)]
    if args.output is None:
        sys.stdout.write(render(df, args.format))
    else:
        write(df, args.format, args.output)
    if columns is None:
        sys.stdout.flush()  # the note comes after the table on a terminal
        print(rest_hint(len(df.columns)), file=sys.stderr)
    return 0
