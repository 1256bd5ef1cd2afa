"""The tune search's answer: every candidate's status and reason, the Pareto front, the winner.

`decide` turns the race's measurements into statuses; `winner_line` is the recipe to paste into
`--variants`; `save_answer` writes the answer as `tune.json` (docs/tune-format.md), which
`python -m reports tune` reads; `format_table` is the terminal's table of every candidate.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.tune.candidates import Candidate, Measurement, QualityBound, Status
from bench.tune.errors import TuneError

FORMAT = "diffbench-tune"
FORMAT_VERSION = 1
FILE_NAME = "tune.json"
STOPPED = ("finished", "budget", "interrupted")  # why the search ended

# The table's order: the answer first, then what was measured, then what never ran and why.
TABLE_ORDER: tuple[Status, ...] = (
    Status.WINNER,
    Status.PARETO,
    Status.SLOWER,
    Status.DROPPED,
    Status.OVER_QUALITY,
    Status.FAILED,
    Status.NO_FIT,
    Status.SCREENED,
    Status.NOT_TRIED,
    Status.REFUSED,
)
MEASURED = (Status.WINNER, Status.PARETO, Status.SLOWER, Status.DROPPED)
# Refused candidates sharing a reason are folded into one line once there are more than this.
FOLD_AFTER = 5


# --- the decision --------------------------------------------------------------------------------


def decide(candidates: list[Candidate], bound: QualityBound) -> Candidate | None:
    """Set every measured candidate's status and reason; return the winner, or None.

    A candidate whose last measurement ran ok is judged on it: one whose built variant does not
    fit the profile's memory is `NO_FIT` (the card cannot run it, whatever its quality), one over
    the quality bound `OVER_QUALITY` with the violation as reason. A last measurement that did not
    run ok (oom, nan, error, timeout) makes the candidate `FAILED`, unless it did not fit; an
    `unsupported` row (a refusal only the built pipeline could give) makes it `REFUSED`.

    The rest were measured within the bound (`DROPPED` ones too: they lost a halving round but
    their figures stand). Their Pareto front is taken on speed-up (up) and quality (up: PSNR, or
    minus the FID increase). The winner is the fastest of those that reached the most race rounds:
    a candidate measured in the last round beats one dropped earlier, even when the dropped one's
    fewer rounds gave it a higher median, since the later rounds are the longer, surer figures.
    It wins only with a speed-up over 1; otherwise nothing beats the baseline at this quality and
    the answer is None. The other candidates on the front are `PARETO`; the remaining ones within
    the bound are `SLOWER` (naming one that beats them), or stay `DROPPED`.

    Candidates that were never measured keep the status the screen or the race gave them.
    """
    within: list[Candidate] = []
    for candidate in candidates:
        last = candidate.last
        if last is None:
            if candidate.status is None:
                candidate.status, candidate.reason = Status.NOT_TRIED, candidate.reason or "never measured"
            continue
        verdict = _judge(candidate, last, bound)
        if verdict is None:
            within.append(candidate)
        else:
            candidate.status, candidate.reason = verdict
    ranked = [c for c in within if c.speedup is not None]
    for candidate in within:
        if candidate.speedup is None:
            candidate.status, candidate.reason = (
                Status.SLOWER,
                "no paired speed-up over the baseline measured",
            )
    front = pareto_front(ranked, bound)
    winner = _winner(ranked)
    for candidate in ranked:
        candidate.status, candidate.reason = _place(candidate, winner, front, ranked, bound)
    return winner


def _judge(candidate: Candidate, last: Measurement, bound: QualityBound) -> tuple[Status, str] | None:
    """The status a measured candidate gets before the ranking, or None: within the bound."""
    violation = bound.violation(last) if last.ok else None
    if last.fits is False:
        memory = _memory_text(last)
        why = "the built variant does not fit the profile's memory" + (f" (peak {memory})" if memory else "")
        return Status.NO_FIT, why + (f"; also {violation}" if violation else "")
    if not last.ok:
        if candidate.status == Status.NO_FIT:
            return Status.NO_FIT, candidate.reason
        if last.status == "unsupported":  # refused when built (the family lacks what it needs)
            return Status.REFUSED, last.reason
        return Status.FAILED, f"{last.status}: {last.reason}" if last.reason else last.status
    if violation is not None:
        return Status.OVER_QUALITY, violation
    return None


def quality(candidate: Candidate, bound: QualityBound) -> float:
    """The candidate's quality on the bound's scale, higher is better: PSNR (dB), or minus the FID
    increase. A candidate without the figure ranks last (it cannot be within the bound anyway)."""
    last = candidate.last
    value = None
    if last is not None:
        increase = last.fid_increase
        value = (None if increase is None else -increase) if bound.uses_fid else last.psnr_db
    return -math.inf if value is None or math.isnan(value) else value


def pareto_front(candidates: list[Candidate], bound: QualityBound) -> list[Candidate]:
    """The candidates no other one beats on both speed-up and quality (one of them strictly)."""
    return [c for c in candidates if _dominating(c, candidates, bound) is None]


def _dominating(candidate: Candidate, others: list[Candidate], bound: QualityBound) -> Candidate | None:
    """The fastest of the candidates at least as fast and as good as `candidate`, better in one."""
    speed, good = candidate.speedup or 0.0, quality(candidate, bound)
    beating = [
        other
        for other in others
        if (other.speedup or 0.0) >= speed
        and quality(other, bound) >= good
        and ((other.speedup or 0.0) > speed or quality(other, bound) > good)
    ]
    return max(beating, key=lambda other: other.speedup or 0.0, default=None)


def _winner(ranked: list[Candidate]) -> Candidate | None:
    """The fastest of those the race took furthest (the confirmed finalist, when there is one)."""
    if not ranked:
        return None
    furthest = max(c.furthest_stage for c in ranked)
    finalists = [c for c in ranked if c.furthest_stage == furthest]
    fastest = max(finalists, key=lambda c: c.speedup or 0.0)
    return fastest if (fastest.speedup or 0.0) > 1.0 else None


def _place(
    candidate: Candidate,
    winner: Candidate | None,
    front: list[Candidate],
    ranked: list[Candidate],
    bound: QualityBound,
) -> tuple[Status, str]:
    rounds = len(candidate.measurements)
    if candidate is winner:
        return Status.WINNER, (
            f"the fastest within {bound.describe()} of those the race took furthest "
            f"({_count(rounds, 'timing stage')}, {_count(len(candidate.speedups), 'paired round')})"
        )
    dropped = candidate.status == Status.DROPPED
    if candidate in front:
        why = "no other candidate is both faster and better"
        if winner is None and candidate.speedup is not None and candidate.speedup <= 1.0:
            why += "; not faster than the baseline"
        return Status.PARETO, why + (
            f" (dropped: {candidate.reason})" if dropped and candidate.reason else ""
        )
    if dropped:
        return Status.DROPPED, candidate.reason or f"lost race round {rounds}"
    better = _dominating(candidate, ranked, bound)
    assert better is not None  # off the front: something beats it
    return Status.SLOWER, f"{better.recipe} is faster ({_times(better.speedup)}) and at least as good"


# --- the answer ----------------------------------------------------------------------------------


def winner_line(winner: Candidate, bound: QualityBound, baseline: str = "fp32") -> str:
    """The winning recipe as `--variants` text to paste, with its speed-up, spread and quality."""
    pairs = len(winner.speedups)
    spread = f"IQR {winner.speedup_iqr:.2f}, " if winner.speedup_iqr is not None else ""
    return (
        f"--variants {baseline},{winner.recipe}   # {_times(winner.speedup)} faster per generation than "
        f"{baseline} ({spread}{_count(pairs, 'paired round')}), {quality_text(winner.last, bound, baseline)}"
    )


def quality_text(measurement: Measurement | None, bound: QualityBound, baseline: str = "fp32") -> str:
    """The bound's figure of a measurement: `PSNR 41.3 dB`, `identical to fp32`, `FID +0.42`."""
    if measurement is None:
        return ""
    if bound.uses_fid:
        increase = measurement.fid_increase
        return "" if increase is None else f"FID {increase:+.2f}"
    psnr = measurement.psnr_db
    if psnr is None:
        return ""
    return f"identical to {baseline}" if math.isinf(psnr) and psnr > 0 else f"PSNR {psnr:.1f} dB"


