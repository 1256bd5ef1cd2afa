"""A second `diffbench tune` of the same search replays the first one's timings.

The variant cache already makes every build of a second tune a load. The timings are the rest
of a search's time (sd15's pilot alone times a dozen variants), so a tune in an output folder
that holds an answer of the *same search* takes that answer's measurements for the stages it
would run again, instead of timing them again. The same search means the same key: the suite
options (model, weights, workload, profile, quality), the device, the machine (CPU name and
flags), the library versions, and the code of models/, optimize/ and bench/. Anything else and
nothing is replayed.

What makes the second answer more than a copy: the confirmation stage (race.py) is never
replayed, so the winner is timed again against the baseline, under today's load, and its
speed-up includes those rounds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.machine import machine_info
from bench.tune.answer import FILE_NAME, measurement_from_record
from bench.tune.candidates import Measurement
from bench.tune.race import TimingSource

_PACKAGES = ("models", "optimize", "bench")
_ROOT = Path(__file__).resolve().parents[2]
# Stages whose measurements are never taken from an earlier answer.
FRESH_STAGES = frozenset({"confirm"})


def code_digest(root: Path = _ROOT) -> str:
    digest = hashlib.sha256()
    for package in _PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def search_key(suite_options: Sequence[str], device: str, baseline: str, plan: dict[str, Any]) -> str:
    """`plan`: the race's own settings (rounds, candidates raced, the passes searched)."""
    machine = machine_info()
    parts: dict[str, Any] = {
        "suite_options": list(suite_options),
        "plan": plan,
        "device": device,
        "baseline": baseline,
        "cpu": machine["cpu"],
        "cpu_flags": machine["cpu_flags"],
        "gpu": machine["gpu"],
        "versions": machine["versions"],
        "code": code_digest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


class ReplayingSource:
    """Answers a stage from the earlier answer for every recipe it measured in the same stage
    (the same key makes the same stages with the same rounds), and times the rest: a search the
    budget stopped goes on where it stopped."""

    def __init__(self, source: TimingSource, earlier: dict[tuple[str, str], Measurement]) -> None:
        self.source = source
        self.earlier = earlier
        self.replayed: list[str] = []

    def work_units(self, recipes: Sequence[str], rounds: int) -> float:
        # As if none were replayed: the guess errs long, and a replayed stage costs nothing anyway.
        return self.source.work_units(recipes, rounds)

    def measure(self, recipes: Sequence[str], rounds: int, label: str) -> dict[str, Measurement]:
        stage = label.replace("-", " ")
        if stage in FRESH_STAGES:
            return self.source.measure(recipes, rounds, label)
        found = {recipe: m for recipe in recipes if (m := self.earlier.get((stage, recipe))) is not None}
        missing = [recipe for recipe in recipes if recipe not in found]
        if found:
            self.replayed.append(stage)
        if not missing:
            return found
        # The rest are timed now, against a baseline of their own run: each measurement's
        # speed-ups are paired within the run that made it, so the two kinds sit side by side.
        return {**found, **self.source.measure(missing, rounds, label)}


def earlier_measurements(candidates: list[dict[str, Any]]) -> dict[tuple[str, str], Measurement]:
    """(stage, recipe) -> Measurement, from an answer's `candidates` (tune.json)."""
    found: dict[tuple[str, str], Measurement] = {}
    for candidate in candidates:
        for raw in candidate.get("measurements") or []:
            if not isinstance(raw, dict) or not raw.get("stage"):
                continue
            try:
                measurement = measurement_from_record(raw)
            except (TypeError, ValueError):
                continue  # a hand-edited or older record: time that stage again
            found[(measurement.stage, candidate["recipe"])] = measurement
    return found


def earlier_answer(folder: Path, key: str) -> dict[tuple[str, str], Measurement]:
    """The measurements of `folder`'s tune.json when it answers the same search; else none.
    A damaged file is no reason to stop: it is read as no answer (search.py sets it aside)."""
    path = folder / FILE_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("search_key") != key:
        return {}
    candidates = document.get("candidates")
    return earlier_measurements(candidates) if isinstance(candidates, list) else {}
