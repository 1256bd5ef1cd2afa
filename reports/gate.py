"""``gate``: fail CI when a candidate run is slower, heavier or worse than a baseline run.

Rows are matched on model, variant, workload and profile. A matched row regresses when:

- **status**: it was ``ok`` in the baseline and is not in the candidate (oom, nan, error, ...);
- **latency** (noise-aware), all three of:

  1. the candidate's median exceeds the baseline's by more than the threshold (default 10%);
  2. ... and by more than the runs' own spread, i.e. the two medians' notches do not overlap::

         c_med - b_med > 1.57 * (b_iqr / sqrt(b_rounds) + c_iqr / sqrt(c_rounds))

     ``median ± 1.57·IQR/√n`` is the notch of a notched box plot (McGill, Tukey & Larsen,
     1978; the one matplotlib and R draw): two medians whose notches do not overlap differ at
     roughly 95% confidence;
  3. the candidate's fastest round is slower than the baseline's by more than the threshold
     too: slower code slows every round, while other processes on the machine slow some
     rounds and leave the quiet ones (why timeit trusts the minimum);
  4. when earlier runs of the baseline's line (the runs saved under the baseline's name, or
     ``--history-runs GLOB``) hold the same rows on the same machine, at least 4 runs each, the
     change is also beyond the machine's between-run noise:
     ``log(c_med / b_med) > z * sqrt(2) * sigma`` (z = 4, ``--noise-sigmas``), sigma a robust
     estimate from consecutive runs' log medians (reports/history.py), so a step change already
     merged does not count as noise. A whole run can be a few percent to 25% slower on a small VM
     with nothing else running; only history shows that;
- **VRAM** / **RAM**: the peak grows by more than its threshold (default 5% / 10%); these are
  single figures per run, with no spread to test against;
- **FID**: it grows by more than the threshold, in FID points (default 1.0);
- **energy**: ``energy_j`` (joules per generation, hardware counters) grows by more than its
  threshold (default 10%), compared only when both rows were measured with the same counters
  (``energy_counters``). A row whose energy is null on either side (no counter: its
  ``energy_reason``), or measured with other counters, is listed as not compared, with why:
  never a pass or a fail from a missing figure.

Rows present on one side only are listed and do not fail the gate. A latency or status
regression of a row timed while other processes took a share of the CPU (its ``contended``
flag, in either run) is still a regression; the table says which side was contended and a
note says what that means. docs/ci.md
has the rule and how to use it next to ``pytest --benchmark-compare-fail``.
"""

from __future__ import annotations

import argparse
import math
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from reports import frames, output, runs, thresholds
from reports.errors import ReportError, ReportWarning
from reports.history import MIN_RUNS, BetweenRunNoise, between_run_noise, line_of, run_name
from reports.loader import DEFAULT_PATH, RunFile, find_run_files, load

EXIT_REGRESSED = 1
NOTCH = 1.57  # McGill et al.: median ± 1.57·IQR/√n, about 95% confidence for a difference
# Between-run allowance, in sigmas of the difference of two runs' log medians. 4, not 3: run-to-run
# drift has heavy tails (on the build VM 2 of 49 row-runs were 25% off with nothing else running).
HISTORY_Z = 4.0
MATCH = ["model", "variant", "workload", "profile"]
KEEP = [
    *MATCH,
    "status",
    "reason",
    "latency_median_s",
    "latency_iqr_s",
    "latency_min_s",
    "rounds",
    "peak_vram_mib",
    "peak_ram_mib",
    "fid",
    "energy_j",
    "energy_counters",
    "energy_reason",
    "cache_hit",
    "machine",
    "contended",
]
# Read when the runs have them, blank (NA) for runs saved before they existed.
OPTIONAL = ("contended", "energy_j", "energy_counters", "energy_reason")
# The checks a busy machine can fail by itself (a slower median, a timeout), so the ones the
# contended flag is shown on; memory peaks and FID do not depend on other processes.
TIMED = ("latency_median_s", "status")


