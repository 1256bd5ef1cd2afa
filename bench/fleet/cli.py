"""`diffbench fleet head|stop|node|status|run|fid`: bad input is one line, exit 2, with nothing started.

    diffbench fleet head [--port 6379] [--client-port 10001] [--print]
    diffbench fleet stop
    diffbench fleet node --address HEAD:6379 [--profile auto|NAME] [--print]
    diffbench fleet status --address HEAD:6379
    diffbench fleet run --address HEAD:6379 --profiles gtx1650,rtx3050 --storage DIR|URL [suite options]
    diffbench fleet fid --address HEAD:6379 --profile P --model M --variants v1,v2 --fid-samples N ...

Everything `fleet run` does not know goes to every node's `pytest bench/` (the suite checks it).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cli_parser import EXIT_BAD_INPUT, OneLineParser
from bench.errors import BenchError
from bench.fleet.cluster import (
    DEFAULT_CLIENT_PORT,
    DEFAULT_GCS_PORT,
    by_profile,
    check_profiles_present,
    check_reachable,
    connect,
    fleet_nodes,
    gpus_per_task,
)
from bench.fleet.cluster import status_lines as cluster_status_lines
from bench.fleet.errors import FleetError, task_error_reason
from bench.fleet.fid_cli import add_fid_parser, fid_command
from bench.fleet.fid_rows import add_sharded_fid, node_options, wants_fid
from bench.fleet.head_ports import check_free, head_ports
from bench.fleet.keeper import RowKeeper
from bench.fleet.log_monitor import relayed_here
from bench.fleet.ray_import import shim_environment
from bench.fleet.resources import AUTO, advertise, check_profile, profile_resource, ray_start_command
from bench.fleet.rows import ShardOutcome, assemble_run, dumps, machine_folder
from bench.fleet.shards import Cell, check_shard_by, parse_shards, plan_cells, variants_option
from bench.fleet.storage import Storage, check_storage, write_run
from bench.fleet.suite_options import workload_labels
from bench.fleet.tasks import ShardResult, ShardTask, run_shard
from bench.suite_process import STOP_GRACE_S

# Options fleet run sets on every node itself; a user's copy would contradict it.
RESERVED_SUITE_OPTIONS = ("--profile", "--benchmark-save", "--benchmark-storage", "--workload-shard")
EXIT_INTERRUPTED = 130
KEEPER_START_TIMEOUT_S = 60.0


def build_parser() -> argparse.ArgumentParser:
    # No abbreviations: the suite's --profile must not be taken for fleet run's --profiles.
    parser = OneLineParser(prog="diffbench fleet", description=__doc__.split("\n")[0], allow_abbrev=False)
    sub = parser.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    head = sub.add_parser(
        "head", help="start this machine as the cluster's head (no profile, no timing)", allow_abbrev=False
    )
    head.add_argument("--port", default=str(DEFAULT_GCS_PORT), help="its GCS port (default 6379)")
    head.add_argument(
        "--client-port", default=str(DEFAULT_CLIENT_PORT), help="its Ray Client port, ray:// (default 10001)"
    )
    head.add_argument("--print", action="store_true", help="print the `ray start` command, run nothing")
    sub.add_parser("stop", help="stop every Ray process of this machine (`ray stop`)", allow_abbrev=False)
    node = sub.add_parser(
        "node", help="join a Ray cluster advertising this node's profile", allow_abbrev=False
    )
    node.add_argument("--address", required=True, help="the head's HOST:PORT (its GCS, `ray start --head`)")
    node.add_argument("--profile", default=AUTO, help="auto (the detected card) or a profile to emulate")
    node.add_argument("--print", action="store_true", help="print the `ray start` command, run nothing")
    status = sub.add_parser("status", help="the cluster's nodes by profile", allow_abbrev=False)
    status.add_argument("--address", required=True, help="HOST:PORT or ray://HOST:PORT")
    run = sub.add_parser(
        "run", help="the suite on one node of each profile; the runs into --storage", allow_abbrev=False
    )
    run.add_argument("--address", required=True, help="HOST:PORT or ray://HOST:PORT")
    run.add_argument("--profiles", required=True, help="comma-separated profiles, e.g. gtx1650,rtx3050")
    run.add_argument(
        "--storage",
        required=True,
        help="a folder, or an fsspec URL (s3://bucket/runs), the runs are written into",
    )
    run.add_argument("--name", default="fleet", help="run name; each profile's run is NAME-PROFILE")
    run.add_argument(
        "--shards",
        default="1",
        help="split each profile's work over N tasks on its nodes, or auto: one per node (default 1)",
    )
    run.add_argument(
        "--shard-by",
        default="auto",
        help="what --shards splits: auto (the workloads of a sweep first, then the variants; default), "
        "workloads, or variants",
    )
    run.add_argument(
        "--fid-shards",
        default="auto",
        help="with --quality fid: seed ranges per variant's FID samples, or auto: one per node (default)",
    )
    run.add_argument(
        "--retries",
        default="2",
        help="times a task is re-run on another node of its profile when its node is lost (default 2)",
    )
    add_fid_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, suite_options = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if suite_options and args.action != "run":
        parser.error(f"unrecognized arguments: {' '.join(suite_options)}")
    try:
        if args.action == "head":
            return head(args)
        if args.action == "stop":
            return _ray(["ray", "stop"])
        if args.action == "node":
            return node(args)
        if args.action == "status":
            return status(args)
        if args.action == "fid":
            return fid_command(args)
        return run(args, suite_options)
    except BenchError as error:  # FleetError, ProfileError: bad input or a cluster that cannot serve it
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def head(args: argparse.Namespace) -> int:
    port, client_port = head_ports(args.port, args.client_port)
    command = [
        "ray",
        "start",
        "--head",
        f"--port={port}",
        f"--ray-client-server-port={client_port}",
        "--num-cpus=0",  # the head schedules; a timing task never lands on it
        "--include-dashboard=false",
    ]
    if args.print:
        print(shlex.join(command))
        return 0
    check_free(port, "--port")
    check_free(client_port, "--client-port")
    print(
        f"[fleet] starting the head: nodes join with diffbench fleet node --address HOST:{port}",
        flush=True,
    )
    # A ray:// driver runs in a process the head's client server starts, with the head's
    # environment: Ray's log settings must be set here to reach it (cluster.connect sets them for a
    # driver on a GCS address).
    return _ray(command, {"RAY_DEDUP_LOGS": "0", "RAY_COLOR_PREFIX": "0"})


def _ray(command: list[str], defaults: dict[str, str] | None = None) -> int:
    """`command` with this environment's `ray`, amdsmi's stand-in where it is needed (ray_import.py);
    `defaults`: environment variables set where the user has not set them."""
    command = [str(Path(sys.executable).with_name("ray")), *command[1:]]
    environment = {**(defaults or {}), **os.environ}
    return subprocess.run(command, env=shim_environment(environment), check=False).returncode


def node(args: argparse.Namespace) -> int:
    advert = advertise(args.profile)
    if args.print:
        # The line may be pasted on another machine: what this one runs says nothing about that one.
        print(shlex.join(ray_start_command(args.address, advert)))
        return 0
    relayed = relayed_here(args.address)
    command = ray_start_command(args.address, advert, log_monitor=not relayed)
    check_reachable(args.address)
    print(f"[fleet] joining {args.address} as {advert.profile} ({advert.gpus} GPU)", flush=True)
    if relayed:
        print(
            "[fleet] a node of this cluster already runs on this machine and relays its logs: this one "
            "starts no log monitor, so each task line reaches the driver once",
            flush=True,
        )
    return _ray(command)


def status(args: argparse.Namespace) -> int:
    ray = connect(args.address)
    try:
        lines = cluster_status_lines(fleet_nodes(ray.nodes()))
    finally:
        ray.shutdown()
    print("\n".join(lines))
    return 0


def run(args: argparse.Namespace, suite_options: list[str]) -> int:
    profiles = list(dict.fromkeys(check_profile(p) for p in args.profiles.split(",") if p.strip()))
    if not profiles:
        raise BenchError(f"--profiles {args.profiles!r} names no profile; give e.g. gtx1650,rtx3050")
    for option in suite_options:
        if option.split("=", 1)[0] in RESERVED_SUITE_OPTIONS:
            raise BenchError(
                f"{option!r}: fleet run sets it on every node; give --profiles / --storage instead"
            )
    retries = _parse_retries(args.retries)
    fid_shards = None if args.fid_shards.strip().lower() == "auto" else parse_shards(args.fid_shards, 1)
    parse_shards(args.shards, 1)  # its spelling, before anything starts (auto is counted later)
    shard_by = check_shard_by(args.shard_by)
    from optimize import BASELINE  # torch: after the options that need none

    variants = _variants(suite_options)
    workloads = workload_labels(suite_options)  # a bad workload option: one line, before any task
    exact = args.shards.strip().lower() != "auto"
    if exact:  # a count with nothing to split: bad input, said before connecting
        plan_cells(variants, workloads, parse_shards(args.shards, 1), shard_by, BASELINE)
    storage = check_storage(args.storage)
    ray = connect(args.address)
    try:
        grouped = by_profile(fleet_nodes(ray.nodes()))
        check_profiles_present(profiles, grouped)
        # Made before any task: its options (--fid-samples, the reference) are checked here.
        from bench.fleet.fid_shards import ShardedFid

        fids = (
            {p: ShardedFid(ray, p, suite_options, fid_shards) for p in profiles}
            if wants_fid(suite_options)
            else {}
        )
        plans = {
            profile: _plan(
                profile,
                plan_cells(
                    variants,
                    workloads,
                    parse_shards(args.shards, len(grouped[profile])),
                    shard_by,
                    BASELINE,
                    exact=exact,
                ),
                node_options(suite_options),
                args.name,
                BASELINE,
            )
            for profile in profiles
        }
        fleet_run = FleetRun(ray, plans, _start_keeper(ray), storage, fids, variants or [], workloads)
        pending = {
            _submit(ray, task, grouped[task.profile], fleet_run.keeper, retries): task
            for plan in plans.values()
            for task in plan
        }
        failed = fleet_run.collect(pending)
    finally:
        ray.shutdown()
    if failed < len(profiles):
        from bench.studies.runner import run_report

        print(f"[fleet] diffbench report compare --by profile {storage}", flush=True)
        run_report(["compare", "--by", "profile", str(storage)])
    return 1 if failed else 0


def _parse_retries(text: str) -> int:
    try:
        retries = int(text)
    except ValueError:
        retries = -1
    if retries < 0:
        raise FleetError(f"--retries {text!r} is not a whole number of 0 or more")
    return retries


def _variants(suite_options: list[str]) -> list[str] | None:
    """The --variants the user gave, as the suite reads them (canonical, baseline first)."""
    text = variants_option(suite_options)
    if text is None:
        return None
    import torch

    from bench.options.model import parse_variants

    try:  # the device only picks the default set, which a given text never uses
        return list(parse_variants(text, torch.device("cpu")))
    except ValueError as error:  # RecipeError: an unknown pass, a bad argument
        raise FleetError(f"--variants {text!r}: {error}") from None


def _plan(profile: str, cells: list[Cell], options: list[str], name: str, baseline: str) -> list[ShardTask]:
    return [
        ShardTask(
            key=f"{profile}/s{number}",
            profile=profile,
            suite_options=tuple(options),
            variants=None if cell.variants is None else tuple(cell.variants),
            baseline=baseline,
            name=f"{name}-{profile}",
            workloads=tuple(cell.workloads),
            workload_share=cell.workload_share,
        )
        for number, cell in enumerate(cells, start=1)
    ]


def _start_keeper(ray: Any) -> Any:
    """The journal keeper, on this driver's node (the one node the run cannot lose)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    # Hard affinity: with soft=True a busy driver node's raylet may spill the keeper to a profile
    # node (seen under load), and losing that node then loses every task's rows with it.
    keeper = (
        ray.remote(RowKeeper)
        .options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False))
        .remote()
    )
    ray.get(keeper.attempts.remote("ready?"), timeout=KEEPER_START_TIMEOUT_S)
    return keeper


