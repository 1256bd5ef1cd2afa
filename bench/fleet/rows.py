"""A profile's rows put back together: shards, attempts after a lost node, and rows that never came.

A fleet task's suite journals each finished row (bench/journal.py) and the task forwards each line
to the driver's keeper (bench/fleet/keeper.py) as it is written. What that gives, per task:
the journal entries of every attempt (an attempt ends when its node is lost or its suite exits),
and the saved run of the attempt that finished. This module, standard library only, decides from
those entries which variants are finished, and assembles the profile's one saved run.

The suite times variants in order, every workload of one variant before the next variant
(bench/suite.py `cases`), and journals each row as it ends. So in an attempt's journal every
variant but the last one seen is finished, and the last one is finished once it has a row for
each workload the baseline had.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reports.record import SCHEMA

RowKey = tuple[str, str]  # (variant, workload)


@dataclass
class Attempt:
    """One try of one task (a shard of a profile) on one node."""

    node_id: str
    host: str
    variants: list[str]  # what this attempt's suite was asked to time
    entries: list[dict[str, Any]] = field(default_factory=list)  # its journal: header, then rows
    saved: dict[str, Any] | None = None  # its saved run, when its suite finished
    folder: str | None = None  # the saved run's machine folder in its storage
    outcome: str = "lost"  # lost (node or worker died) | finished | failed (saved nothing) | cancelled

    def header(self) -> dict[str, Any] | None:
        return next((e for e in self.entries if e.get("kind") == "header"), None)

    def rows(self) -> list[dict[str, Any]]:
        """Its rows as saved-run entries: `{"benchmark": record}` or `{"failure": row}`, in order."""
        if self.saved is not None:
            saved = self.saved
            return [{"benchmark": r} for r in saved.get("benchmarks", [])] + [
                {"failure": r} for r in (saved.get("diffbench") or {}).get("rows", [])
            ]
        out = []
        for entry in self.entries:
            if entry.get("kind") == "benchmark" and isinstance(entry.get("record"), dict):
                out.append({"benchmark": entry["record"]})
            elif entry.get("kind") == "failure" and isinstance(entry.get("row"), dict):
                out.append({"failure": entry["row"]})
        return out

    def machine_folder(self) -> str | None:
        header = self.header()
        return self.folder or (str(header["machine_id"]) if header and header.get("machine_id") else None)


def row_key(row: dict[str, Any]) -> RowKey:
    """(variant, workload) of a `{"benchmark": ...}` or `{"failure": ...}` entry."""
    record = row.get("benchmark") or row.get("failure") or {}
    info = record.get("extra_info") or {}
    return str(info.get("variant", "?")), str(info.get("workload", "?"))


def finished_variants(rows: Sequence[dict[str, Any]], baseline: str) -> set[str]:
    """The variants an attempt's journal shows as finished (see the module's note on order)."""
    seen: list[str] = []
    workloads: dict[str, set[str]] = {}
    for row in rows:
        variant, workload = row_key(row)
        if variant not in seen:
            seen.append(variant)
        workloads.setdefault(variant, set()).add(workload)
    if not seen:
        return set()
    done = set(seen[:-1])
    last = seen[-1]
    if last != baseline and baseline in workloads and workloads[baseline] <= workloads[last]:
        done.add(last)
    return done


def still_to_time(variants: Sequence[str], earlier: Sequence[Attempt], baseline: str) -> list[str]:
    """What a new attempt must time: the baseline when it is among `variants` (the PSNR
    reference of every other variant), then each variant no earlier attempt finished."""
    done: set[str] = set()
    for attempt in earlier:
        done |= finished_variants(attempt.rows(), baseline)
    rest = [v for v in variants if v != baseline and v not in done]
    return [baseline, *rest] if baseline in variants else rest


@dataclass
class ShardOutcome:
    """One shard's variants and every attempt at them, for the profile's assembled run."""

    shard: int
    variants: list[str]
    attempts: list[Attempt]
    error: str | None = None  # why the last attempt gave no saved run, when it gave none
    workloads: list[str] = field(default_factory=list)  # its workloads' labels; empty: not known
    workload_share: str | None = None  # `K/N` when the profile's workloads were split


def machine_folder(shards: Sequence[ShardOutcome]) -> str | None:
    """The machine folder the assembled run is saved under: the first attempt's that names one."""
    return next((f for s in shards for a in s.attempts if (f := a.machine_folder())), None)


