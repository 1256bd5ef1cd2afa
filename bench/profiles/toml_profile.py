"""A profile from a TOML table: the fields, their meaning, and validation field by field.

The built-in cards (bench/profiles/cards/*.toml) and a user's `--profile-file` are read alike.

```toml
[rtx3060]
description = "GeForce RTX 3060 12 GB"
vram_gib = 12
bandwidth_gbs = 360
fp32_tflops = 12.7
fp16_tflops = 25.4        # matrix rate with fp32 accumulation
bf16_tflops = 25.4        # leave out for a card without bf16
int8_tops = 101.6
compute_capability = "8.6"
# optional: tensor_cores (default: capability >= 7.0), efficiency, launch_us, reserved_mib,
# fp16_acc16_tflops, known_issues, references
```
"""

from __future__ import annotations

import math
import re
from typing import Any

from bench.profiles.errors import ProfileError
from bench.profiles.profile import (
    DEFAULT_EFFICIENCY,
    DEFAULT_LAUNCH_US,
    DEFAULT_RESERVED_MIB,
    MIB_PER_GIB,
    Profile,
)

REQUIRED_NUMBERS = {
    "vram_gib": "GiB of memory",
    "bandwidth_gbs": "memory bandwidth in GB/s",
    "fp32_tflops": "fp32 TFLOPS",
    "fp16_tflops": "fp16 matrix TFLOPS with fp32 accumulation",
    "int8_tops": "int8 TOPS",
}
OPTIONAL_NUMBERS = ("bf16_tflops", "efficiency", "reserved_mib", "fp16_acc16_tflops", "launch_us")
KNOWN_FIELDS = {
    *REQUIRED_NUMBERS,
    *OPTIONAL_NUMBERS,
    "compute_capability",
    "tensor_cores",
    "known_issues",
    "references",
    "description",
}
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def _number(table: dict[str, Any], key: str, where: str, meaning: str) -> float:
    if key not in table:
        raise ProfileError(f"{where} misses field {key!r} ({meaning})")
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"{where} field {key!r} = {value!r} is not a number ({meaning})")
    if value <= 0:
        raise ProfileError(f"{where} field {key!r} = {value!r} must be a positive number ({meaning})")
    return float(value)


def _optional(table: dict[str, Any], key: str, where: str, default: float | None) -> float | None:
    return _number(table, key, where, key) if key in table else default


def _capability(table: dict[str, Any], where: str) -> tuple[int, int]:
    if "compute_capability" not in table:
        raise ProfileError(f"{where} misses field 'compute_capability' (e.g. \"8.6\")")
    value = table["compute_capability"]
    match = re.fullmatch(r"(\d+)\.(\d)", str(value)) if not isinstance(value, bool) else None
    if match is None:
        raise ProfileError(f"{where} field 'compute_capability' = {value!r} is not MAJOR.MINOR, e.g. \"8.6\"")
    return int(match.group(1)), int(match.group(2))


def profile_from_table(name: str, table: dict[str, Any], where: str, source: str) -> Profile:
    """One [name] table of a profile file, validated field by field (ProfileError: one line)."""
    if not _NAME.fullmatch(name):
        raise ProfileError(f"{where}: a profile name is lower-case letters, digits, '.', '_' or '-'")
    unknown = sorted(set(table) - KNOWN_FIELDS)
    if unknown:
        raise ProfileError(
            f"{where} has unknown field {unknown[0]!r}; known: {', '.join(sorted(KNOWN_FIELDS))}"
        )
    numbers = {key: _number(table, key, where, meaning) for key, meaning in REQUIRED_NUMBERS.items()}
    capability = _capability(table, where)
    efficiency = _optional(table, "efficiency", where, DEFAULT_EFFICIENCY)
    if efficiency is not None and not 0 < efficiency <= 1:
        raise ProfileError(f"{where} field 'efficiency' = {efficiency!r} must be in (0, 1]")
    bf16_tflops = _optional(table, "bf16_tflops", where, None)
    if bf16_tflops is not None and capability < (8, 0):
        raise ProfileError(
            f"{where} field 'bf16_tflops' is set but compute capability "
            f"{capability[0]}.{capability[1]} has no bf16 (8.0+)"
        )
    tensor_cores = table.get("tensor_cores", capability >= (7, 0))
    if not isinstance(tensor_cores, bool):
        raise ProfileError(f"{where} field 'tensor_cores' = {tensor_cores!r} is not true or false")
    issues = _strings(table, "known_issues", where)
    references = _strings(table, "references", where)
    return Profile(
        name=name,
        description=str(table.get("description", name)),
        kind="gpu",
        vram_mib=numbers["vram_gib"] * MIB_PER_GIB,
        bandwidth_gbs=numbers["bandwidth_gbs"],
        fp32_tflops=numbers["fp32_tflops"],
        fp16_tflops=numbers["fp16_tflops"],
        fp16_acc16_tflops=_optional(table, "fp16_acc16_tflops", where, None),
        bf16_tflops=bf16_tflops,
        int8_tops=numbers["int8_tops"],
        tensor_cores=tensor_cores,
        compute_capability=capability,
        known_issues=issues,
        efficiency=float(efficiency or DEFAULT_EFFICIENCY),
        efficiency_source=f"set in {source}" if "efficiency" in table else "default, uncalibrated",
        reserved_mib=float(_optional(table, "reserved_mib", where, DEFAULT_RESERVED_MIB) or 0.0),
        launch_us=float(_optional(table, "launch_us", where, DEFAULT_LAUNCH_US) or DEFAULT_LAUNCH_US),
        launch_source=f"set in {source}" if "launch_us" in table else "default, uncalibrated",
        source=source,
        references=references,
    )


def _strings(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = table.get(key, [])
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ProfileError(f"{where} field {key!r} must be a list of strings")
    return tuple(items)
