"""Read saved runs (pytest-benchmark JSON, see docs/run-format.md) into one tidy DataFrame.

One row per timed benchmark, plus one row per variant that could not be timed
(``output_json["diffbench"]["rows"]``: unsupported / oom / error, latencies NaN).

Bad input never sinks the whole report: a file that is not a readable pytest-benchmark run
is skipped with a ``ReportWarning`` and the rest still load. Only "nothing to report at
all" (no run files, a path that does not exist) raises ``ReportError`` -- or, with
``strict=True`` (the gate reads exactly the runs it was given), any file that cannot be read.

A path may also be an fsspec URL (``s3://bucket/benchmarks``) when fsspec is installed.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from reports.columns import COLUMN_SPECS, Column, Source, dtype
from reports.errors import ReportError, ReportWarning
from reports.record import SCHEMA
from reports.remote import RemoteFile, find_remote, is_url

SUPPORTED_SCHEMA = SCHEMA  # the one version this reader knows (reports/record.py)
DEFAULT_PATH = Path(".benchmarks")
# The "format" of a `diffbench tune` answer (reports/tune.py), found beside a tune's runs.
TUNE_FORMAT = "diffbench-tune"
HINT = "run `pytest bench/ --benchmark-save=NAME` first"

PathLike = str | os.PathLike[str]
Root = Path | str  # a local path, or an fsspec URL kept as text (Path would fold its "//")
RunFile = Path | RemoteFile

# A wrong-typed value is named in the warning; a long one is cut so the warning stays one line.
_MAX_REPR = 40
_MAX_NAMED = 3


class _Skip(Exception):
    """This file is not a run we can read; the message says why (one line)."""


@dataclass(frozen=True)
class _Entry:
    """One future row: a timed benchmark or a failure row, with what the columns read from."""

    benchmark: dict[str, Any]
    failure: bool

    @property
    def label(self) -> str:
        return str(self.benchmark.get("fullname") or self.benchmark.get("name") or "?")


def load(
    paths: PathLike | Iterable[PathLike] | None = None, *, strict: bool = False, extra: Sequence[Column] = ()
) -> pd.DataFrame:
    """Load every run file under ``paths`` (files or folders, recursive; default ``.benchmarks``).

    Returns one row per benchmark and per failure row, with the columns of
    ``reports.COLUMNS`` in that order and a numeric dtype for every numeric column.
    Raises ``ReportError`` when a path does not exist or no run could be read, and with
    ``strict`` when any file cannot be read (instead of skipping it with a warning).
    ``extra`` columns follow those (an ``object`` one holds a JSON object as a dict: reports/fits.py).
    """
    columns = (*COLUMN_SPECS, *extra)
    roots = _as_paths(paths)
    files = find_run_files(roots)
    records: list[dict[str, Any]] = []
    seen: dict[tuple[Any, ...], RunFile] = {}  # row identity -> the file that brought it first
    loaded = 0
    for path in files:
        try:
            doc = _read_run(path)
        except _Skip as why:
            if strict:
                raise ReportError(f"cannot read run {path}: {why}") from None
            _warn(f"skipped {path}: {why}")
            continue
        file_records, keys, bad = _records(path, doc, columns)
        if bad:
            _warn_bad_values(path, bad)
        hollow = _hollow_entries(doc)
        if hollow and any(key is None or key not in seen for key in keys):  # a copy is skipped below
            named = "; ".join(hollow[:_MAX_NAMED]) + ("; ..." if len(hollow) > _MAX_NAMED else "")
            _warn(f"{path}: read with figures missing ({len(hollow)} gap(s)): {named}")
        fresh = [i for i, key in enumerate(keys) if key is None or key not in seen]
        if file_records and not fresh:
            # A copy of a run already read (same machine, datetime and benchmarks), e.g. the same
            # storage folder copied elsewhere: count it once.
            first = seen[keys[0]]  # type: ignore[index]
            _warn(f"skipped {path}: the same run as {first}")
            continue
        for i in fresh:
            records.append(file_records[i])
        for key in keys:
            if key is not None:
                seen.setdefault(key, path)
        loaded += 1
    if not loaded:
        raise ReportError(
            f"no readable run files under {_names(roots)} ({len(files)} skipped, see the warnings); {HINT}"
        )
    return _frame(records, columns)


def find_run_files(roots: list[Root]) -> list[RunFile]:
    """Every ``*.json`` under the roots, in a stable order, each file once.

    A file given by name is taken whatever its suffix (the user asked for it); folders are
    searched recursively for ``*.json``. A root given as a URL is listed through fsspec.
    """
    missing = [root for root in roots if isinstance(root, Path) and not root.exists()]
    if missing:
        raise ReportError(f"no such file or folder: {_names(missing)}; {HINT}")
    found: list[RunFile] = []
    resolved: set[Path | str] = set()
    for root in roots:
        if isinstance(root, str):
            for remote in find_remote(root):
                if remote.url not in resolved:
                    resolved.add(remote.url)
                    found.append(remote)
            continue
        for path in [root] if not root.is_dir() else _walk_json(root):
            real = path.resolve()
            # Overlapping roots (".benchmarks" and ".benchmarks/host") reach a file twice.
            if real not in resolved:
                resolved.add(real)
                found.append(path)
    if not found:
        raise ReportError(f"no run files (*.json) under {_names(roots)}; {HINT}")
    return found


def _as_paths(paths: PathLike | Iterable[PathLike] | None) -> list[Root]:
    if paths is None:
        return [DEFAULT_PATH]
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    roots = [path if is_url(path) else Path(path) for path in paths]
    return roots or [DEFAULT_PATH]


def _walk_json(root: Path) -> Iterator[Path]:
    # os.walk rather than rglob: it does not follow directory symlinks, so a link loop
    # cannot make the search endless, and unreadable folders are reported, not fatal.
    def on_error(error: OSError) -> None:
        _warn(f"skipped {error.filename}: cannot list it ({error.strerror})")

    for folder, dirs, names in os.walk(root, onerror=on_error):
        dirs.sort()
        for name in sorted(names):
            if name.endswith(".json"):
                yield Path(folder, name)


def _names(paths: Iterable[Root | RunFile]) -> str:
    return ", ".join(str(path) for path in paths)


def _warn(message: str) -> None:
    warnings.warn(message, ReportWarning, stacklevel=3)


# --- one file ---------------------------------------------------------------------------------


def _read_run(path: RunFile) -> dict[str, Any]:
    """The parsed, structurally checked run document, or ``_Skip`` saying what is wrong."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise _Skip(f"cannot read it ({error.strerror or error})") from None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _Skip(f"not valid JSON ({_one_line(error)})") from None
    _check_run(doc)
    return doc


