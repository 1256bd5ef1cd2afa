"""tune's timing source on a fleet: each stage's candidates spread over the nodes of one profile.

A stage's recipes are split into min(N, len) balanced groups for the N nodes that advertise the
profile; each group, with the baseline, is one interleaved suite run (the command
SuiteTimingSource builds) in one Ray task asking for `profile:P`, so the groups run at once on
different nodes of that profile. Timings from different cards are never mixed: only nodes of P
are asked, and a candidate is paired only with the baseline timed in the SAME run on the SAME
node (every group times the baseline). The baseline's own Measurement is group 1's.

Each task (bench/fleet/tune_task.py) returns its saved run's JSON text and the suite's output; the
driver writes the run into the tune's storage (bench/fleet/storage.py) and reads it back as
SuiteTimingSource does, and appends the output to the tune's log. A group whose
task failed, or whose suite saved nothing, gives `error` Measurements with the reason, and the
search goes on. The deadline and Ctrl-C cancel the tasks (each stops its suite's process group)
before BudgetExpired / KeyboardInterrupt reaches the race.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.fleet.cluster import FleetNode, gpus_per_task
from bench.fleet.resources import profile_resource
from bench.fleet.storage import write_run
from bench.fleet.tune_task import GroupResult, time_group
from bench.suite_process import STOP_GRACE_S
from bench.tune.candidates import Measurement
from bench.tune.errors import BudgetExpired, TuneError
from bench.tune.suite_source import EXIT_BAD_OPTIONS, SuiteTimingSource, read_measurements, run_name

# How long the driver waits for cancelled tasks to stop their suites before it goes on.
CANCEL_WAIT_S = STOP_GRACE_S + 5


def split_groups(recipes: Sequence[str], nodes: int) -> list[list[str]]:
    """`recipes` (rank order) dealt round-robin into min(nodes, len) groups: sizes differ by at most
    one, and the best ranked are spread over the nodes rather than piled on the first."""
    count = max(1, min(nodes, len(recipes)))
    return [list(recipes[start::count]) for start in range(count)]


@dataclass(frozen=True)
class FleetTarget:
    """The cluster a fleet tune times on: `ray` connected to `address`, the nodes of `profile`."""

    ray: Any
    address: str
    profile: str
    nodes: tuple[FleetNode, ...]


@dataclass(frozen=True)
class GroupRun:
    """One group of a stage: where it ran and what it saved (the answer records them)."""

    stage: str
    recipes: tuple[str, ...]
    node_id: str | None  # None: the task failed before saying where it ran
    host: str | None
    run: str | None  # the saved run in the storage; None: nothing saved


@dataclass
class FleetTimingSource:
    """`suite`: the local source whose options, storage, baseline, interleave mode and deadline
    every group's run uses (_MemoryAwareSource sets its mode through `interleave` and `warmup`)."""

    suite: SuiteTimingSource
    target: FleetTarget
    groups: list[GroupRun] = field(default_factory=list)

    @property
    def interleave(self) -> str:
        return self.suite.interleave

    @interleave.setter
    def interleave(self, value: str) -> None:
        self.suite.interleave = value

    @property
    def warmup(self) -> int:
        return self.suite.warmup

    @warmup.setter
    def warmup(self, value: int) -> None:
        self.suite.warmup = value

    def work_units(self, recipes: Sequence[str], rounds: int) -> float:
        """The largest group's: the groups run side by side."""
        candidates = [r for r in dict.fromkeys(recipes) if r != self.suite.baseline]
        groups = split_groups(candidates, len(self.target.nodes))
        return max(self.suite.work_units(group, rounds) for group in groups)

    def measure(self, recipes: Sequence[str], rounds: int, label: str) -> dict[str, Measurement]:
        suite = self.suite
        if suite.deadline is not None and time.monotonic() >= suite.deadline:
            raise BudgetExpired(f"the budget ran out before the {label} run started")
        candidates = suite.variants(recipes)[1:]
        groups = split_groups(candidates, len(self.target.nodes))
        suite.storage.mkdir(parents=True, exist_ok=True)
        pending = {self._submit(group, rounds, label, number): number for number, group in enumerate(groups)}
        results = self._wait(pending, label)
        measured: dict[str, Measurement] = {}
        for number, group in enumerate(groups):
            from_group = self._read(results[number], group, label, number)
            if number == 0:
                measured[suite.baseline] = from_group[suite.baseline]
            measured.update({recipe: from_group[recipe] for recipe in group})
        return measured

    def nodes_used(self) -> list[dict[str, str]]:
        """Each node that ran a group, in the order first used: `node_id` and `host`."""
        used: dict[str, str] = {}
        for group in self.groups:
            if group.node_id is not None:
                used.setdefault(group.node_id, group.host or "?")
        return [{"node_id": node_id, "host": host} for node_id, host in used.items()]

    def record(self) -> dict[str, Any]:
        """What tune.json's `fleet` says: the cluster, the profile, the nodes it had and used."""
        return {
            "address": self.target.address,
            "profile": self.target.profile,
            "nodes": [{"node_id": n.node_id, "host": n.host} for n in self.target.nodes],
            "nodes_used": self.nodes_used(),
        }

    # -- the tasks ------------------------------------------------------------------------------
    def _submit(self, group: list[str], rounds: int, label: str, number: int) -> Any:
        ray, target = self.target.ray, self.target
        task = ray.remote(time_group).options(
            resources={profile_resource(target.profile): 1},
            num_cpus=1,
            num_gpus=gpus_per_task(target.nodes),
            scheduling_strategy="SPREAD",
            name=f"diffbench-tune-{run_name(label)}-g{number + 1}",
        )
        options = self.suite.options([self.suite.baseline, *group], rounds)
        return task.remote(options, self._name(label, number))

    def _wait(self, pending: dict[Any, int], label: str) -> dict[int, GroupResult | BaseException]:
        """Every group's result (or the error its task raised), by group number."""
        ray, deadline = self.target.ray, self.suite.deadline
        results: dict[int, GroupResult | BaseException] = {}
        try:
            while pending:
                timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=timeout)
                if not ready:
                    self._cancel(pending)
                    raise BudgetExpired(
                        f"the budget ran out during the {label} run; its tasks were cancelled"
                    )
                number = pending.pop(ready[0])
                try:
                    results[number] = ray.get(ready[0])
                except Exception as error:  # RayTaskError, a node lost beyond Ray's retries
                    results[number] = error
        except KeyboardInterrupt:
            self._cancel(pending)
            raise
        return results

    def _cancel(self, pending: dict[Any, int]) -> None:
        ray = self.target.ray
        for reference in pending:
            ray.cancel(reference)  # KeyboardInterrupt in the task, which stops its suite's group
        # The suites run in process groups only their tasks stop: give them the time to.
        ray.wait(list(pending), num_returns=len(pending), timeout=CANCEL_WAIT_S)

    # -- what came back -------------------------------------------------------------------------
    def _read(
        self, result: GroupResult | BaseException, group: list[str], label: str, number: int
    ) -> dict[str, Measurement]:
        variants = [self.suite.baseline, *group]
        name = self._name(label, number)
        if isinstance(result, BaseException):
            self.groups.append(GroupRun(label, tuple(group), None, None, None))
            first_line = (str(result).strip().splitlines() or [type(result).__name__])[0]
            reason = f"the fleet task of {name!r} failed: {first_line}"
            return {variant: Measurement(status="error", reason=reason) for variant in variants}
        where = f"node {result.node_id[:12]} ({result.host})"
        self._log(name, where, result.output)
        if result.relative_path is None or result.text is None:
            self.groups.append(GroupRun(label, tuple(group), result.node_id, result.host, None))
            said = f" (exit status {result.returncode}): {result.tail}"
            if result.returncode in EXIT_BAD_OPTIONS:
                raise TuneError(f"the suite run {name!r} on {where} saved no results" + said)
            reason = f"the suite run {name!r} on {where} ended without saving" + said
            return {variant: Measurement(status="error", reason=reason) for variant in variants}
        path = Path(write_run(self.suite.storage, result.relative_path, result.text))  # a folder: a Path
        self.groups.append(GroupRun(label, tuple(group), result.node_id, result.host, str(path)))
        return read_measurements(path, variants, self.suite.baseline)

    def _log(self, name: str, where: str, output: str) -> None:
        """The group's suite output, appended to the log the local source would write."""
        log = self.suite.log if self.suite.log is not None else self.suite.storage / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.write(f"--- {name} on {where} ---\n{output}")

    @staticmethod
    def _name(label: str, number: int) -> str:
        return f"{run_name(label)}-g{number + 1}"