def _submit(ray: Any, task: ShardTask, nodes: list[Any], keeper: Any, retries: int) -> Any:
    remote = ray.remote(run_shard).options(
        resources={profile_resource(task.profile): 1},
        num_cpus=1,
        num_gpus=gpus_per_task(nodes),
        max_retries=retries,  # Ray retries a task whose worker or node died, not one that raised
        name=f"diffbench-fleet-{task.key}",
    )
    hosts = ", ".join(sorted({n.host for n in nodes}))
    what = "its default variants" if task.variants is None else ",".join(task.variants)
    if task.workload_share is not None:
        shown = ", ".join(task.workloads[:2]) + (
            f" and {len(task.workloads) - 2} more" if len(task.workloads) > 2 else ""
        )
        what += f" on workload share {task.workload_share} ({shown})"
    print(f"[fleet] {task.key}: submitted, {what} ({len(nodes)} node(s) on {hosts})", flush=True)
    return remote.remote(task, keeper)


def _shard_error(ray: Any, reference: Any, task: ShardTask) -> str | None:
    """None when the shard's suite saved its run; otherwise why not, in one line."""
    try:
        result: ShardResult = ray.get(reference)
    except Exception as error:  # RayTaskError, a node lost more often than --retries allows
        reason = task_error_reason(error)
        print(f"[fleet] {task.key}: failed: {reason}", flush=True)
        return f"the fleet task failed: {reason}"
    where = (
        f"node {result.node_id[:12]} ({result.host}), attempt {result.attempt + 1}, {result.seconds:.0f} s"
    )
    if not result.saved:
        print(f"[fleet] {task.key}: saved no run on {where} (exit status {result.returncode}): {result.tail}")
        return f"the suite saved no run (exit status {result.returncode}): {result.tail}"
    print(f"[fleet] {task.key}: done on {where}", flush=True)
    return None


