"""What a fleet run costs and saves on one machine: a local Ray cluster (ray.cluster_utils) of 1-CPU
nodes, each advertising an emulated profile, running the same suite work three ways, interleaved:

- `plain`: `pytest bench/ --profile P` for each profile in turn, no Ray (OMP_NUM_THREADS=1, as Ray
  gives a 1-CPU task);
- `one-node`: `diffbench fleet run --profiles P` for each profile in turn, on a cluster of ONE node
  advertising every profile (what one machine does: a profile after the other; one fleet run
  with both profiles on such a node would time them side by side, because Ray lends a task's CPU
  to another while the first waits in `ray.get`, and only the profile resource is held);
- `two-nodes`: `diffbench fleet run` on a cluster with one node per profile (its tasks side by side).

Each is timed as a user would (the command's wall time, cluster start excluded: a fleet is up
before its runs), `--repeat` times in ABCABC order. Ray's overhead per task is `one-node` minus
`plain` over the number of tasks: connecting, scheduling, a worker, the keeper, the journal
forwarding and the driver's report. Then, with `--kill`, one node-loss run: the node timing a
profile's suite is removed once bf16's row is kept, and what the run saved is counted (rows
recovered from the lost node, rows re-timed on the other).

With `--shard-ways`, instead: one profile on a cluster of two nodes of it, a sweep's work run
three ways, interleaved: `--shards 1` (one task, one node), `--shards 2 --shard-by workloads`
and `--shards 2 --shard-by variants` (the variant groups each time the baseline on every workload).

    python tools/fleet_measure.py --output DIR [--repeat 2] [--kill] [suite options]
    (default suite options: --model tiny-sd --variants fp32,bf16,int8 --steps 4 --rounds 5)
    python tools/fleet_measure.py --output DIR --shard-ways [--repeat 2] [suite options]
    (default suite options: the same with --sweep steps=4,6)

Writes DIR/fleet-measure.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.fleet.ray_import import import_ray  # noqa: E402
from bench.fleet.resources import advertise  # noqa: E402

PROFILES = ("gtx1650", "rtx3050")
DEFAULT_SUITE = ["--model", "tiny-sd", "--variants", "fp32,bf16,int8", "--steps", "4", "--rounds", "5"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def start_cluster(nodes: list[list[str]]) -> Any:
    """A head with no profile and one 1-CPU node per entry, advertising that entry's profiles."""
    import_ray()
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    for profiles in nodes:
        resources: dict[str, float] = {}
        labels: dict[str, str] = {}
        for name in profiles:
            advert = advertise(name)
            resources.update(advert.resources)
            labels.update(advert.labels)
        cluster.add_node(num_cpus=1, resources=resources, labels=labels)
    cluster.wait_for_nodes()
    return cluster


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env or ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])} ... exited {result.returncode}:\n{result.stdout[-3000:]}")
    return seconds, result.stdout


def plain(suite: list[str], storage: Path) -> float:
    total = 0.0
    for profile in PROFILES:
        command = [sys.executable, "-m", "pytest", "bench", "-q", "-p", "no:cacheprovider"]
        command += [
            f"--benchmark-storage={storage}",
            f"--benchmark-save=plain-{profile}",
            f"--profile={profile}",
        ]
        seconds, _ = timed([*command, *suite], {**ENV, "OMP_NUM_THREADS": "1"})
        total += seconds
    return total


def fleet_run(address: str, profiles: tuple[str, ...], suite: list[str], storage: Path) -> tuple[float, str]:
    command = [sys.executable, "-m", "bench", "fleet", "run", "--address", address]
    command += ["--profiles", ",".join(profiles), "--storage", str(storage)]
    return timed([*command, *suite])


def task_seconds(output: str) -> list[float]:
    """The seconds each task reported ("done on node ..., attempt 1, 41 s")."""
    return [float(s) for s in re.findall(r": done on node .*?, attempt \d+, (\d+) s", output)]


