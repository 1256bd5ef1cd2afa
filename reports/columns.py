"""The report's columns: the run record's (reports/record.py), with the pandas dtype of each.

The loader is generic over these, so adding a column is adding a field to the record. Each
column names one or more *sources*; the first source that holds a non-null value wins. A source
is a path of keys into the per-row context the loader builds:

- ``file``: ``{"run": <file stem>, "source": <file path>}``
- ``run``: the whole pytest-benchmark JSON document
- ``benchmark``: the benchmark entry (or the ``diffbench.rows`` entry for a failure row)
- ``extra_info``: that entry's ``extra_info``
- ``stats``: that entry's ``stats`` (empty for failure rows, so their latencies are NaN)
"""

from __future__ import annotations

from typing import Literal

from reports import record
from reports.record import Column, KeyPath

Kind = Literal["str", "float", "int", "bool", "datetime"]
Source = KeyPath

# pandas dtype of each kind: every one holds a missing value (NaN / <NA> / NaT) without
# falling back to object, so numeric columns stay numeric (`df.latency_median_s > 0` works).
DTYPES: dict[str, str] = {
    "str": "str",
    "float": "float64",
    "int": "Int64",
    "bool": "boolean",
    "datetime": "datetime64[us, UTC]",
    "object": "object",  # a JSON object kept whole (a dict), for readers that ask for one (reports/fits.py)
}

COLUMN_SPECS: tuple[Column, ...] = record.COLUMNS
COLUMNS: list[str] = [column.name for column in COLUMN_SPECS]
BY_NAME: dict[str, Column] = {column.name: column for column in COLUMN_SPECS}
# Column names by group (context, latency, memory, size, quality, workload, ...), in table order.
GROUPS: dict[str, list[str]] = {}
for _column in COLUMN_SPECS:
    GROUPS.setdefault(_column.group, []).append(_column.name)
UNITS: dict[str, str] = {column.name: column.unit for column in COLUMN_SPECS if column.unit}


def dtype(column: Column) -> str:
    """The pandas dtype a column's values are held in."""
    return DTYPES[column.kind]
