"""Between-run noise: how much a row's median latency moves from one honest run to the next.

A run's own spread (its IQR over the timed rounds) says nothing about the machine being a
little faster or slower as a whole for the minute the run took: CPU frequency, a neighbour on
the host, memory placement. On the project's 2-core build VM, seven back-to-back runs of the
same code on an idle machine had round-to-round IQRs of 1-5% but medians that moved by up to
25% between runs (docs/results/2026-12-01-gate-honest-repeats.md), so a gate that knows only
the two runs it compares cries wolf.

The estimate here is a pooled standard deviation of log medians across earlier runs of the
same rows on the same machine: each row's runs are centred on that row's mean log median and
the squared deviations pooled over rows,

    sigma^2 = sum_rows sum_runs (log m - mean_row)^2 / sum_rows (n_row - 1)

It is pooled because the machine's drift is a property of the machine, and one row's handful
of runs is too few to estimate it alone. Outlying runs are kept on purpose: they are the noise
the gate must tolerate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_RUNS = 3  # fewer earlier runs than this: no estimate (one or two runs show no spread)
KEYS = ["model", "variant", "workload", "profile"]


@dataclass(frozen=True)
class BetweenRunNoise:
    sigma: float  # standard deviation of one run's log median around its row's mean
    runs: int  # distinct run files that contributed
    rows: int  # matched rows that had at least MIN_RUNS runs
    z: float  # how many sigmas of the difference of two runs' log medians are allowed

    @property
    def allowance(self) -> float:
        """The log ratio two runs' medians may differ by: each run carries its own noise, hence √2."""
        return self.z * self.sigma * math.sqrt(2.0)

    @property
    def allowance_percent(self) -> float:
        return 100 * math.expm1(self.allowance)

    def describe(self) -> str:
        return (
            f"between-run noise from {self.runs} runs ({self.rows} rows): {100 * self.sigma:.1f}% per run; "
            f"at {self.z:g} sigmas a latency change under +{self.allowance_percent:.0f}% "
            "cannot be told from noise"
        )


def between_run_noise(
    history: pd.DataFrame, keys: list[tuple[str, ...]], machine: str, z: float
) -> BetweenRunNoise | None:
    """The pooled between-run noise of `keys` in `history` (ok rows of `machine`), or None if too few runs."""
    ok = history[(history["status"] == "ok") & history["latency_median_s"].gt(0)]
    if machine:
        ok = ok[ok["machine"] == machine]
    ok = ok.set_index(KEYS)
    ok = ok[ok.index.isin(keys)]
    if ok.empty:
        return None
    logs = np.log(ok["latency_median_s"].astype(float))
    groups = logs.groupby(level=KEYS)
    counts = groups.count()
    usable = counts[counts >= MIN_RUNS].index
    if usable.empty:
        return None
    logs = logs[logs.index.isin(usable)]
    deviations = logs - logs.groupby(level=KEYS).transform("mean")
    dof = int((counts.loc[usable] - 1).sum())
    runs = ok.loc[ok.index.isin(usable), "run"].nunique()
    return BetweenRunNoise(float(math.sqrt((deviations**2).sum() / dof)), int(runs), len(usable), z)
