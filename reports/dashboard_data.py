"""What the history page shows: the runs in time order, and per model x workload x profile every
variant's figures across them, with their change points (reports/changepoints.py) and the gate's
verdicts (reports/gate_reports.py).

- **Runs** are ordered by the datetime pytest-benchmark saved (then name and path), which is the
  commit order of a line of CI runs; each gets a position ``#1 ... #N`` that every chart shares.
- **A series** is one variant's figure on one machine: a change of machine is not a change of the
  code, so a group run on two machines has two lines per variant (``bf16 @ machine``).
- **Figures** are the metrics below that the runs hold (a column the reader does not know, or that
  no row fills, is left out); only ``ok`` rows with a finite, positive figure are points (steps are
  found on a log scale). A row that did not run is listed with its status and reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import PurePath

import pandas as pd

from reports import changepoints, frames
from reports.gate_reports import GateVerdict, Regression
from reports.record import Column

GROUP = ["model", "workload", "profile"]
# A regressed figure: (run position, model, variant, workload, profile, figure).
MarkKey = tuple[int, str, str, str, str, str]


@dataclass(frozen=True)
class Metric:
    column: str
    title: str
    unit: str
    lower_is_better: bool = True


METRICS: tuple[Metric, ...] = (
    Metric("latency_median_s", "latency per generation (median)", "s"),
    Metric("step_median_ms", "denoising step (median)", "ms"),
    Metric("peak_vram_mib", "peak VRAM (torch allocator)", "MiB"),
    Metric("peak_ram_mib", "peak RAM", "MiB"),
    Metric("energy_j", "energy per generation", "J"),
    Metric("images_per_kwh", "images per kWh", "", lower_is_better=False),
    Metric("fid", "FID", ""),
    Metric("ssim_vs_baseline", "SSIM against the baseline", "", lower_is_better=False),
)

# Where the run's commit is: pytest-benchmark's commit_info (not a column of the run record).
COMMIT_COLUMNS = (
    Column("commit_id", str, (("run", "commit_info", "id"),), "git commit of the run", "", "context"),
    Column("commit_dirty", bool, (("run", "commit_info", "dirty"),), "uncommitted changes", "", "context"),
)


@dataclass(frozen=True)
class RunInfo:
    position: int  # 1-based, in time order
    run: str  # the file's stem
    source: str
    machine: str
    commit: str  # short id, "+dirty" when the tree had changes; "" when not recorded
    when: str  # "YYYY-MM-DD HH:MM" UTC, "" when not recorded
    verdicts: tuple[GateVerdict, ...] = ()


@dataclass(frozen=True)
class Point:
    position: int
    value: float
    regressed: str = ""  # the gate's regression on this figure of this run, described


@dataclass(frozen=True)
class StepMark:
    position: int  # the run of the first point at the new level
    before: float
    after: float
    worse: bool

    @property
    def change(self) -> float:
        return self.after / self.before - 1.0


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[Point, ...]
    steps: tuple[StepMark, ...]
    sigma: float  # the fit's noise per run, log units (NaN with no points)


@dataclass(frozen=True)
class Chart:
    metric: Metric
    series: tuple[Series, ...]


@dataclass(frozen=True)
class Failure:
    position: int
    variant: str
    status: str
    reason: str


@dataclass(frozen=True)
class Group:
    model: str
    workload: str
    profile: str
    positions: tuple[int, ...]  # the runs that hold rows of this group
    charts: tuple[Chart, ...]
    failures: tuple[Failure, ...]

    @property
    def title(self) -> str:
        return " · ".join(part for part in (self.model, self.workload, self.profile) if part) or "(unnamed)"


@dataclass(frozen=True)
class Dashboard:
    runs: tuple[RunInfo, ...]
    groups: tuple[Group, ...]
    unmatched: tuple[GateVerdict, ...] = field(default=())  # gate reports of runs not among these

    @property
    def steps(self) -> list[tuple[Group, Chart, Series, StepMark]]:
        return [
            (group, chart, series, step)
            for group in self.groups
            for chart in group.charts
            for series in chart.series
            for step in series.steps
        ]


def build(df: pd.DataFrame, verdicts: list[GateVerdict]) -> Dashboard:
    """The page's content from the loaded runs (``load(..., extra=COMMIT_COLUMNS)``)."""
    df = _own_peaks_only(frames.first_per_run(frames.normalised(df)))
    runs, position_of = _runs(df)
    runs, unmatched = _attach(runs, verdicts)
    df = df.assign(position=df["source"].map(position_of))
    regressions = _regressions(runs)
    metrics = [m for m in METRICS if m.column in df.columns and df[m.column].notna().any()]
    groups = []
    for key, rows in df.groupby(GROUP, sort=True):
        groups.append(_group(key, rows, metrics, regressions))  # type: ignore[arg-type]
    return Dashboard(tuple(runs), tuple(groups), tuple(unmatched))


# A resident interleaved row's peaks are the whole set's (bench/interleave.py: its ram_source ends
# in this): not the variant's figure, so it has no place on the variant's line.
SET_PEAK_SUFFIX = "/set"
PEAK_COLUMNS = ("peak_ram_mib", "peak_vram_mib")


