"""Between-run noise: how much a row's median latency moves from one honest run to the next.

A run's own spread (its IQR over the timed rounds) says nothing about the machine being a
little faster or slower as a whole for the minute the run took: CPU frequency, a neighbour on
the host, memory placement. On the project's 2-core build VM, seven back-to-back runs of the
same code on an idle machine had round-to-round IQRs of 1-5% but medians that moved by up to
25% between runs (docs/results/2026-12-01-gate-honest-repeats.md), so a gate that knows only
the two runs it compares cries wolf.

**Which runs.** The history is the baseline's *line*: the earlier runs saved under the
baseline's name (every ``NNNN_main`` when the baseline is ``main``), or the runs a glob on the
name selects. Never every run in the storage: in CI the pull requests' runs share the storage
with main's, and a regressed PR's first push would otherwise become the noise that excuses its
second push (docs/results/2026-12-04-gate-second-push.md).

**Which estimator.** Each row's runs are put in time order and the differences of consecutive
log medians taken, ``d = log m[i+1] - log m[i]``; the differences of every matched row are pooled
(the drift is the machine's, and one row's handful of runs is too few alone) and their spread is
read robustly, as a median absolute value::

    sigma_d = 1.4826 * median(|d|)        sigma = sigma_d / sqrt(2)

A step change in the line (a speed-up merged to main, a new driver) is one large difference
among many small ones: the median ignores it, where a standard deviation of the log medians
around their mean counts every run on either side of the step as noise. 1.4826 makes the
median absolute value a standard deviation for normal noise. The median is taken about zero,
not about the differences' own median: two honest runs of the same code differ by zero on
average, and a slow trend is drift the gate must tolerate, not subtract. sigma is one run's
noise; a difference of two runs carries it twice, hence the sqrt(2).
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.loader import RunFile

# Fewer runs of a row than this: no estimate. Three differences, so one step change among them
# cannot move their median.
MIN_RUNS = 4
KEYS = ["model", "variant", "workload", "profile"]
MAD_TO_SIGMA = 1.4826  # 1 / Phi^-1(3/4): median |x| of normal noise is 0.6745 sigma
_STEM = re.compile(r"^\d+_(?P<name>.*)$")  # pytest-benchmark's NNNN_<name>


@dataclass(frozen=True)
class BetweenRunNoise:
    sigma: float  # one run's log-median noise (robust, from consecutive differences)
    runs: int  # distinct run files that contributed
    rows: int  # matched rows that had at least MIN_RUNS runs
    z: float  # how many sigmas of the difference of two runs' log medians are allowed
    line: str = ""  # which runs: the name or glob that selected them

    @property
    def allowance(self) -> float:
        """The log ratio two runs' medians may differ by: each run carries its own noise, hence √2."""
        return self.z * self.sigma * math.sqrt(2.0)

    @property
    def allowance_percent(self) -> float:
        return 100 * math.expm1(self.allowance)

    def describe(self) -> str:
        named = f" named {self.line!r}" if self.line else ""
        return (
            f"between-run noise from {self.runs} runs{named} ({self.rows} rows): "
            f"{100 * self.sigma:.1f}% per run (from consecutive runs); at {self.z:g} sigmas a latency "
            f"change under +{self.allowance_percent:.0f}% cannot be told from noise"
        )


def run_name(file: RunFile) -> str:
    """The name a run was saved under: ``main`` for ``0007_main.json``; the stem otherwise."""
    match = _STEM.match(file.stem)
    return match["name"] if match else file.stem


def line_of(files: list[RunFile], pattern: str) -> list[RunFile]:
    """The runs of one line: those whose name matches ``pattern`` (a glob, case-sensitive)."""
    return [file for file in files if fnmatch.fnmatchcase(run_name(file), pattern)]


def between_run_noise(
    history: pd.DataFrame, keys: list[tuple[str, ...]], machine: str, z: float, line: str = ""
) -> BetweenRunNoise | None:
    """The between-run noise of `keys` in `history` (ok rows of `machine`), or None if too few runs."""
    ok = history[(history["status"] == "ok") & history["latency_median_s"].gt(0)]
    if machine:
        ok = ok[ok["machine"] == machine]
    # Time order (the run's number breaks ties): consecutive means consecutive on the machine.
    order = [column for column in ("datetime", "run") if column in ok.columns]
    ok = ok.sort_values(order, kind="stable").set_index(KEYS)
    ok = ok[ok.index.isin(keys)]
    if ok.empty:
        return None
    logs = np.log(ok["latency_median_s"].astype(float))
    counts = logs.groupby(level=KEYS).count()
    usable = counts[counts >= MIN_RUNS].index
    if usable.empty:
        return None
    logs = logs[logs.index.isin(usable)]
    steps = logs.groupby(level=KEYS, sort=False).diff().dropna()
    sigma = MAD_TO_SIGMA * float(steps.abs().median()) / math.sqrt(2.0)
    runs = ok.loc[ok.index.isin(usable), "run"].nunique()
    return BetweenRunNoise(sigma, int(runs), len(usable), z, line)