@dataclass(frozen=True)
class Thresholds:
    latency: float | None = 0.10  # relative
    vram: float | None = 0.05  # relative
    ram: float | None = 0.10  # relative
    fid: float | None = 1.0  # absolute, FID points
    energy: float | None = 0.10  # relative, joules per generation

    def describe(self) -> str:
        def rel(value: float | None) -> str:
            return "off" if value is None else f"+{100 * value:g}%"

        fid = "off" if self.fid is None else f"+{self.fid:g}"
        return (
            f"latency {rel(self.latency)} and beyond the runs' spread, VRAM {rel(self.vram)}, "
            f"RAM {rel(self.ram)}, FID {fid}, energy {rel(self.energy)}"
        )


@dataclass(frozen=True)
class Check:
    """One figure of one matched row, compared."""

    key: tuple[str, ...]
    figure: str
    baseline: float | str
    candidate: float | str
    change: str
    limit: str
    regressed: bool
    note: str = ""
    contended: str = ""  # "", "baseline", "candidate" or "both": whose timing was contended


@dataclass(frozen=True)
class NotCompared:
    """A figure of a matched row the gate could not compare, and why (energy without a counter, a
    latency without timed rounds)."""

    key: tuple[str, ...]
    figure: str
    reason: str


def noise_margin(b_iqr: float, b_rounds: float, c_iqr: float, c_rounds: float) -> float:
    """The sum of the two medians' notch half-widths: a smaller difference is within noise.

    A run without a spread (one round, or no IQR recorded) contributes nothing, so its
    latency is judged on the threshold alone.
    """
    return NOTCH * (_half_notch(b_iqr, b_rounds) + _half_notch(c_iqr, c_rounds))


def _half_notch(iqr: float, rounds: float) -> float:
    if pd.isna(iqr) or pd.isna(rounds) or rounds < 1:
        return 0.0
    return float(iqr) / math.sqrt(float(rounds))


@dataclass(frozen=True)
class Timing:
    """One row's latency statistics over its timed rounds."""

    median: float
    iqr: float
    rounds: float
    fastest: float  # the minimum round

    @classmethod
    def of(cls, row: pd.Series) -> Timing:
        return cls(row["latency_median_s"], row["latency_iqr_s"], row["rounds"], row["latency_min_s"])


@dataclass(frozen=True)
class LatencyVerdict:
    over: bool  # the median grew by more than the threshold
    beyond_notches: bool  # ... and by more than the noise margin
    fastest_slower: bool  # the fastest round grew by more than the threshold too
    margin: float
    beyond_history: bool = True  # ... and beyond the machine's between-run noise (True: no history)

    @property
    def regressed(self) -> bool:
        return self.over and self.beyond_notches and self.fastest_slower and self.beyond_history


def judge_latency(
    b: Timing, c: Timing, limit: float, history: BetweenRunNoise | None = None
) -> LatencyVerdict:
    """The noise rule (docs/ci.md): a regression needs every condition."""
    margin = noise_margin(b.iqr, b.rounds, c.iqr, c.rounds)
    over = c.median > b.median * (1.0 + limit)
    beyond = c.median - b.median > margin
    # Slower code slows every round, the fastest too; another process on the machine slows
    # some rounds and leaves the quiet ones (timeit's reason to trust the minimum).
    fastest = pd.isna(b.fastest) or pd.isna(c.fastest) or c.fastest > b.fastest * (1.0 + limit)
    beyond_history = history is None or math.log(c.median / b.median) > history.allowance
    return LatencyVerdict(bool(over), bool(beyond), bool(fastest), margin, bool(beyond_history))


@dataclass
class GateResult:
    matched: int
    checks: list[Check]
    only_baseline: list[tuple[str, ...]]
    only_candidate: list[tuple[str, ...]]
    notes: list[str]
    not_compared: list[NotCompared] = field(default_factory=list)

    @property
    def regressions(self) -> list[Check]:
        return [check for check in self.checks if check.regressed]


