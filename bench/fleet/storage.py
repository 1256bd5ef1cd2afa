"""The driver writes the runs that came back into the fleet's storage, as pytest-benchmark would.

A run keeps its machine folder and name; its number is the next free one in that folder, taken
with an exclusive link, so a run already there is never rewritten (two profiles' runs from machines
of the same fingerprint, or an earlier fleet run, keep theirs).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from bench.fleet.errors import FleetError

_NUMBERED = re.compile(r"(\d{4})_(.+\.json)")


def check_storage(text: str) -> Path:
    """A local folder; URLs are refused for now (one line), before anything starts."""
    if "://" in text:
        raise FleetError(
            f"--storage {text!r}: URLs are not supported by fleet run yet; give a local folder "
            "(the runs come back to the driver and are written there)"
        )
    return Path(text)


def write_run(storage: Path, relative_path: str, text: str) -> Path:
    """`text` saved as STORAGE/MACHINE/NNNN_NAME.json with NNNN the next free number; its path."""
    relative = PurePosixPath(relative_path)
    match = _NUMBERED.fullmatch(relative.name)
    if match is None or len(relative.parts) != 2 or ".." in relative.parts:
        raise FleetError(f"a node returned a run named {relative_path!r}, not MACHINE/NNNN_NAME.json")
    folder = storage / relative.parts[0]
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".fleet-{os.getpid()}-{match.group(2)}.tmp"
    temporary.write_text(text)
    try:
        while True:
            used = [int(m.group(1)) for p in folder.iterdir() if (m := _NUMBERED.fullmatch(p.name))]
            target = folder / f"{max(used, default=0) + 1:04d}_{match.group(2)}"
            try:
                os.link(temporary, target)  # fails if the name was taken meanwhile: take the next one
            except FileExistsError:
                continue
            return target
    finally:
        temporary.unlink(missing_ok=True)