def kill_run(suite: list[str], storage: Path) -> dict[str, Any]:
    """A 2-node cluster of one profile; the node timing it removed once bf16's row is kept."""
    cluster = start_cluster([[PROFILES[0]], [PROFILES[0]]])
    try:
        command = [sys.executable, "-m", "bench", "fleet", "run", "--address", cluster.address]
        command += ["--profiles", PROFILES[0], "--storage", str(storage), "--retries", "1", *suite]
        started = time.perf_counter()
        driver = subprocess.Popen(
            command, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        kept = re.compile(rf"\[fleet {PROFILES[0]} @ ([0-9a-f]{{12}})\] row kept: bf16 ")
        lost_at = None
        assert driver.stdout is not None
        for line in driver.stdout:
            if lost_at is None and (match := kept.search(line)):
                node = next(n for n in cluster.worker_nodes if n.node_id.startswith(match.group(1)))
                cluster.remove_node(node, allow_graceful=False)
                lost_at = time.perf_counter() - started
        driver.wait()
        wall = time.perf_counter() - started
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()
    (path,) = storage.rglob("*.json")
    run = json.loads(path.read_text())
    attempts = run["diffbench"]["fleet"]["shards"][0]["attempts"]
    return {
        "exit_status": driver.returncode,
        "wall_s": wall,
        "node_lost_at_s": lost_at,
        "rows_saved": len(run["benchmarks"]) + len(run["diffbench"]["rows"]),
        "attempts": attempts,
        "variants_saved": [b["extra_info"]["variant"] for b in run["benchmarks"]],
    }


SHARD_WAYS = {
    "one-task": ["--shards", "1"],
    "by-workloads": ["--shards", "2", "--shard-by", "workloads"],
    "by-variants": ["--shards", "2", "--shard-by", "variants"],
}


def shard_ways(suite: list[str], work: Path, repeat: int) -> dict[str, Any]:
    """Each way of SHARD_WAYS `repeat` times in ABCABC order on one 2-node cluster of one profile."""
    times: dict[str, list[float]] = {way: [] for way in SHARD_WAYS}
    tasks: dict[str, list[float]] = {way: [] for way in SHARD_WAYS}
    cluster = start_cluster([[PROFILES[0]], [PROFILES[0]]])
    try:
        for number in range(repeat):
            for way, options in SHARD_WAYS.items():
                storage = work / f"{way}-{number}"
                seconds, output = fleet_run(cluster.address, PROFILES[:1], [*options, *suite], storage)
                (path,) = storage.rglob("*.json")
                rows = len(json.loads(path.read_text())["benchmarks"])
                times[way].append(seconds)
                tasks[way].extend(task_seconds(output))
                print(
                    f"{way} #{number + 1}: {seconds:.1f} s, {rows} rows (tasks {task_seconds(output)})",
                    flush=True,
                )
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()
    median = {way: statistics.median(values) for way, values in times.items()}
    return {"suite": suite, "repeat": repeat, "wall_s": times, "task_s": tasks, "median_wall_s": median}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--kill", action="store_true", help="also measure one node-loss run")
    parser.add_argument("--shard-ways", action="store_true", help="measure the ways to shard a sweep instead")
    args, suite = parser.parse_known_args()
    args.output.mkdir(parents=True, exist_ok=True)
    if args.shard_ways:
        with tempfile.TemporaryDirectory(prefix="fleet-measure-") as scratch:
            ways = shard_ways(suite or [*DEFAULT_SUITE, "--sweep", "steps=4,6"], Path(scratch), args.repeat)
        ways["load_1m_after"] = os.getloadavg()[0]
        (args.output / "fleet-shard-ways.json").write_text(json.dumps(ways, indent=2))
        print("| way | runs (s) | median (s) |\n| --- | --- | ---: |")
        for way, values in ways["wall_s"].items():
            print(f"| {way} | {', '.join(f'{v:.1f}' for v in values)} | {ways['median_wall_s'][way]:.1f} |")
        return 0
    suite = suite or DEFAULT_SUITE
    times: dict[str, list[float]] = {"plain": [], "one-node": [], "two-nodes": []}
    tasks: dict[str, list[float]] = {"one-node": [], "two-nodes": []}
    with tempfile.TemporaryDirectory(prefix="fleet-measure-") as scratch:
        work = Path(scratch)
        clusters = {"one-node": [list(PROFILES)], "two-nodes": [[p] for p in PROFILES]}
        for repeat in range(args.repeat):
            times["plain"].append(plain(suite, work / f"plain-{repeat}"))
            print(f"plain #{repeat + 1}: {times['plain'][-1]:.1f} s", flush=True)
            for shape, nodes in clusters.items():
                cluster = start_cluster(nodes)
                try:
                    # One node: a fleet run per profile, in turn; two nodes: one fleet run of both.
                    batches = [(p,) for p in PROFILES] if shape == "one-node" else [PROFILES]
                    seconds, output = 0.0, ""
                    for batch in batches:
                        part_s, part = fleet_run(cluster.address, batch, suite, work / f"{shape}-{repeat}")
                        seconds, output = seconds + part_s, output + part
                finally:
                    import ray

                    ray.shutdown()
                    cluster.shutdown()
                times[shape].append(seconds)
                tasks[shape].extend(task_seconds(output))
                print(f"{shape} #{repeat + 1}: {seconds:.1f} s (tasks {task_seconds(output)})", flush=True)
        killed = kill_run(suite, work / "kill") if args.kill else None
    median = {shape: statistics.median(values) for shape, values in times.items()}
    result = {
        "suite": suite,
        "repeat": args.repeat,
        "wall_s": times,
        "task_s": tasks,
        "median_wall_s": median,
        "overhead_per_task_s": (median["one-node"] - median["plain"]) / len(PROFILES),
        "two_nodes_speedup_vs_one_node": median["one-node"] / median["two-nodes"],
        "kill": killed,
        "load_1m_after": os.getloadavg()[0],
    }
    (args.output / "fleet-measure.json").write_text(json.dumps(result, indent=2))
    print("| way | runs (s) | median (s) |\n| --- | --- | ---: |")
    for shape, values in times.items():
        print(f"| {shape} | {', '.join(f'{v:.1f}' for v in values)} | {median[shape]:.1f} |")
    print(f"overhead per task: {result['overhead_per_task_s']:.1f} s; two nodes vs one: "
          f"{result['two_nodes_speedup_vs_one_node']:.2f}x")  # fmt: skip
    if killed:
        print(json.dumps(killed, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