def _check_run(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise _Skip(f"not a pytest-benchmark run (the top level is a JSON {_json_type(doc)}, not an object)")
    if doc.get("format") == TUNE_FORMAT:
        # A tune output folder holds its answer beside its runs: say where each is read.
        raise _Skip(
            "a `diffbench tune` answer, not a run: its runs are in the runs/ folder beside it, and "
            "`diffbench report tune` reads the answer"
        )
    if not isinstance(doc.get("benchmarks"), list):
        raise _Skip('not a pytest-benchmark run (no "benchmarks" list)')
    if not isinstance(doc.get("machine_info"), dict):
        raise _Skip('not a pytest-benchmark run (no "machine_info" object)')
    for entry in _entries(doc):
        for key in ("extra_info", "stats"):
            if not isinstance(entry.benchmark.get(key, {}), dict | None):
                raise _Skip(
                    f'{entry.label}: "{key}" is a JSON {_json_type(entry.benchmark[key])}, not an object'
                )
    # Every place diffbench stamps a schema must be one this reader knows: a newer writer may
    # have renamed or re-meant keys, and a silently wrong table is worse than none.
    _check_schema(doc["machine_info"].get("diffbench"))
    _check_schema(doc.get("diffbench"))
    for entry in _entries(doc):
        _check_schema(entry.benchmark.get("extra_info"))


def _entries(doc: dict[str, Any]) -> list[_Entry]:
    """The benchmarks, then the diffbench failure rows; ``_Skip`` if either list is malformed."""
    entries: list[_Entry] = []
    for i, bench in enumerate(doc["benchmarks"]):
        if not isinstance(bench, dict):
            raise _Skip(f"benchmarks[{i}] is a JSON {_json_type(bench)}, not an object")
        entries.append(_Entry(bench, failure=False))
    section = doc.get("diffbench")
    if section is None:
        return entries
    if not isinstance(section, dict) or not isinstance(section.get("rows", []), list):
        raise _Skip('"diffbench" is not an object with a "rows" list')
    for i, row in enumerate(section.get("rows", [])):
        if not isinstance(row, dict):
            raise _Skip(f"diffbench.rows[{i}] is a JSON {_json_type(row)}, not an object")
        entries.append(_Entry(row, failure=True))
    return entries


def _hollow_entries(doc: dict[str, Any]) -> list[str]:
    """The timed benchmarks that lack what a row is made of: the table would show them with blank
    figures (and a gate could not compare them), so the reader is told which and why."""
    # A plain pytest-benchmark run has no extra_info by nature; a diffbench run's rows all do.
    ours = "diffbench" in doc or "diffbench" in doc["machine_info"]
    found: list[str] = []
    for entry in _entries(doc):
        if entry.failure:
            continue  # a failure row has no stats by design
        if not entry.benchmark.get("stats"):
            found.append(f'{entry.label} has no "stats" (no timings)')
        if ours and not entry.benchmark.get("extra_info"):
            found.append(f'{entry.label} has no "extra_info" (no model, variant or status)')
    return found


def _check_schema(section: Any) -> None:
    if not isinstance(section, dict) or section.get("schema") is None:
        return
    schema = section["schema"]
    if isinstance(schema, bool) or not isinstance(schema, int):
        raise _Skip(f"diffbench schema {schema!r} is not an integer")
    if schema > SUPPORTED_SCHEMA:
        raise _Skip(
            f"diffbench schema {schema} is newer than this reader supports ({SUPPORTED_SCHEMA}); "
            "update diffbench's reports package"
        )
    if schema < SUPPORTED_SCHEMA:
        raise _Skip(
            f"diffbench schema {schema} is older than this reader supports ({SUPPORTED_SCHEMA}); "
            "re-run the suite with this diffbench, or read it with the diffbench that wrote it"
        )


def _records(
    path: RunFile, doc: dict[str, Any], columns: Sequence[Column]
) -> tuple[list[dict[str, Any]], list[tuple[Any, ...] | None], list[str]]:
    """Column values for every row of one run, each row's identity, and the wrong-typed values."""
    file_info = {"run": path.stem, "source": str(path)}
    records: list[dict[str, Any]] = []
    keys: list[tuple[Any, ...] | None] = []
    bad: list[str] = []
    for entry in _entries(doc):
        context = {
            "file": file_info,
            "run": doc,
            "benchmark": entry.benchmark,
            "extra_info": entry.benchmark.get("extra_info") or {},
            # A failure row was never timed: whatever it carries, it has no latency.
            "stats": {} if entry.failure else entry.benchmark.get("stats") or {},
        }
        record: dict[str, Any] = {}
        for column in columns:
            raw = _lookup(context, column.sources)
            value, ok = _coerce(raw, column.kind)
            if not ok:
                bad.append(f"{column.name}={_short_repr(raw)} in {entry.label}")
            record[column.name] = value
        records.append(record)
        keys.append(_identity(record, doc, entry))
    return records, keys, bad


def _identity(record: dict[str, Any], doc: dict[str, Any], entry: _Entry) -> tuple[Any, ...] | None:
    """Who this row is across files: (machine, datetime, fullname); None when that is unknowable."""
    stamp = doc.get("datetime")
    fullname = entry.benchmark.get("fullname") or entry.benchmark.get("name")
    if not isinstance(stamp, str) or not isinstance(fullname, str):
        return None  # without them two different runs could look alike: never merge those
    return (record["machine"], stamp, fullname, entry.failure)


def _lookup(context: dict[str, Any], sources: tuple[Source, ...]) -> Any:
    """The first non-null value along the column's sources."""
    for source in sources:
        value: Any = context
        for key in source:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def _coerce(value: Any, kind: str) -> tuple[Any, bool]:
    """``(value for the column, True)``, or ``(None, False)`` when the JSON holds the wrong type.

    Never converts across meanings (a string is not parsed as a number): the run format says
    which type each key has, and anything else is reported rather than guessed at.
    """
    if value is None:
        return None, True
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "float" and is_number:
        return float(value), True
    if kind == "int" and is_number and float(value).is_integer():
        return int(value), True
    if kind == "str" and isinstance(value, str):
        return value, True
    if kind == "bool" and isinstance(value, bool):
        return value, True
    if kind == "object" and isinstance(value, dict):
        return value, True
    if kind == "datetime" and isinstance(value, str):
        try:
            stamp = pd.Timestamp(value)
        except ValueError:
            return None, False
        # pytest-benchmark writes UTC; very old versions wrote it without an offset.
        return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")), True
    return None, False


def _frame(records: list[dict[str, Any]], columns: Sequence[Column]) -> pd.DataFrame:
    """The typed frame; built column by column so even an empty report has the right dtypes."""
    return pd.DataFrame(
        {column.name: _series(column, [record[column.name] for record in records]) for column in columns}
    )


def _series(column: Column, values: list[Any]) -> pd.Series:
    return pd.Series(values, dtype=dtype(column), name=column.name)


def _warn_bad_values(path: RunFile, bad: list[str]) -> None:
    named = "; ".join(bad[:_MAX_NAMED]) + ("; ..." if len(bad) > _MAX_NAMED else "")
    _warn(f"{path}: {len(bad)} value(s) of the wrong type read as missing: {named}")


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")
