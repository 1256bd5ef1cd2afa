"""Find one saved run from what a user types: a file, a URL, or its id/name in the storage.

pytest-benchmark saves runs as ``<storage>/<machine-id>/<NNNN>_<NAME>.json``. A RUN is:

- a path to a JSON file, or an fsspec URL of one;
- ``0003_nightly``: the file stem, exactly;
- ``0003`` (or ``3``): the run number;
- ``nightly``: the name; when it was saved several times, the newest (highest number) of one
  machine folder is taken. Matches in several machine folders are ambiguous: give the path.
"""

from __future__ import annotations

import re
from pathlib import Path

from reports.errors import ReportError
from reports.loader import RunFile, find_run_files
from reports.remote import is_url

_STEM = re.compile(r"^(?P<number>\d+)_(?P<name>.*)$")
_LISTED = 8


def resolve(spec: str, storages: list[str]) -> RunFile:
    """The run file ``spec`` names, searched under ``storages`` unless it is a path or URL."""
    if not spec.strip():
        raise ReportError(
            "an empty RUN: give a run file, or a run id/name such as 0003, 0003_nightly or nightly"
        )
    if is_url(spec):
        files = find_run_files([spec])
        if len(files) != 1:
            raise ReportError(f"RUN {spec} is a folder of {len(files)} run files; give one file")
        return files[0]
    path = Path(spec)
    if path.is_file():
        return path
    if path.is_dir():
        raise ReportError(f"RUN {spec} is a folder; give one run file, or a run id/name and --storage {spec}")
    if spec.endswith(".json") or "/" in spec:
        raise ReportError(f"no such run file: {spec}")
    roots: list[Path | str] = [root if is_url(root) else Path(root) for root in storages]
    try:
        files = find_run_files(roots)
    except ReportError as error:
        # The storage is the usual miss: a run saved with --benchmark-storage is not in .benchmarks.
        raise ReportError(
            f"cannot look up run {spec!r}: {error}; or give the folder it was saved in with --storage DIR"
        ) from None
    exact, numbered, named = _matches(spec, files)
    for found, kind in ((exact, "stem"), (numbered, "number")):
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ReportError(
                f"run {spec!r} matches {len(found)} runs by {kind}: {_list(found)}; give the file path"
            )
    if named:
        folders = {_parent(file) for file in named}
        if len(folders) > 1:
            raise ReportError(
                f"run {spec!r} matches runs of {len(folders)} machine folders: {_list(named)}; "
                "give the file path"
            )
        return max(named, key=lambda file: int(_STEM.match(file.stem)["number"]))  # type: ignore[index]
    stems = [file.stem for file in files if _STEM.match(file.stem)]
    raise ReportError(
        f"no run {spec!r} under {', '.join(storages)}; runs there: {', '.join(stems[-_LISTED:]) or 'none'}"
    )


def _matches(spec: str, files: list[RunFile]) -> tuple[list[RunFile], list[RunFile], list[RunFile]]:
    exact: list[RunFile] = []
    numbered: list[RunFile] = []
    named: list[RunFile] = []
    for file in files:
        if file.stem == spec:
            exact.append(file)
        match = _STEM.match(file.stem)
        if match is None:
            continue
        if spec.isdigit() and int(match["number"]) == int(spec):
            numbered.append(file)
        elif match["name"] == spec:
            named.append(file)
    return exact, numbered, named


def _parent(file: RunFile) -> str:
    return str(file).rsplit("/", 1)[0]


def _list(files: list[RunFile]) -> str:
    shown = ", ".join(str(file) for file in files[:_LISTED])
    return shown + (", ..." if len(files) > _LISTED else "")
