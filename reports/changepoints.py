"""Change points: where a figure's level moved between runs and stayed moved (docs/history.md).

A figure across runs (one variant's median latency, in time order) is taken to be piecewise
constant plus noise, on a log scale so that a step is a relative change (+15% is the same step
at 0.1 s and at 10 s). Following asv's step detection (Friedrich et al. 2008 for the fit, Yao
1988 for choosing how many steps), the steps are those of the piecewise-constant fit that
minimises a Schwarz-type criterion::

    n ln(SSR_k / n)  +  BETA k ln n

``SSR_k`` the least squared error of the log values with k steps (the best placement of k
steps), n the number of runs. The first term is the noise the fit leaves, in units of that same
noise: a step is worth its place when it lowers the residual variance by the factor
``exp(BETA ln n / n)`` (with 20 runs, 3.3x; with 500, 1.1x). So the noise level is never given
and never guessed: it is the fit's own residual, estimated from every run (all n - k - 1 degrees
of freedom, where a difference-based estimate such as the gate's median of consecutive
differences is too unsteady with 10 or 20 runs), and a step's own jump is not counted as noise.
asv uses the same criterion with absolute errors and an approximate search; here the errors are
squared (prefix sums make every segment's cost O(1)) and the search is exact: for each k, the
best placement by dynamic programming over the last segment ("segment neighbourhood", O(k n^2)
arithmetic in numpy; 500 runs take about 50 ms).

**BETA = 8** was chosen by simulation (tests/reports/test_changepoints.py re-checks it): on pure
Gaussian noise no step in 10,000 seeded series of 20 runs nor in any of 50-500 runs, and 7 in
10,000 (0.07%) at 10 runs; a +15% step at run 12 of 20 is found at its run in 300 of 300 seeds
at 2% noise per run, 291 at 3%, 127 at 5% (docs/history.md has the table). Fewer than
``MIN_POINTS`` (8) runs: no steps are placed, because at 4-8 runs the false alarms reach 0.3-1.6%.

**MIN_SEGMENT = 2**: a level must hold for two runs. One run far off (the build VM has honest runs
25% slow) is then an outlier, not two steps; the cost is that a step in the newest run shows only
once a second run confirms it (the gate is what judges the newest run).

**SIGMA_FLOOR** (0.5% of a run): the residual is floored at that noise per run. Figures that
repeat exactly (peak VRAM, FID of fixed seeds) would otherwise have no noise at all and any change,
however small, would be a step; with the floor, 20 such runs need about a 2% change.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BETA = 8.0  # penalty per step, in units of ln n (see the module docstring)
MIN_SEGMENT = 2  # runs a level must hold to count as a level
MIN_POINTS = 8  # fewer runs than this: no step is placed
MAX_STEPS = 30  # steps per series at most (the search is O(MAX_STEPS n^2))
MAX_POINTS = 2000  # longer series: only the newest MAX_POINTS runs are searched (memory is O(n^2))
SIGMA_FLOOR = 0.005  # log units, about 0.5% of a run


@dataclass(frozen=True)
class Step:
    """A change of level: ``index`` is the position of the first point at the new level."""

    index: int
    before: float  # the level before (geometric mean of its segment)
    after: float  # the level after

    @property
    def change(self) -> float:
        """The relative change, ``after / before - 1`` (+0.15 for a 15% step up)."""
        return self.after / self.before - 1.0


@dataclass(frozen=True)
class Fit:
    steps: tuple[Step, ...]
    levels: tuple[tuple[int, int, float], ...]  # (start, end exclusive, level) per segment
    sigma: float  # the fit's residual noise per run, log units (floored)


def detect(values: Sequence[float] | np.ndarray) -> Fit:
    """The steps of one series in time order. ``values`` must be finite and positive."""
    y = np.asarray(values, dtype=float)
    if y.size and (not np.isfinite(y).all() or (y <= 0).any()):
        raise ValueError("change points need finite, positive values (they are found on a log scale)")
    logs = np.log(y)
    n = logs.size
    if n == 0:
        return Fit((), (), math.nan)
    offset = max(0, n - MAX_POINTS)
    starts = [0] if n < MIN_POINTS else [0, *(offset + s for s in _best_starts(logs[offset:]) if s)]
    bounds = [*starts, n]
    levels = tuple(
        (start, end, float(np.exp(logs[start:end].mean()))) for start, end in itertools.pairwise(bounds)
    )
    steps = tuple(Step(a[1], a[2], b[2]) for a, b in itertools.pairwise(levels))
    residual = sum(float(((logs[s:e] - np.log(level)) ** 2).sum()) for s, e, level in levels)
    sigma = max(math.sqrt(residual / max(n - len(levels), 1)), SIGMA_FLOOR)
    return Fit(steps, levels, sigma)


def _best_starts(logs: np.ndarray) -> list[int]:
    """The segment starts of the fit that minimises the criterion (0 first)."""
    n = logs.size
    cost = _segment_costs(logs)
    floor = n * SIGMA_FLOOR**2
    # best[t]: least error of logs[:t] in k + 1 segments; last[k][t]: where its last segment starts.
    best = cost[0].copy()
    last: list[np.ndarray] = [np.zeros(n + 1, dtype=int)]
    chosen, lowest = 0, n * math.log(max(best[n], floor) / n)
    for k in range(1, min(MAX_STEPS, n // MIN_SEGMENT - 1) + 1):
        total = best[:, None] + cost  # [s, t]: the best k-segment fit of logs[:s], then logs[s:t]
        last.append(np.argmin(total, axis=0))
        best = total[last[k], np.arange(n + 1)]
        criterion = n * math.log(max(best[n], floor) / n) + BETA * k * math.log(n)
        if criterion < lowest:
            chosen, lowest = k, criterion
    starts = []
    t = n
    for k in range(chosen, -1, -1):
        t = int(last[k][t]) if k else 0
        starts.append(t)
    return starts[::-1]


def _segment_costs(logs: np.ndarray) -> np.ndarray:
    """``cost[s, t]``: squared error of ``logs[s:t]`` about its mean; inf where that is not a segment.

    A segment is at least MIN_SEGMENT runs long (a first segment too short leaves ``best`` inf
    at its end, so no later segment starts there).
    """
    n = logs.size
    z = logs - logs.mean()  # small prefix sums: the error by subtraction keeps its digits
    s1 = np.concatenate(([0.0], np.cumsum(z)))
    s2 = np.concatenate(([0.0], np.cumsum(z * z)))
    start = np.arange(n + 1)[:, None]
    length = (np.arange(n + 1)[None, :] - start).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = (s2[None, :] - s2[:, None]) - (s1[None, :] - s1[:, None]) ** 2 / length
    cost = np.maximum(cost, 0.0)  # rounding can leave -1e-18 for a constant segment
    cost[length < MIN_SEGMENT] = np.inf
    return cost