def _own_peaks_only(df: pd.DataFrame) -> pd.DataFrame:
    if "ram_source" not in df.columns:
        return df
    shared = df["ram_source"].astype("string").str.endswith(SET_PEAK_SUFFIX).fillna(False).astype(bool)
    if not shared.any():
        return df
    df = df.copy()
    for column in PEAK_COLUMNS:
        if column in df.columns:
            df.loc[shared, column] = float("nan")
    return df


def _runs(df: pd.DataFrame) -> tuple[list[RunInfo], dict[str, int]]:
    first = df.groupby("source", sort=False, as_index=False).first()
    first = first.sort_values(["datetime", "run", "source"], na_position="last", kind="stable")
    runs = []
    for position, (_, row) in enumerate(first.iterrows(), start=1):
        runs.append(
            RunInfo(position, row["run"], row["source"], row["machine"], _commit(row), _when(row["datetime"]))
        )
    return runs, {run.source: run.position for run in runs}


def _commit(row: pd.Series) -> str:
    commit = row.get("commit_id")
    if not isinstance(commit, str) or not commit:
        return ""
    dirty = row.get("commit_dirty")
    return commit[:9] + ("+dirty" if dirty is True else "")


def _when(stamp: object) -> str:
    return f"{stamp:%Y-%m-%d %H:%M}" if isinstance(stamp, pd.Timestamp) and pd.notna(stamp) else ""


def _attach(runs: list[RunInfo], verdicts: list[GateVerdict]) -> tuple[list[RunInfo], list[GateVerdict]]:
    """Each verdict on the run it judged (its candidate); those of runs not here, apart."""
    by_run: dict[int, list[GateVerdict]] = {}
    unmatched = []
    for verdict in verdicts:
        run = _candidate_run(runs, verdict.candidate)
        if run is None:
            unmatched.append(verdict)
        else:
            by_run.setdefault(run.position, []).append(verdict)
    attached = [replace(run, verdicts=tuple(by_run.get(run.position, ()))) for run in runs]
    return attached, unmatched


def _candidate_run(runs: list[RunInfo], candidate: str) -> RunInfo | None:
    """The run a report's candidate path names: the same path, else the one run whose path ends
    with it (the gate ran elsewhere, with a relative path), else the one run of that stem."""
    wanted = PurePath(candidate)
    for test in (
        lambda run: PurePath(run.source) == wanted,
        lambda run: PurePath(run.source).parts[-len(wanted.parts) :] == wanted.parts,
        lambda run: run.run == wanted.stem,
    ):
        found = [run for run in runs if test(run)]
        if len(found) == 1:
            return found[0]
        if found:
            return None  # ambiguous: better no mark than a mark on the wrong run
    return None


def _regressions(runs: list[RunInfo]) -> dict[MarkKey, Regression]:
    marks = {}
    for run in runs:
        for verdict in run.verdicts:
            for r in verdict.regressions:
                marks[(run.position, r.model, r.variant, r.workload, r.profile, r.figure)] = r
    return marks


def _group(
    key: tuple[str, str, str],
    rows: pd.DataFrame,
    metrics: list[Metric],
    regressions: dict[MarkKey, Regression],
) -> Group:
    model, workload, profile = key
    machines = rows["machine"].nunique()
    ok = rows[rows["status"] == "ok"]
    charts = []
    for metric in metrics:
        series = []
        for (variant, machine), line in ok.groupby(["variant", "machine"], sort=True):
            label = f"{variant} @ {machine}" if machines > 1 else str(variant)
            values = pd.to_numeric(line[metric.column], errors="coerce").astype(float)
            usable = line.assign(value=values)[values.map(lambda v: math.isfinite(v) and v > 0)]
            if usable.empty:
                continue
            usable = usable.sort_values("position", kind="stable")
            points = tuple(
                Point(
                    int(p),
                    float(v),
                    _regressed(regressions, (int(p), model, str(variant), workload, profile, metric.column)),
                )
                for p, v in zip(usable["position"], usable["value"], strict=True)
            )
            series.append(_series(label, points, metric))
        if series:
            charts.append(Chart(metric, tuple(series)))
    failed = rows[rows["status"] != "ok"].sort_values("position", kind="stable")
    failures = tuple(
        Failure(int(r.position), str(r.variant), str(r.status), r.reason if isinstance(r.reason, str) else "")
        for r in failed.itertuples(index=False)
    )
    positions = tuple(sorted(int(p) for p in rows["position"].unique()))
    return Group(model, workload, profile, positions, tuple(charts), failures)


def _regressed(regressions: dict[MarkKey, Regression], key: MarkKey) -> str:
    found = regressions.get(key)
    return f"gate: regressed {found.change}".strip() if found else ""


def _series(label: str, points: tuple[Point, ...], metric: Metric) -> Series:
    fit = changepoints.detect([point.value for point in points])
    steps = tuple(
        StepMark(
            points[step.index].position,
            step.before,
            step.after,
            worse=(step.after > step.before) == metric.lower_is_better,
        )
        for step in fit.steps
    )
    return Series(label, points, steps, fit.sigma)