def gate(
    baseline: pd.DataFrame,
    candidate: pd.DataFrame,
    limits: Thresholds,
    history: pd.DataFrame | None = None,
    noise_sigmas: float = HISTORY_Z,
    line: str = "",
) -> GateResult:
    """`history`: earlier runs of the baseline's line (the candidate excluded) for the between-run
    noise term; `line`, the name or glob that selected them (for the report)."""
    b = _keyed(baseline, "baseline")
    c = _keyed(candidate, "candidate")
    shared = [key for key in b.index if key in c.index]
    if not shared:
        raise ReportError(
            f"the two runs share no rows (matched on {', '.join(MATCH)}): "
            f"baseline has {_keys_text(list(b.index))}; candidate has {_keys_text(list(c.index))}"
        )
    noise = _noise(history, shared, b.loc[shared], noise_sigmas, line)
    checks: list[Check] = []
    not_compared: list[NotCompared] = []
    for key in shared:
        if limits.energy is not None and b.loc[key, "status"] == "ok" and c.loc[key, "status"] == "ok":
            energy = _energy(key, b.loc[key], c.loc[key], limits.energy)
            if isinstance(energy, NotCompared):
                not_compared.append(energy)
            else:
                checks.append(energy)
        untimed = _untimed(key, b.loc[key], c.loc[key]) if limits.latency is not None else None
        if untimed is not None:
            not_compared.append(untimed)
        side = _contended(b.loc[key], c.loc[key])
        checks.extend(
            replace(check, contended=side) if check.figure in TIMED else check
            for check in _compare(key, b.loc[key], c.loc[key], limits, noise)
        )
    notes = _notes(b.loc[shared], c.loc[shared])
    if history is not None:
        named = f" named {line!r}" if line else ""
        notes.append(
            noise.describe()
            if noise is not None
            else f"no between-run noise term: the history has fewer than {MIN_RUNS} runs{named} of these "
            "rows on this machine (keep the line's earlier runs in --storage, or select a line with "
            "--history-runs GLOB)"
        )
    contended = {check.key for check in checks if check.regressed and check.contended}
    if contended:
        notes.append(
            f"contended: {len(contended)} regressed row{'s were' if len(contended) > 1 else ' was'} timed "
            "while other processes took more than their share of the CPU (the contended column says in "
            "which run): the slowdown may be the machine's, not the code's; rerun on a quiet machine"
        )
    return GateResult(
        len(shared),
        checks,
        [key for key in b.index if key not in c.index],
        [key for key in c.index if key not in b.index],
        notes,
        not_compared,
    )


def _noise(
    history: pd.DataFrame | None, keys: list[tuple[str, ...]], baseline: pd.DataFrame, z: float, line: str
) -> BetweenRunNoise | None:
    if history is None or history.empty:
        return None
    machines = [m for m in baseline["machine"].dropna().unique() if m]
    machine = machines[0] if len(machines) == 1 else ""
    return between_run_noise(frames.normalised(history), keys, machine, z, line)


def _contended(b: pd.Series, c: pd.Series) -> str:
    """Which run timed this row while contended: "", "baseline", "candidate" or "both"."""
    flags = (("baseline", b["contended"]), ("candidate", c["contended"]))
    sides = [side for side, flag in flags if pd.notna(flag) and bool(flag)]  # NA: an older run, unknown
    return "both" if len(sides) == 2 else "".join(sides)


def _keyed(df: pd.DataFrame, side: str) -> pd.DataFrame:
    df = frames.normalised(df)
    for column in OPTIONAL:
        if column not in df.columns:
            df[column] = pd.NA
    df = df[KEEP]
    keys = df.set_index(MATCH).index
    twice = keys[keys.duplicated()]
    if len(twice):
        raise ReportError(
            f"the {side} run has {len(twice)} rows twice ({_keys_text(list(twice))}); cannot match them"
        )
    return df.set_index(MATCH)