@dataclass
class FleetRun:
    """What the driver holds while the tasks run: each profile's plan, the keeper, the storage and,
    with --quality fid, each profile's sharded FID."""

    ray: Any
    plans: dict[str, list[ShardTask]]
    keeper: Any
    storage: Storage
    fids: dict[str, Any] = field(default_factory=dict)  # profile -> ShardedFid
    variants: list[str] = field(default_factory=list)  # the suite's order of the rows (empty: as they come)
    workloads: list[str] = field(default_factory=list)

    def collect(self, pending: dict[Any, ShardTask]) -> int:
        """Each profile's run into the storage once all its shards have ended; the number of
        profiles whose run is missing or has error rows."""
        ray, plans = self.ray, self.plans
        ended: dict[str, dict[str, str | None]] = {profile: {} for profile in plans}  # key -> error or None
        failed = 0
        started = time.monotonic()
        try:
            while pending:
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                task = pending.pop(ready)
                ended[task.profile][task.key] = _shard_error(ray, ready, task)
                if len(ended[task.profile]) == len(plans[task.profile]):
                    failed += not self.save(task.profile, ended[task.profile])
        except KeyboardInterrupt:
            for reference in pending:
                ray.cancel(reference)  # KeyboardInterrupt in the task, which stops its suite
            # Each suite runs in a process group of its own, which only its task stops: wait (bounded)
            # for the cancelled tasks to end before this driver disconnects and its workers go.
            ray.wait(list(pending), num_returns=len(pending), timeout=STOP_GRACE_S + 5)
            for task in pending.values():
                ended[task.profile][task.key] = "cancelled by Ctrl-C on the driver"
            for profile, errors in ended.items():
                if len(errors) == len(plans[profile]) and any(errors.values()):
                    self.save(profile, errors, only_with_rows=True, interrupted=True)
            print(
                f"[fleet] interrupted after {time.monotonic() - started:.0f} s: cancelled "
                f"{', '.join(t.key for t in pending.values())}; the rows they had finished and the runs "
                f"already written are in {self.storage}",
                file=sys.stderr,
            )
            raise SystemExit(EXIT_INTERRUPTED) from None
        return failed

    def save(
        self,
        profile: str,
        errors: dict[str, str | None],
        only_with_rows: bool = False,
        interrupted: bool = False,
    ) -> bool:
        """The profile's shards and attempts as one saved run; True when it is whole.
        `only_with_rows`: save nothing unless some attempt finished a row (a run of error rows only
        says nothing a cancelled run's message does not)."""
        tasks = self.plans[profile]
        try:
            outcomes = [
                ShardOutcome(
                    shard=number,
                    variants=list(task.variants or ()),
                    attempts=self.ray.get(
                        self.keeper.attempts.remote(task.key), timeout=KEEPER_START_TIMEOUT_S
                    ),
                    error=errors.get(task.key),
                    workloads=list(task.workloads),
                    workload_share=task.workload_share,
                )
                for number, task in enumerate(tasks, start=1)
            ]
        except Exception as error:  # the keeper died with its node (a driver on a node it then lost)
            print(f"[fleet] {profile}: its rows could not be read back: {type(error).__name__}", flush=True)
            return False
        if only_with_rows and not any(a.rows() for o in outcomes for a in o.attempts):
            return False
        assembled = assemble_run(profile, outcomes, tasks[0].baseline, self.variants, self.workloads)
        folder = machine_folder(outcomes)
        if assembled is None or folder is None:
            print(f"[fleet] {profile}: no row came back; nothing saved", flush=True)
            return False
        if profile in self.fids and not interrupted:
            add_sharded_fid(self.fids[profile], assembled, say=lambda line: print(line, flush=True))
        name = tasks[0].name + ("-partial" if assembled["diffbench"]["partial"] else "")
        try:
            path = write_run(self.storage, f"{folder}/0000_{name}.json", dumps(assembled))
        except FleetError as error:  # the storage went away (credentials, a full disk): others may still land
            print(f"[fleet] {profile}: could not save its run: {error}", flush=True)
            return False
        retried = sum(len(o.attempts) - 1 for o in outcomes)
        rows = len(assembled["benchmarks"]) + len(assembled["diffbench"]["rows"])
        print(
            f"[fleet] {profile}: {rows} row(s) from {len(outcomes)} shard(s), {retried} retry(ies): {path}",
            flush=True,
        )
        return not assembled["diffbench"]["partial"]
