"""Per-profile efficiency factors: read from a calibration file, or computed from measured runs.

A calibration file (TOML or JSON) maps a profile to its efficiency:

```toml
[rtx3080]
efficiency = 0.42
```

`calibrate_from_runs` reads saved runs made on real cards (not emulated, status ok): a row
measured `step_median_ms` where the projection at efficiency e said `projected_step_ms`, so
the efficiency that would have matched is e x projected / measured (the median over rows).
"""

from __future__ import annotations

import json
import math
import statistics
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.profiles.errors import ProfileError

MAX_EFFICIENCY = 4.0  # above 1 only if the datasheet rate undersells the card (TF32 convolutions)


def _efficiency(value: Any, where: str) -> float:
    if isinstance(value, dict):
        if "efficiency" not in value:
            raise ProfileError(f"{where} misses field 'efficiency' (a number, e.g. 0.45)")
        value = value["efficiency"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"{where} field 'efficiency' = {value!r} is not a number (e.g. 0.45)")
    if not 0 < value <= MAX_EFFICIENCY:
        raise ProfileError(f"{where} field 'efficiency' = {value!r} must be in (0, {MAX_EFFICIENCY:g}]")
    return float(value)


def load_calibration(path: str | Path) -> dict[str, float]:
    """Profile name -> efficiency. Raises ProfileError with one line naming the bad entry."""
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
    return {
        name: _efficiency(value, f"calibration file {str(file)!r}: [{name}]") for name, value in data.items()
    }


def _rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [b.get("extra_info") or {} for b in run.get("benchmarks", []) if isinstance(b, dict)]


def calibrate_from_runs(paths: list[Path]) -> dict[str, dict[str, float]]:
    """Profile -> {"efficiency", "rows"} from rows measured natively on a card with rates."""
    found: dict[str, list[float]] = defaultdict(list)
    for path in paths:
        try:
            run = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ProfileError(f"run file {str(path)!r} cannot be read as JSON: {error}") from None
        for row in _rows(run):
            measured = row.get("step_median_ms")
            projected = row.get("projected_step_ms")
            used = row.get("projection_efficiency")
            if row.get("emulated") or row.get("status") != "ok" or row.get("device", "").startswith("cpu"):
                continue
            if not all(isinstance(v, int | float) and v > 0 for v in (measured, projected, used)):
                continue
            found[str(row.get("profile"))].append(used * projected / measured)
    return {
        name: {"efficiency": round(statistics.median(values), 4), "rows": len(values)}
        for name, values in sorted(found.items())
    }


def calibration_toml(calibration: dict[str, dict[str, float]]) -> str:
    lines = [
        "# efficiency = fraction of datasheet peak reached, from measured runs (bench.profiles calibrate)"
    ]
    for name, entry in calibration.items():
        lines += ["", f"[{name}]", f"efficiency = {entry['efficiency']}", f"rows = {int(entry['rows'])}"]
    return "\n".join(lines) + "\n"