@dataclass
class TuneAnswer:
    """Everything `tune.json` records: what was asked, on what, how the search ended, the candidates.

    `winner` may be left out: it is then the candidate `decide` made the winner, if any.
    """

    command: list[str]  # the command line, as typed
    model: str
    profile: str | None  # None: no hardware profile (the machine as it is)
    device: str
    bound: QualityBound
    budget_s: float | None
    started: datetime | str  # a datetime, or its ISO text
    ended: datetime | str
    stopped: str  # one of STOPPED
    baseline: str  # the baseline's recipe, fp32
    candidates: list[Candidate]
    # The saved runs the race wrote: absolute paths, or paths already relative to the answer's folder.
    runs: list[Path | str] = field(default_factory=list)
    cpu_flags: str | None = None  # the machine's CPU flags line, where the search measured on a CPU
    baseline_median_s: float | None = None  # seconds per generation of the baseline, last round
    note: str = ""  # how it stopped, in words (the stage the budget did not fit, ...)
    stages: list[Sequence[Any]] = field(default_factory=list)  # (label, candidates, rounds, seconds)
    winner: Candidate | None = None
    # Which search this answers (reuse.search_key): a later tune with the same key replays its stages.
    search_key: str | None = None
    # Timed on a fleet (--fleet): its address, profile, the nodes of that profile and those used.
    fleet: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.stopped not in STOPPED:
            raise TuneError(
                f"stopped={self.stopped!r} is not a way a search ends; accepted: {', '.join(STOPPED)}"
            )
        if self.winner is None:
            self.winner = next((c for c in self.candidates if c.status == Status.WINNER), None)

    @property
    def winner_line(self) -> str | None:
        winner = self.winner
        return None if winner is None else winner_line(winner, self.bound, self.baseline)

    @property
    def conclusion(self) -> str:
        """One line: the winner's `--variants` line, or why there is none."""
        if self.winner_line is not None:
            return self.winner_line
        measured = any(c.status in MEASURED for c in self.candidates)
        if measured:
            return f"nothing beats {self.baseline} within {self.bound.describe()}: keep {self.baseline}"
        return f"no candidate was measured within {self.bound.describe()}: no recipe to recommend"