def assemble_run(
    profile: str,
    shards: Sequence[ShardOutcome],
    baseline: str,
    variant_order: Sequence[str] = (),
    workload_order: Sequence[str] = (),
) -> dict[str, Any] | None:
    """The profile's one saved run from its shards and their attempts; None when no attempt wrote
    even a journal header (nothing ran: there is no machine to name).

    Each (variant, workload) row is taken from the latest attempt that has it; the baseline's from
    the first shard that has them (every shard times it, as the PSNR reference of its own
    variants). A variant of a failed shard with no row is an `error` row per workload of that
    shard (its planned workloads, else every workload the baseline has), with the reason. The rows
    are in the suite's order (variant-major) as far as `variant_order` and `workload_order` name
    them, as one machine's run would be."""
    headers = [(a, h) for s in shards for a in s.attempts if (h := a.header()) is not None]
    finals = [a.saved for s in shards for a in s.attempts if a.saved is not None]
    if not headers and not finals:
        return None
    chosen: dict[RowKey, dict[str, Any]] = {}
    order: list[RowKey] = []
    for outcome in shards:
        shard_rows: dict[RowKey, dict[str, Any]] = {}
        for attempt in outcome.attempts:  # later attempts overwrite earlier ones
            for row in attempt.rows():
                shard_rows[row_key(row)] = row
        for key, row in shard_rows.items():
            if key[0] == baseline and key in chosen:
                continue
            if key not in chosen:
                order.append(key)
            chosen[key] = row
    workloads = _workloads(chosen, baseline)
    for outcome in shards:
        if outcome.error is None:
            continue
        for variant in outcome.variants:
            for workload in outcome.workloads or workloads or ["?"]:
                if (variant, workload) not in chosen:
                    order.append((variant, workload))
                    chosen[(variant, workload)] = {"failure": _error_row(variant, workload, outcome.error)}
    order = _suite_order(order, variant_order, workload_order)
    base = finals[0] if finals else _run_from_header(headers[0][1])
    run = {key: value for key, value in base.items() if key not in ("benchmarks", "diffbench")}
    run["benchmarks"] = [chosen[k]["benchmark"] for k in order if "benchmark" in chosen[k]]
    extra = dict(base.get("diffbench") or {})
    extra.update(
        schema=extra.get("schema", SCHEMA),
        rows=[chosen[k]["failure"] for k in order if "failure" in chosen[k]],
        partial=any(s.error is not None for s in shards),
        fleet=fleet_record(profile, shards),
    )
    run["diffbench"] = extra
    return run


def fleet_record(profile: str, shards: Iterable[ShardOutcome]) -> dict[str, Any]:
    """Where each shard ran, attempt by attempt: the saved run's `diffbench.fleet`."""
    return {
        "profile": profile,
        "shards": [
            {
                "shard": s.shard,
                "variants": s.variants,
                "workloads": s.workloads or None,
                "workload_share": s.workload_share,
                "error": s.error,
                "attempts": [
                    {
                        "node_id": a.node_id,
                        "host": a.host,
                        "variants": a.variants,
                        "rows": len(a.rows()),
                        "outcome": a.outcome,
                    }
                    for a in s.attempts
                ],
            }
            for s in shards
        ],
    }


def _suite_order(order: list[RowKey], variants: Sequence[str], workloads: Sequence[str]) -> list[RowKey]:
    """`order` sorted variant-major: variants as `variants` names them, then the others in the order
    they first come; within a variant, workloads as `workloads` names them, then the others in
    their place (a stable sort)."""
    variant_rank = {v: i for i, v in enumerate(variants)}
    for variant, _ in order:
        variant_rank.setdefault(variant, len(variant_rank))
    workload_rank = {w: i for i, w in enumerate(workloads)}
    return sorted(order, key=lambda k: (variant_rank[k[0]], workload_rank.get(k[1], len(workload_rank))))


def _workloads(chosen: dict[RowKey, dict[str, Any]], baseline: str) -> list[str]:
    base = [w for v, w in chosen if v == baseline]
    return base or sorted({w for _, w in chosen})


def _error_row(variant: str, workload: str, reason: str) -> dict[str, Any]:
    # The reports fill every other field of a failure row with null (reports/record.py).
    name = f"test_generation[{variant}-{workload}]"
    return {
        "name": name,
        "fullname": f"bench/test_generation.py::{name}",
        "extra_info": {"variant": variant, "workload": workload, "status": "error", "reason": reason},
    }


def _run_from_header(header: dict[str, Any]) -> dict[str, Any]:
    return {
        "machine_info": header.get("machine_info", {}),
        "commit_info": header.get("commit_info", {}),
        "datetime": header.get("started"),
        "version": header.get("version"),
        "benchmarks": [],
        "diffbench": {"schema": header.get("schema", SCHEMA), "rows": []},
    }


def dumps(run: dict[str, Any]) -> str:
    return json.dumps(run, indent=4, default=str)
