"""Profile fits long-form: one row per (run row, profile), so a profile is data, not a column name.

Each row of a hardware-profile run carries ``fits_profiles`` (reports/record.py), whether the
variant fits every GPU profile the run knew: the built-in classes and the cards of the user's
``--profile-file`` TOML alike. This long table is the source of truth for fits; the report's wide
``fits_<profile>`` columns are a view of it for the built-in profiles only.

Read the runs with ``load(paths)`` (the usual frame plus the ``fits_profiles`` dicts) and shape
them with ``fits_long``. A frame read without the dicts (``reports.load``) still gives a long
table, rebuilt from its wide columns, so with the built-in profiles only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from reports import loader, record
from reports.errors import ReportError
from reports.record import Column

_FIELD = record.field("extra_info", "fits_profiles")
FITS_PROFILES = _FIELD.name
# The whole {profile: fits} object as one column, which the usual frame does not hold.
FITS_PROFILES_COLUMN = Column(FITS_PROFILES, dict, (_FIELD.path,), _FIELD.meaning, _FIELD.unit, _FIELD.group)
# The wide view's columns, each with the profile it shows: fits_rtx3050_laptop -> rtx3050-laptop.
WIDE_COLUMNS: dict[str, str] = {
    column.name: column.sources[0][-1] for column in record.COLUMNS if column.sources[0][:-1] == _FIELD.path
}

# What tells the row a fit belongs to apart, in this order; the row's own profile is `row_profile`,
# since `profile` is the profile the fit is for.
ROW_COLUMNS = (
    "run",
    "source",
    "datetime",
    "machine",
    "model",
    "variant",
    "workload",
    "dtype",
    "status",
    "row_profile",
    "device",
    "est_peak_mem_mib",
)
LONG_COLUMNS = ("row", *ROW_COLUMNS, "profile", "fits")


def load(paths: Any = None, *, strict: bool = False) -> pd.DataFrame:
    """``reports.load`` plus the ``fits_profiles`` column: each row's dict, or None without one."""
    return loader.load(paths, strict=strict, extra=(FITS_PROFILES_COLUMN,))


def fits_long(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (row of ``frame``, profile it has a fit for): ``LONG_COLUMNS``, in the frame's
    row order and each row's profile order; ``fits`` is true, false or <NA> (not known). Its ``row``
    column holds the frame's row label, so ``frame.loc[long["row"]]`` is each fit's own row."""
    pairs = _pairs_from_dicts(frame) if FITS_PROFILES in frame.columns else _pairs_from_wide(frame)
    rows = frame.rename(columns={"profile": "row_profile"})
    for column in ROW_COLUMNS:
        if column not in rows.columns:
            rows[column] = pd.NA
    positions = [row for row, _, _ in pairs]
    long = rows.iloc[positions][list(ROW_COLUMNS)]
    long.insert(0, "row", long.index)
    long = long.reset_index(drop=True)
    long["profile"] = pd.array([profile for _, profile, _ in pairs], dtype="str")
    long["fits"] = pd.array([fit for _, _, fit in pairs], dtype="boolean")
    return long


def profiles(long: pd.DataFrame) -> list[str]:
    """The profiles a long table has fits for, in the order they first appear."""
    return list(dict.fromkeys(long["profile"]))


def for_profile(long: pd.DataFrame, profile: str) -> pd.DataFrame:
    """The long table's rows for ``profile``; a one-line ``ReportError`` naming the profiles the
    runs know when it has none."""
    chosen = long[long["profile"] == profile]
    if chosen.empty:
        raise ReportError(unknown_profile_message(profile, profiles(long)))
    return chosen


def unknown_profile_message(profile: str, known: Iterable[str]) -> str:
    return (
        f"no fits for profile {profile!r} in these runs (profiles there: {', '.join(known) or 'none'}); "
        "a run records fits for the built-in GPU profiles and for the cards of its --profile-file "
        "(docs/profiles.md)"
    )


# (row position in the frame, profile, fit): the long table's rows before their columns are filled.
Pair = tuple[int, str, Any]


def _pairs_from_dicts(frame: pd.DataFrame) -> list[Pair]:
    pairs: list[Pair] = []
    for position, value in enumerate(frame[FITS_PROFILES]):
        if isinstance(value, dict):
            pairs.extend((position, str(profile), _fit(fit)) for profile, fit in value.items())
    return pairs


def _pairs_from_wide(frame: pd.DataFrame) -> list[Pair]:
    # A null cell is left out: the wide view cannot tell "not known" from "not recorded".
    present = {name: profile for name, profile in WIDE_COLUMNS.items() if name in frame.columns}
    pairs: list[Pair] = []
    for name, profile in present.items():
        values = frame[name]
        for position in np.flatnonzero(values.notna().to_numpy()):
            pairs.append((int(position), profile, _fit(values.iloc[position])))
    pairs.sort(key=lambda pair: pair[0])  # stable: each row's profiles stay in the record's order
    return pairs


def _fit(value: Any) -> Any:
    """True or False as recorded; anything else (null: the card's memory is unknown) is <NA>."""
    return bool(value) if isinstance(value, bool | np.bool_) else pd.NA
