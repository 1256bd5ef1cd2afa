"""The CI gate scenario of issue 15 (item 2), on synthetic saved runs: what the gate says, case by case.

A storage shared by main and pull requests, as docs/ci/github-workflow.yml sets it up: eight
main runs whose medians drift by ~1% between runs, then a pull request 20% slower pushed twice,
a pull request 2% slower, and a 20% slower one after a 30% speed-up was merged to main. For each
case it prints the runs gated, the between-run noise (sigma per run and the allowance) and the
gate's exit status.

    python tools/gate_scenario.py                       # the gate of this checkout
    python tools/gate_scenario.py --reports-root /tmp/old   # another copy, e.g. `git archive HEAD`

The runs are written with the tests' own builder (tests/helpers/reports_runs.py), so the figures here
are the ones the tests in tests/reports/test_reports_gate.py assert on.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the saved-run builder is a test helper (tests/helpers/)

from helpers.reports_runs import CI_MACHINE_DIR, ci_main_line, ci_newest_main, ci_run, row, write_run  # noqa: E402

NOISE = re.compile(r"between-run noise from (\d+) runs.*?: ([\d.]+)% per run.*?under \+(\d+)%")


@dataclass(frozen=True)
class Case:
    title: str
    prepare: Callable[[Path], None]  # writes the storage's runs
    gate_args: tuple[str, ...] = ()


def _pr(storage: Path, number: int, by: float) -> int:
    """Pull request run ``number``: the newest main run's rows times ``by``."""
    ci_run(storage, number, "pr42", {v: f * by for v, f in ci_newest_main(storage).items()})
    return number


def _first_push(storage: Path) -> None:
    _pr(storage, ci_main_line(storage) + 1, 1.20)


def _second_push(storage: Path) -> None:
    first = _pr(storage, ci_main_line(storage) + 1, 1.20)
    # The same code pushed again drifts like any run: here +0.3% over the first push.
    _pr(storage, first + 1, 1.20 * 1.003)


def _two_percent(storage: Path) -> None:
    _pr(storage, ci_main_line(storage) + 1, 1.02)


def _after_speed_up(storage: Path) -> None:
    _pr(storage, ci_main_line(storage, levels=(1.0,) * 4 + (0.7,) * 4) + 1, 1.20)


CASES = (
    Case("+20% PR, first push", _first_push),
    Case("+20% PR, second push", _second_push),
    Case("+2% PR", _two_percent),
    Case("+2% PR, --latency 1%", _two_percent, ("--latency", "1%")),
    Case("+20% PR after a 30% speed-up merged to main", _after_speed_up),
)


HONEST = REPO / "docs" / "results" / "2026-12-01-gate-honest-repeats.md"
HONEST_ROW = re.compile(r"^\| (\d{4})_\w+ *\| (\w+) *\| *([\d.]+) *\| *([\d.]+) *\| *([\d.]+) *\|")


def honest_repeats(storage: Path) -> list[str]:
    """The seven honest runs of 2026-12-01 (a quiet 2-core VM), rewritten as one line ``NNNN_main``.

    Median, IQR and fastest round per row as that page's table gives them, 5 rounds each.
    """
    runs: dict[str, list[dict]] = {}
    for line in HONEST.read_text().splitlines():
        found = HONEST_ROW.match(line)
        if found:
            number, variant, median, iqr, fastest = found.groups()
            entry = row(variant, float(median), iqr=float(iqr))
            entry["stats"]["min"] = float(fastest)
            runs.setdefault(number, []).append(entry)
    for number, rows in runs.items():
        when = f"2026-12-01T21:{int(number):02d}:00+00:00"
        write_run(storage / CI_MACHINE_DIR / f"{number}_main.json", rows, when=when)
    return [f"{number}_main" for number in runs]


def replay_honest(reports_root: Path, temp: Path) -> int:
    """Every ordered pair of the honest repeats through the gate: the failures are false alarms."""
    storage = temp / "honest"
    stems = honest_repeats(storage)
    failed, allowances = [], []
    for baseline in stems:
        for candidate in stems:
            if baseline == candidate:
                continue
            result = gate(reports_root, storage, (), baseline, candidate)
            if result.returncode not in (0, 1):
                print(f"error: {baseline} -> {candidate}: {result.stderr.strip()}", file=sys.stderr)
                return 2
            found = NOISE.search(result.stdout)
            allowances.append(int(found[3]) if found else -1)
            if result.returncode == 1:
                failed.append(f"{baseline}->{candidate}")
    pairs = len(stems) * (len(stems) - 1)
    print(f"honest pairs failing: {len(failed)} of {pairs} {' '.join(failed)}")
    print(f"allowance: +{min(allowances)}% to +{max(allowances)}%")
    return 0


def gate(
    reports_root: Path,
    storage: Path,
    extra: tuple[str, ...],
    baseline: str = "main",
    candidate: str = "pr42",
) -> subprocess.CompletedProcess[str]:
    # `-m` puts the working folder first on sys.path: run there so that copy's reports/ is the one.
    env = {**os.environ, "PYTHONPATH": str(reports_root)}
    args = ["gate", "--baseline", baseline, "--candidate", candidate, "--storage", str(storage), *extra]
    return subprocess.run(
        [sys.executable, "-m", "reports", *args],
        cwd=reports_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reports-root", type=Path, default=REPO, help="a checkout whose reports/ package runs the gate"
    )
    parser.add_argument(
        "--honest",
        action="store_true",
        help=f"instead: every ordered pair of the honest repeats in {HONEST.name} (false alarms)",
    )
    args = parser.parse_args(argv)
    if not (args.reports_root / "reports" / "gate.py").is_file():
        parser.error(f"--reports-root {args.reports_root}: no reports/gate.py there")
    if args.honest:
        with tempfile.TemporaryDirectory(prefix="gate-honest-") as temp:
            return replay_honest(args.reports_root, Path(temp))
    print("| case | candidate | history | sigma per run | allowance | exit |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="gate-scenario-") as temp:
        for number, case in enumerate(CASES):
            storage = Path(temp) / f"case{number}"
            case.prepare(storage)
            result = gate(args.reports_root, storage, case.gate_args)
            if result.returncode not in (0, 1):
                print(f"error: {case.title}: {result.stderr.strip()}", file=sys.stderr)
                return 2
            found = NOISE.search(result.stdout)
            runs, sigma, allowance = found.groups() if found else ("none", "", "")
            candidate = re.search(r"candidate: .*/(\S+\.json)", result.stdout)
            print(
                f"| {case.title} | {candidate[1] if candidate else '?'} | {runs} runs | "
                f"{sigma and sigma + '%'} | {allowance and '+' + allowance + '%'} | {result.returncode} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