def _compare(
    key: tuple[str, ...], b: pd.Series, c: pd.Series, limits: Thresholds, noise: BetweenRunNoise | None
) -> list[Check]:
    if b["status"] != "ok" or c["status"] != "ok":
        if b["status"] == "ok":
            reason = f": {c['reason']}" if isinstance(c["reason"], str) and c["reason"] else ""
            return [Check(key, "status", "ok", c["status"], f"ok -> {c['status']}", "ok", True, reason[2:])]
        return []  # it did not run in the baseline: nothing to regress from
    checks: list[Check] = []
    if limits.latency is not None and pd.notna(b["latency_median_s"]) and pd.notna(c["latency_median_s"]):
        verdict = judge_latency(Timing.of(b), Timing.of(c), limits.latency, noise)
        regressed = verdict.regressed
        note = f"noise margin {output.number(verdict.margin)} s"
        if verdict.over and not verdict.beyond_notches:
            note = f"within noise: the difference is inside the margin of {output.number(verdict.margin)} s"
        elif verdict.over and not verdict.fastest_slower:
            note = (
                f"within noise: the fastest round did not slow down "
                f"({output.number(b['latency_min_s'])} s -> {output.number(c['latency_min_s'])} s)"
            )
        elif verdict.over and noise is not None and not verdict.beyond_history:
            note = (
                "within noise: inside this machine's between-run noise "
                f"(+{noise.allowance_percent:.0f}%, from history)"
            )
        checks.append(
            _relative(key, "latency_median_s", b, c, limits.latency, regressed=regressed, note=note)
        )
    for figure, limit in (("peak_vram_mib", limits.vram), ("peak_ram_mib", limits.ram)):
        if limit is not None and pd.notna(b[figure]) and pd.notna(c[figure]):
            regressed = c[figure] > b[figure] * (1.0 + limit)
            checks.append(_relative(key, figure, b, c, limit, regressed=regressed))
    if limits.fid is not None and pd.notna(b["fid"]) and pd.notna(c["fid"]):
        change = c["fid"] - b["fid"]
        checks.append(
            Check(key, "fid", b["fid"], c["fid"], f"{change:+.3g}", f"+{limits.fid:g}", change > limits.fid)
        )
    return checks


def _energy(key: tuple[str, ...], b: pd.Series, c: pd.Series, limit: float) -> Check | NotCompared:
    """Energy per generation, only between rows measured by the same counters."""
    missing = [
        f"{side}: {_text(row['energy_reason']) or 'no energy recorded (a run saved before energy_j)'}"
        for side, row in (("baseline", b), ("candidate", c))
        if pd.isna(row["energy_j"])
    ]
    if missing:
        return NotCompared(key, "energy_j", "; ".join(missing))
    counters = (_text(b["energy_counters"]), _text(c["energy_counters"]))
    if counters[0] != counters[1]:
        return NotCompared(
            key,
            "energy_j",
            f"other counters ({counters[0] or '?'} vs {counters[1] or '?'}): not the same energy",
        )
    regressed = c["energy_j"] > b["energy_j"] * (1.0 + limit)
    return _relative(key, "energy_j", b, c, limit, regressed=regressed, note=f"counters {counters[0]}")


