"""`diffbench fleet node|status|run`: bad input is one line, exit 2, with nothing started.

    diffbench fleet node --address HEAD:6379 [--profile auto|NAME] [--print]
    diffbench fleet status --address HEAD:6379
    diffbench fleet run --address HEAD:6379 --profiles gtx1650,rtx3050 --storage DIR [suite options]

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
from pathlib import Path
from typing import Any

from bench.cli_parser import EXIT_BAD_INPUT, OneLineParser
from bench.errors import BenchError
from bench.fleet.cluster import by_profile, check_profiles_present, check_reachable, connect, fleet_nodes
from bench.fleet.cluster import status_lines as cluster_status_lines
from bench.fleet.ray_import import shim_environment
from bench.fleet.resources import AUTO, advertise, check_profile, profile_resource, ray_start_command
from bench.fleet.storage import check_storage, write_run
from bench.fleet.tasks import ProfileResult, run_profile_suite
from bench.suite_process import STOP_GRACE_S

# Options fleet run sets on every node itself; a user's copy would contradict it.
RESERVED_SUITE_OPTIONS = ("--profile", "--benchmark-save", "--benchmark-storage")
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    # No abbreviations: the suite's --profile must not be taken for fleet run's --profiles.
    parser = OneLineParser(prog="diffbench fleet", description=__doc__.split("\n")[0], allow_abbrev=False)
    sub = parser.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
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
    run.add_argument("--storage", required=True, help="local folder the runs are written into")
    run.add_argument("--name", default="fleet", help="run name; each profile's run is NAME-PROFILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, suite_options = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if suite_options and args.action != "run":
        parser.error(f"unrecognized arguments: {' '.join(suite_options)}")
    try:
        if args.action == "node":
            return node(args)
        if args.action == "status":
            return status(args)
        return run(args, suite_options)
    except BenchError as error:  # FleetError, ProfileError: bad input or a cluster that cannot serve it
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def node(args: argparse.Namespace) -> int:
    advert = advertise(args.profile)
    command = ray_start_command(args.address, advert)
    if args.print:
        print(shlex.join(command))
        return 0
    check_reachable(args.address)
    command[0] = str(Path(sys.executable).with_name("ray"))  # this environment's Ray
    print(f"[fleet] joining {args.address} as {advert.profile} ({advert.gpus} GPU)", flush=True)
    return subprocess.run(command, env=shim_environment(dict(os.environ)), check=False).returncode


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
    storage = check_storage(args.storage)
    ray = connect(args.address)
    try:
        grouped = by_profile(fleet_nodes(ray.nodes()))
        check_profiles_present(profiles, grouped)
        pending = {
            _submit(ray, profile, grouped[profile], suite_options, args.name): profile for profile in profiles
        }
        failed = _collect(ray, pending, storage)
    finally:
        ray.shutdown()
    if failed < len(profiles):
        from bench.studies.runner import run_report

        print(f"[fleet] diffbench report compare --by profile {storage}", flush=True)
        run_report(["compare", "--by", "profile", str(storage)])
    return 1 if failed else 0


def _submit(ray: Any, profile: str, nodes: list[Any], suite_options: list[str], name: str) -> Any:
    # A GPU profile's nodes get their card (Ray sets CUDA_VISIBLE_DEVICES); a node that emulates a card
    # on its CPU has no GPU to give, and asks for none.
    gpus = 1 if all(n.gpus >= 1 for n in nodes) else 0
    task = ray.remote(run_profile_suite).options(
        resources={profile_resource(profile): 1}, num_cpus=1, num_gpus=gpus, name=f"diffbench-fleet-{profile}"
    )
    hosts = ", ".join(sorted({n.host for n in nodes}))
    print(f"[fleet] {profile}: submitted ({len(nodes)} node(s) on {hosts})", flush=True)
    return task.remote(profile, suite_options, f"{name}-{profile}")


def _collect(ray: Any, pending: dict[Any, str], storage: Path) -> int:
    """Each profile's run into `storage` as it comes back; the number of profiles that saved nothing."""
    failed = 0
    started = time.monotonic()
    try:
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            profile = pending.pop(ready)
            try:
                result: ProfileResult = ray.get(ready)
            except Exception as error:  # the task itself failed (RayTaskError, a node lost for good)
                failed += 1
                print(f"[fleet] {profile}: failed: {str(error).splitlines()[0]}", flush=True)
                continue
            where = f"node {result.node_id[:12]} ({result.host}), {result.seconds:.0f} s"
            if result.relative_path is None or result.text is None:
                failed += 1
                print(
                    f"[fleet] {profile}: saved no run on {where} "
                    f"(exit status {result.returncode}): {result.tail}",
                    flush=True,
                )
                continue
            path = write_run(storage, result.relative_path, result.text)
            print(f"[fleet] {profile}: done on {where}: {path}", flush=True)
    except KeyboardInterrupt:
        for reference in pending:
            ray.cancel(reference)  # KeyboardInterrupt in the task, which stops its suite
        # Each suite runs in a process group of its own, which only its task stops: wait (bounded)
        # for the cancelled tasks to end before this driver disconnects and its workers go.
        ray.wait(list(pending), num_returns=len(pending), timeout=STOP_GRACE_S + 5)
        print(
            f"[fleet] interrupted after {time.monotonic() - started:.0f} s: cancelled "
            f"{', '.join(pending.values())}; the runs already written stay in {storage}",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_INTERRUPTED) from None
    return failed
