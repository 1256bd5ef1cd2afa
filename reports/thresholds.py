"""Gate options as users type them: thresholds ``10%`` (relative), ``1.0`` (absolute), ``off``;
run-name globs (``main``, ``nightly-*``).

A relative threshold must carry its ``%``: a bare ``0.1`` could mean 10% or 0.1% and a gate
must not guess. An absolute one (FID points) must not carry it.
"""

from __future__ import annotations

import math

from reports.errors import ReportError

OFF = ("off", "none")


def percent(text: str, option: str) -> float | None:
    """``"10%"`` -> 0.10; ``"off"`` -> None (the check is skipped)."""
    value = text.strip().lower()
    if value in OFF:
        return None
    if not value.endswith("%"):
        raise ReportError(f"{option} {text!r} is not a percentage; give one like 10% (or off)")
    number = _number(value[:-1], text, option, "like 10% (or off)")
    return number / 100.0


def absolute(text: str, option: str, unit: str) -> float | None:
    """``"1.0"`` -> 1.0; ``"off"`` -> None."""
    value = text.strip().lower()
    if value in OFF:
        return None
    if value.endswith("%"):
        raise ReportError(
            f"{option} {text!r}: give an absolute change in {unit}, like 1.0 (or off), not a percentage"
        )
    return _number(value, text, option, f"in {unit}, like 1.0 (or off)")


def _number(value: str, text: str, option: str, accepted: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ReportError(f"{option} {text!r} is not a number; give one {accepted}") from None
    if not math.isfinite(number) or number < 0:
        raise ReportError(f"{option} {text!r} must be a finite number >= 0; give one {accepted}")
    return number


def glob(text: str, option: str) -> str:
    """A run-name glob: ``main``, ``nightly-*``. Empty (or blank) would select nothing, so it is refused."""
    value = text.strip()
    if not value or "/" in value:
        raise ReportError(
            f"{option} {text!r} is not a run-name glob; give a name runs were saved under, "
            "like main or 'nightly-*'"
        )
    return value