def answer_document(folder: Path, answer: TuneAnswer) -> dict[str, Any]:
    """The JSON document of `tune.json` (docs/tune-format.md); paths relative to `folder`."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "command": list(answer.command),
        "model": answer.model,
        "profile": answer.profile,
        "device": answer.device,
        "cpu_flags": answer.cpu_flags,
        "fleet": answer.fleet,
        "bound": {
            "min_psnr": answer.bound.min_psnr,
            "max_fid_increase": answer.bound.max_fid_increase,
            "text": answer.bound.describe(),
        },
        "budget_s": answer.budget_s,
        "started": _iso(answer.started),
        "ended": _iso(answer.ended),
        "stopped": answer.stopped,
        "note": answer.note,
        "baseline": {"recipe": answer.baseline, "median_s": answer.baseline_median_s},
        "stages": [dict(zip(STAGE_KEYS, stage, strict=True)) for stage in answer.stages],
        "runs": [_relative(run, folder) for run in answer.runs],
        "candidates": [candidate_record(c) for c in table_order(answer.candidates)],
        "search_key": answer.search_key,
        "winner": None if answer.winner is None else answer.winner.recipe,
        "winner_line": answer.winner_line,
        "conclusion": answer.conclusion,
    }


STAGE_KEYS = ("stage", "candidates", "rounds", "seconds")


def _iso(moment: datetime | str) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else moment


def _relative(run: Path | str, folder: Path) -> str:
    path = Path(run)
    return os.path.relpath(path, folder) if path.is_absolute() else str(path)


def candidate_record(candidate: Candidate) -> dict[str, Any]:
    """One candidate as a JSON object: the screen's figures, then the last race round's."""
    last = candidate.last or Measurement(status="")
    return {
        "recipe": candidate.recipe,
        "passes": list(candidate.passes),
        "status": None if candidate.status is None else candidate.status.value,
        "reason": candidate.reason,
        "estimate_mib": candidate.estimate_mib,
        "estimate_bound": candidate.estimate_bound,
        "macs_g": candidate.macs_g,
        "projected_step_ms": candidate.projected_step_ms,
        "predicted_speedup": candidate.predicted_speedup,
        "speedup": candidate.speedup,
        "speedup_iqr": candidate.speedup_iqr,
        "paired_rounds": len(candidate.speedups),
        "rounds_reached": len(candidate.measurements),
        "row_status": last.status or None,
        "median_s": last.median_s,
        "psnr_db": last.psnr_db,
        "fid": last.fid,
        "fid_increase": last.fid_increase,
        "peak_ram_mib": last.peak_ram_mib,
        "peak_vram_mib": last.peak_vram_mib,
        "peak_is_set": last.peak_is_set,
        "fits": last.fits,
        "build_s": last.build_s,
        "run": last.run,
        # Every race stage's measurement as it was: a later tune of the same search replays them.
        "measurements": [measurement_record(m) for m in candidate.measurements],
    }


def measurement_record(measurement: Measurement) -> dict[str, Any]:
    record = asdict(measurement)
    record["speedups"] = list(measurement.speedups)
    return record


def measurement_from_record(record: dict[str, Any]) -> Measurement:
    """The Measurement a `measurements` entry of tune.json was written from: the strings "inf",
    "-inf" and "nan" that stand for non-finite figures are floats again; unknown keys are ignored."""
    known = set(Measurement.__dataclass_fields__)
    values = {key: _float_again(value) for key, value in record.items() if key in known}
    values["speedups"] = tuple(_float_again(s) for s in values.get("speedups") or ())
    return Measurement(**values)


def _float_again(value: Any) -> Any:
    return float(value) if value in ("inf", "-inf", "nan") else value


def save_answer(folder: Path, answer: TuneAnswer) -> Path:
    """Write `folder/tune.json` atomically (a reader never sees half a file) and return its path."""
    path = folder / FILE_NAME
    text = json.dumps(_strict_json(answer_document(folder, answer)), indent=1, allow_nan=False) + "\n"
    handle, temp_name = tempfile.mkstemp(prefix=f".{FILE_NAME}.", suffix=".tmp", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes it private; an answer is for sharing
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _strict_json(value: Any) -> Any:
    """`value` with non-finite floats as the strings "inf", "-inf", "nan": a PSNR of an identical
    image is infinite, and strict JSON (and most readers outside Python) has no such number."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict_json(item) for item in value]
    return value