def _untimed(key: tuple[str, ...], b: pd.Series, c: pd.Series) -> NotCompared | None:
    """An ok row without a median latency (a damaged or hand-edited entry with no stats) is listed
    as not compared: a missing figure is never a pass."""
    if b["status"] != "ok" or c["status"] != "ok":
        return None
    missing = [side for side, row in (("baseline", b), ("candidate", c)) if pd.isna(row["latency_median_s"])]
    if not missing:
        return None
    return NotCompared(
        key, "latency_median_s", f"no timed rounds in the {' and the '.join(missing)} (no stats)"
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _relative(
    key: tuple[str, ...],
    figure: str,
    b: pd.Series,
    c: pd.Series,
    limit: float,
    regressed: bool,
    note: str = "",
) -> Check:
    before, after = float(b[figure]), float(c[figure])
    change = output.percent(100.0 * (after - before) / before) if before else output.number(after - before)
    return Check(key, figure, before, after, change, f"+{100 * limit:g}%", bool(regressed), note)


def _notes(b: pd.DataFrame, c: pd.DataFrame) -> list[str]:
    notes: list[str] = []
    machines = (set(b["machine"]) | set(c["machine"])) - {""}
    if len(machines) > 1:
        notes.append(
            f"the runs come from different machines ({', '.join(sorted(machines))}): "
            "differences may be the machine's, not the code's"
        )
    hits = pd.concat([b["cache_hit"], c["cache_hit"]], axis=1, keys=["b", "c"]).dropna()
    if (hits["b"] != hits["c"]).any():
        notes.append(
            "some variants came from the variant cache in one run and were built in the other: "
            "their RAM peaks may differ for that reason"
        )
    return notes


def _keys_text(keys: list[tuple[str, ...]], shown: int = 4) -> str:
    if not keys:
        return "no rows"
    text = "; ".join(_key_text(key) for key in keys[:shown])
    return text + (f"; ... ({len(keys)} in all)" if len(keys) > shown else "")


def _key_text(key: tuple[str, ...]) -> str:
    return " / ".join(part for part in key if part)


# --- rendering ----------------------------------------------------------------------------------


def to_markdown(result: GateResult, baseline: str, candidate: str, limits: Thresholds) -> str:
    parts = [
        "# Gate\n\n",
        f"- baseline: {baseline}\n- candidate: {candidate}\n",
        f"- rows matched on {', '.join(MATCH)}: {result.matched}\n",
        f"- thresholds: {limits.describe()}\n",
    ]
    parts.extend(f"- note: {note}\n" for note in result.notes)
    regressions = result.regressions
    if regressions:
        parts.append(f"\n## Regressions ({len(regressions)})\n\n")
        parts.append(_table(regressions))
    else:
        parts.append("\nNo regressions.\n")
    within = [c for c in result.checks if not c.regressed and c.note.startswith("within noise")]
    if within:
        parts.append(f"\n## Over the threshold but within noise ({len(within)}): not failing\n\n")
        parts.append(_table(within))
    for title, keys in (
        ("Only in the baseline", result.only_baseline),
        ("Only in the candidate", result.only_candidate),
    ):
        if keys:
            parts.append(f"\n## {title} ({len(keys)}): not compared\n\n")
            parts.extend(f"- {_key_text(key)}\n" for key in keys)
    if result.not_compared:
        # One line per reason: on a machine without counters every row says the same.
        for figure, title in (("latency_median_s", "Latency"), ("energy_j", "Energy")):
            items = [item for item in result.not_compared if item.figure == figure]
            if not items:
                continue
            by_reason: dict[str, list[tuple[str, ...]]] = {}
            for item in items:
                by_reason.setdefault(item.reason, []).append(item.key)
            parts.append(f"\n## {title} not compared ({len(items)})\n\n")
            parts.extend(f"- {reason}: {_keys_text(keys)}\n" for reason, keys in by_reason.items())
    return "".join(parts)


def _table(checks: list[Check]) -> str:
    frame = pd.DataFrame(
        [
            {
                **dict(zip(MATCH, check.key, strict=True)),
                "figure": check.figure,
                "baseline": output.number(check.baseline),
                "candidate": output.number(check.candidate),
                "change": check.change,
                "limit": check.limit,
                "note": check.note,
                "contended": check.contended,
            }
            for check in checks
        ]
    )
    if not frame["contended"].any():
        frame = frame.drop(columns="contended")  # runs without contention (or too old to say): no column
    return output.markdown(frame, right=["baseline", "candidate", "change", "limit"])


# --- the command ------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "gate",
        help="exit 1 when a candidate run regressed against a baseline run",
        description=(
            "Compare a candidate run with a baseline run, rows matched on model, variant, workload and "
            "profile. Exit 1 with a table of regressions, 0 when there are none, 2 on bad input. "
            "RUN is a run file (or URL), or a run id/name in the storage: 0003, 0003_nightly, nightly."
        ),
    )
    parser.add_argument("--baseline", required=True, metavar="RUN", help="the run to compare against")
    parser.add_argument("--candidate", required=True, metavar="RUN", help="the run under test")
    parser.add_argument(
        "--storage",
        action="append",
        metavar="DIR",
        help=f"where run ids/names are looked up; repeatable (default: {DEFAULT_PATH})",
    )
    parser.add_argument("--latency", default="10%", help="latency threshold, beyond noise (default: 10%%)")
    parser.add_argument("--vram", default="5%", help="peak VRAM threshold (default: 5%%)")
    parser.add_argument("--ram", default="10%", help="peak RAM threshold (default: 10%%)")
    parser.add_argument("--fid", default="1.0", help="FID threshold in FID points (default: 1.0)")
    parser.add_argument(
        "--energy",
        default="10%",
        help="energy per generation threshold, same counters only (default: 10%%)",
    )
    parser.add_argument(
        "--history",
        action="append",
        metavar="DIR",
        help="folders of earlier runs for the between-run noise term; repeatable (default: --storage)",
    )
    parser.add_argument(
        "--history-runs",
        metavar="GLOB",
        help="which of those runs form the history, by the name they were saved under "
        "(main, 'nightly-*'); default: the baseline's name. Never the candidate",
    )
    parser.add_argument(
        "--no-history", action="store_true", help="judge on the two runs alone (no between-run noise term)"
    )
    parser.add_argument(
        "--noise-sigmas",
        default=str(HISTORY_Z),
        help=f"between-run allowance in sigmas of the history's noise (default: {HISTORY_Z:g})",
    )
    parser.add_argument("--output", type=Path, help="also write the report to FILE")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Thresholds first: a typo fails before any file is read.
    limits = Thresholds(
        latency=thresholds.percent(args.latency, "--latency"),
        vram=thresholds.percent(args.vram, "--vram"),
        ram=thresholds.percent(args.ram, "--ram"),
        fid=thresholds.absolute(args.fid, "--fid", "FID points"),
        energy=thresholds.percent(args.energy, "--energy"),
    )
    sigmas = thresholds.absolute(args.noise_sigmas, "--noise-sigmas", "sigmas")
    pattern = thresholds.glob(args.history_runs, "--history-runs") if args.history_runs is not None else None
    storages = args.storage or [str(DEFAULT_PATH)]
    baseline_file = runs.resolve(args.baseline, storages)
    candidate_file = runs.resolve(args.candidate, storages)
    baseline = load([str(baseline_file)], strict=True)
    candidate = load([str(candidate_file)], strict=True)
    use_history = not args.no_history and sigmas is not None
    line = pattern or run_name(baseline_file)
    history = _history(args.history or storages, candidate_file, line) if use_history else None
    result = gate(baseline, candidate, limits, history, sigmas or HISTORY_Z, line)
    text = to_markdown(result, str(baseline_file), str(candidate_file), limits)
    output.emit(text, None)
    if args.output is not None:
        output.emit(text, args.output)
    return EXIT_REGRESSED if result.regressions else 0


def _history(roots: list[str], candidate: RunFile, line: str) -> pd.DataFrame:
    """The readable runs of `line` under `roots` but the candidate; empty when there are none.

    Only the baseline's line: in a storage that CI shares between main and pull requests, a
    regressed PR's earlier push must not count as the machine's noise.
    """
    try:
        files = find_run_files([root if "://" in root else Path(root) for root in roots])
    except ReportError:
        return pd.DataFrame()  # no history folder: the gate judges on the two runs alone
    files = [
        file
        for file in line_of(files, line)
        if str(file) != str(candidate) and not _same_file(file, candidate)
    ]
    if not files:
        return pd.DataFrame()
    with warnings.catch_warnings():
        # A foreign file in the history is not the gate's business; the two runs were read strictly.
        warnings.simplefilter("ignore", ReportWarning)
        try:
            return load([str(file) for file in files])
        except ReportError:
            return pd.DataFrame()


def _same_file(a: RunFile, b: RunFile) -> bool:
    if isinstance(a, Path) and isinstance(b, Path):
        return a.resolve() == b.resolve()
    return False
