"""The gate's verdicts kept beside the runs: the Markdown reports ``gate --output FILE`` writes.

A gate report (reports/gate.py, ``to_markdown``) starts with ``# Gate``, names the two runs
(``- baseline: PATH``, ``- candidate: PATH``) and either says ``No regressions.`` or has a
``## Regressions (N)`` table with one row per regressed figure (model, variant, workload,
profile, figure, ...). The history page shows each candidate run's verdict and marks the
regressed figures; a report that does not parse is skipped with a warning, like a damaged run.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from reports.errors import ReportWarning

TITLE = "# Gate"
_RUN = re.compile(r"^- (baseline|candidate): (.+)$", re.MULTILINE)
_REGRESSIONS = re.compile(r"^## Regressions \((\d+)\)$", re.MULTILINE)
_MATCH = ("model", "variant", "workload", "profile")
_MAX_BYTES = 4_000_000  # a gate report is a few KB; anything larger is not one


@dataclass(frozen=True)
class Regression:
    model: str
    variant: str
    workload: str
    profile: str
    figure: str  # the report column: latency_median_s, peak_vram_mib, status, fid, ...
    change: str


@dataclass(frozen=True)
class GateVerdict:
    report: str  # the report file's path
    baseline: str  # the run file the candidate was gated against, as the report names it
    candidate: str
    regressions: tuple[Regression, ...]

    @property
    def passed(self) -> bool:
        return not self.regressions

    def describe(self) -> str:
        if self.passed:
            return f"gate passed against {Path(self.baseline).stem}"
        figures = ", ".join(f"{r.variant} {r.figure} {r.change}".strip() for r in self.regressions[:4])
        more = f", ... ({len(self.regressions)} in all)" if len(self.regressions) > 4 else ""
        return f"gate failed against {Path(self.baseline).stem}: {figures}{more}"


def find_verdicts(roots: list[str]) -> list[GateVerdict]:
    """Every readable gate report (``*.md`` starting with ``# Gate``) under the local roots."""
    verdicts = []
    for path in _markdown_files(roots):
        try:
            with path.open("rb") as stream:
                head = stream.read(len(TITLE))
                if head.decode("utf-8", "replace") != TITLE:
                    continue  # another Markdown file (a results page, a README): not ours
                text = (head + stream.read(_MAX_BYTES)).decode("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            _warn(f"skipped gate report {path}: cannot read it ({error})")
            continue
        verdict = parse(text, str(path))
        if verdict is None:
            why = "no baseline and candidate, or a regressions table that does not parse"
            _warn(f"skipped gate report {path}: {why}")
            continue
        verdicts.append(verdict)
    return verdicts


def parse(text: str, report: str) -> GateVerdict | None:
    """The verdict of one gate report's text; None when it is not one the gate wrote."""
    # The two runs are named in the head, before any "## " section (whose lists say other things).
    head = text.split("\n## ", 1)[0]
    runs: dict[str, str] = {}
    for side, path in (match.groups() for match in _RUN.finditer(head)):
        runs.setdefault(side, path.strip())
    if set(runs) != {"baseline", "candidate"}:
        return None
    heading = _REGRESSIONS.search(text)
    if heading is None:
        return GateVerdict(report, runs["baseline"], runs["candidate"], ())
    header, rows = _table(text[heading.end() :])
    if not {*_MATCH, "figure"} <= set(header):
        return None
    regressions = tuple(
        Regression(*(row.get(name, "") for name in (*_MATCH, "figure", "change"))) for row in rows
    )
    if len(regressions) != int(heading.group(1)):
        return None  # a truncated or edited table: its verdict cannot be trusted
    return GateVerdict(report, runs["baseline"], runs["candidate"], regressions)


def _table(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """The first Markdown table of ``text``: its header, and each row as column -> cell."""
    lines = [line.strip() for line in text.strip().splitlines()]
    table = []
    for line in lines:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    if len(table) < 2:
        return [], []
    header = table[0]
    return header, [dict(zip(header, row, strict=True)) for row in table[2:] if len(row) == len(header)]


def _markdown_files(roots: list[str]) -> list[Path]:
    found = []
    for root in roots:
        if "://" in root:
            continue  # a remote storage: its gate reports are not searched (runs only)
        path = Path(root)
        if path.is_file():
            found += [path] if path.suffix == ".md" else []
            continue
        for folder, dirs, names in os.walk(path):
            dirs.sort()
            found += [Path(folder, name) for name in sorted(names) if name.endswith(".md")]
    return found


def _warn(message: str) -> None:
    warnings.warn(message, ReportWarning, stacklevel=3)