# --- the terminal's table ------------------------------------------------------------------------


def table_order(candidates: list[Candidate]) -> list[Candidate]:
    """Winner first, then by status (TABLE_ORDER), measured ones fastest first within a status."""
    rank = {status: i for i, status in enumerate(TABLE_ORDER)}

    def key(candidate: Candidate) -> tuple[int, float]:
        place = rank.get(candidate.status, len(rank)) if candidate.status is not None else len(rank)
        measured = candidate.status in MEASURED and candidate.speedup is not None
        return place, -(candidate.speedup or 0.0) if measured else 0.0

    return sorted(candidates, key=key)


TABLE_HEADER = ("status", "recipe", "speed-up", "quality", "peak RAM / VRAM", "reason")


def format_table(answer: TuneAnswer) -> str:
    """Every candidate as a plain-text table for the terminal, in `table_order`; screened-out and
    refused ones that share a reason are one line each reason when there are many."""
    folded = (Status.SCREENED, Status.REFUSED)
    ordered = table_order(answer.candidates)
    rows = [_table_row(c, answer) for c in ordered if c.status not in folded]
    for status in folded:
        rows += _folded_rows(status, [c for c in ordered if c.status == status])
    # The last column (the reason) is left ragged: padding it would only add trailing blanks.
    widths = [max(len(row[i]) for row in [TABLE_HEADER, *rows]) for i in range(len(TABLE_HEADER))]
    rule = tuple("-" * width for width in widths)
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [TABLE_HEADER, rule, *rows]
    ]
    return "\n".join(lines) + "\n"


def _table_row(candidate: Candidate, answer: TuneAnswer) -> tuple[str, ...]:
    status = candidate.status.value if candidate.status else ""
    return (
        status,
        candidate.recipe,
        _speedup_text(candidate),
        *_measured_cells(candidate, answer),
        candidate.reason,
    )


def _measured_cells(candidate: Candidate, answer: TuneAnswer) -> tuple[str, str]:
    last = candidate.last
    if last is None:
        return "", ""
    return quality_text(last, answer.bound, answer.baseline), _memory_text(last)


def _speedup_text(candidate: Candidate) -> str:
    if candidate.speedup is None:
        return ""
    iqr = candidate.speedup_iqr
    return _times(candidate.speedup) + (f" ± {iqr:.2f}" if iqr is not None else "")


def _folded_rows(status: Status, group: list[Candidate]) -> list[tuple[str, ...]]:
    """One row per candidate; past FOLD_AFTER, one per reason: "N recipes" in the recipe
    column (its width stays the recipes'), the first few named after the reason."""
    if len(group) <= FOLD_AFTER:
        return [(status.value, c.recipe, "", "", "", c.reason) for c in group]
    by_reason: dict[str, list[str]] = defaultdict(list)
    for candidate in group:
        by_reason[candidate.reason].append(candidate.recipe)
    rows = []
    for reason, recipes in by_reason.items():
        if len(recipes) == 1:
            rows.append((status.value, recipes[0], "", "", "", reason))
        else:
            rows.append(
                (status.value, f"{len(recipes)} recipes", "", "", "", f"{reason} ({_first_few(recipes)})")
            )
    return rows


def _first_few(names: list[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def _memory_text(measurement: Measurement) -> str:
    ram, vram = measurement.peak_ram_mib, measurement.peak_vram_mib
    if ram is not None and vram is not None:
        return f"{ram:.0f} / {vram:.0f} MiB"
    if ram is not None:
        return f"{ram:.0f} MiB RAM"
    return "" if vram is None else f"{vram:.0f} MiB VRAM"


def _times(speedup: float | None) -> str:
    return "" if speedup is None else f"{speedup:.2f}x"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
