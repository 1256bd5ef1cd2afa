"""`--workload-shard K/N`: the suite times only its Kth share of the workloads, for `fleet run`.

The workloads (one, or a sweep's, bench/sweep.py) are dealt round-robin into N shares in the
sweep's own order, and the suite keeps share K. Every node expands the same options the same way,
so the N suites of a fleet run time disjoint workloads that together are all of them; each suite
times the baseline on its own workloads, so each row still has its PSNR reference in its session.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

from bench.errors import BenchError

T = TypeVar("T")
_SHARE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_workload_shard(text: str | None) -> tuple[int, int] | None:
    """(K, N) from `K/N` with 1 <= K <= N; None when not given."""
    if text is None:
        return None
    match = _SHARE.fullmatch(str(text))
    share = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not 1 <= share[0] <= share[1]:
        raise BenchError(f"--workload-shard {text!r} is not K/N with 1 <= K <= N, e.g. 1/2")
    return share


def deal(items: Sequence[T], shares: int) -> list[list[T]]:
    """`items` dealt round-robin into `shares` lists (share k holds items k, k+N, k+2N, ...)."""
    return [list(items[k::shares]) for k in range(shares)]


def select_share(workloads: Sequence[T], text: str | None) -> tuple[T, ...]:
    """The workloads `--workload-shard` keeps (all of them when it is not given)."""
    share = parse_workload_shard(text)
    if share is None:
        return tuple(workloads)
    k, n = share
    if n > len(workloads):
        raise BenchError(
            f"--workload-shard {text!r}: the options give {len(workloads)} workload(s), fewer than "
            f"{n} shares; give N of at most {len(workloads)}"
        )
    return tuple(deal(workloads, n)[k - 1])
