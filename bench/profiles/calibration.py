"""Per-profile efficiency factors and launch costs: from a calibration file, or measured runs.

A calibration file (TOML or JSON) maps a profile to its efficiency, its per-kernel launch cost
in microseconds (projection.py), or both:

```toml
[rtx3080]
efficiency = 0.42
launch_us = 9.5
```

`calibrate_from_runs` reads saved runs made on real cards (not emulated, status ok). A row whose
projection was bound by the card's work measured `step_median_ms` where the projection at
efficiency e said `projected_step_ms`, so the efficiency that would have matched is
e x projected / measured. A launch-bound row (`projection_note` set: a model too small for the
card) says nothing about the card's efficiency; its measured step over its kernel count is the
launch cost. Each is the median over its rows.
"""

from __future__ import annotations

import json
import math
import statistics
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.profiles.errors import ProfileError

MAX_EFFICIENCY = 4.0  # above 1 only if the datasheet rate undersells the card (TF32 convolutions)
MAX_LAUNCH_US = 1000.0  # a millisecond per kernel would be a stalled host, not a launch cost
# The accepted fields: (example, upper bound).
FIELDS = {"efficiency": ("0.45", MAX_EFFICIENCY), "launch_us": ("8", MAX_LAUNCH_US)}


@dataclass(frozen=True)
class Calibration:
    efficiency: float | None = None
    launch_us: float | None = None


def _field(value: Any, key: str, where: str) -> float:
    example, high = FIELDS[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"{where} field {key!r} = {value!r} is not a number (e.g. {example})")
    if not 0 < value <= high:
        raise ProfileError(f"{where} field {key!r} = {value!r} must be in (0, {high:g}]")
    return float(value)


def _entry(value: Any, where: str) -> Calibration:
    """A table with efficiency and/or launch_us (a bare number is an efficiency)."""
    if not isinstance(value, dict):
        return Calibration(efficiency=_field(value, "efficiency", where))
    given = {key: _field(value[key], key, where) for key in FIELDS if key in value}
    if not given:
        raise ProfileError(f"{where} misses field 'efficiency' (e.g. 0.45) or 'launch_us' (e.g. 8)")
    return Calibration(**given)


def load_calibration(path: str | Path) -> dict[str, Calibration]:
    """Profile name -> its calibration. Raises ProfileError with one line naming the bad entry."""
    file = Path(path).expanduser()
    try:
        text = file.read_text()
    except FileNotFoundError:
        raise ProfileError(f"calibration file {str(file)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(f"calibration file {str(file)!r} cannot be read: {error}") from None
    try:
        data = json.loads(text) if file.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ProfileError(
            f"calibration file {str(file)!r} is not valid {file.suffix or 'TOML'}: {error}"
        ) from None
    if not isinstance(data, dict):
        raise ProfileError(f"calibration file {str(file)!r} must map profile names to efficiencies")
    return {name: _entry(value, f"calibration file {str(file)!r}: [{name}]") for name, value in data.items()}


def _rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [b.get("extra_info") or {} for b in run.get("benchmarks", []) if isinstance(b, dict)]


def calibrate_from_runs(paths: list[Path]) -> dict[str, dict[str, float]]:
    """Profile -> {"efficiency", "rows"} and/or {"launch_us", "launch_rows"} from rows measured
    natively on a card with rates (the module docstring says which row gives which)."""
    efficiencies: dict[str, list[float]] = defaultdict(list)
    launches: dict[str, list[float]] = defaultdict(list)
    for path in paths:
        try:
            run = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ProfileError(f"run file {str(path)!r} cannot be read as JSON: {error}") from None
        for row in _rows(run):
            measured = row.get("step_median_ms")
            if row.get("emulated") or row.get("status") != "ok" or row.get("device", "").startswith("cpu"):
                continue
            if not _positive(measured):
                continue
            profile = str(row.get("profile"))
            kernels = row.get("projection_kernels")
            if row.get("projection_note"):
                if _positive(kernels):
                    launches[profile].append(measured * 1e3 / kernels)
                continue
            projected = row.get("projected_step_ms")
            used = row.get("projection_efficiency")
            if _positive(projected) and _positive(used):
                efficiencies[profile].append(used * projected / measured)
    found: dict[str, dict[str, float]] = defaultdict(dict)
    for name, values in efficiencies.items():
        found[name].update(efficiency=round(statistics.median(values), 4), rows=len(values))
    for name, values in launches.items():
        found[name].update(launch_us=round(statistics.median(values), 2), launch_rows=len(values))
    return dict(sorted(found.items()))


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def calibration_toml(calibration: dict[str, dict[str, float]]) -> str:
    lines = [
        "# efficiency = fraction of datasheet peak reached; launch_us = host time per kernel launch;",
        "# both from measured runs (python -m bench.profiles calibrate)",
    ]
    for name, entry in calibration.items():
        lines += ["", f"[{name}]"]
        if "efficiency" in entry:
            lines += [f"efficiency = {entry['efficiency']}", f"rows = {int(entry['rows'])}"]
        if "launch_us" in entry:
            lines += [f"launch_us = {entry['launch_us']}", f"launch_rows = {int(entry['launch_rows'])}"]
    return "\n".join(lines) + "\n"
