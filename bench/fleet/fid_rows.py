"""`fleet run --quality fid`: the profile's rows get one FID/KID each, made from samples generated
by seed ranges on several nodes of the profile (bench/fleet/fid_shards.py), after its timing.

The nodes' suites run without `--quality` (their FID would be the one-machine one, made again); the
driver scores each `ok` row's variant and workload once its profile's run is assembled, before it is
written. A sharded FID that fails leaves the row's FID null and says why in `quality_note`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.fleet.shards import option_value, without_option

QUALITY = "--quality"
FID = "fid"


def wants_fid(suite_options: Sequence[str]) -> bool:
    return (option_value(suite_options, QUALITY) or "").strip().lower() == FID


def node_options(suite_options: Sequence[str]) -> list[str]:
    """What the nodes' suites get: the options without `--quality` (the driver makes the FID)."""
    return without_option(suite_options, QUALITY) if wants_fid(suite_options) else list(suite_options)


def add_sharded_fid(fid: Any, run: dict[str, Any], say: Any = print) -> int:
    """Every `ok` row of `run` scored by `fid` (a ShardedFid); the number scored."""
    scored = 0
    for record in run.get("benchmarks", []):
        info = record.setdefault("extra_info", {})
        if info.get("status", "ok") != "ok":
            continue
        variant, workload = str(info.get("variant")), info.get("workload")
        try:
            fields = fid.score(variant, workload).fields()
        except Exception as error:  # ShardFailed, FleetError, a node lost: this row has no FID
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            info["quality_note"] = f"sharded FID failed: {reason}"
            say(f"[fleet] {variant} {workload}: sharded FID failed: {reason}")
            continue
        info.update(fields)
        say(
            f"[fleet] {variant} {workload}: FID {fields['fid']:.3f} from {fields['fid_shards']} seed range(s)"
        )
        scored += 1
    return scored
