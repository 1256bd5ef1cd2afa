"""tune on a fleet: a stage's candidates spread over the nodes of one profile, on a real local Ray
cluster (ray.cluster_utils) of two `cpu` nodes and a `gtx1650` node that must get no task. Every
group is one interleaved suite run on one node with the baseline in it, and each candidate is
paired with the baseline of its own run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from helpers.sigint import ctrl_c_raises
from helpers.suite_process import ROOT

from bench.fleet.cluster import FleetNode, by_profile, fleet_nodes
from bench.fleet.ray_import import import_ray
from bench.fleet.resources import advertise, known_profiles
from bench.fleet.tune_source import FleetTarget, FleetTimingSource, split_groups
from bench.fleet.tune_task import GroupResult
from bench.tune.errors import BudgetExpired, TuneError
from bench.tune.suite_source import SuiteTimingSource, interleaved_units

PROFILE = "cpu"  # the tune's profile: two nodes
OTHER = "gtx1650"  # a node of another profile: its timings must never be mixed in
WORKLOAD = ["--steps", "1", "--resolution", "32"]


# -- the grouping (no cluster) --------------------------------------------------------------------


def test_recipes_are_dealt_into_balanced_groups_one_per_node_at_most() -> None:
    recipes = ["a", "b", "c", "d", "e"]
    assert split_groups(recipes, 2) == [["a", "c", "e"], ["b", "d"]]
    assert split_groups(recipes, 3) == [["a", "d"], ["b", "e"], ["c"]]
    assert split_groups(["a", "b"], 4) == [["a"], ["b"]]  # no node gets an empty group
    assert split_groups([], 3) == [[]]  # the baseline alone still runs somewhere
    for nodes in range(1, 7):
        groups = split_groups(recipes, nodes)
        assert sorted(r for g in groups for r in g) == recipes
        assert max(map(len, groups)) - min(map(len, groups)) <= 1


def _node(number: int) -> FleetNode:
    return FleetNode(node_id=f"node{number}", host="here", profiles=(PROFILE,), gpus=0.0, cpus=1.0)


def test_a_stage_costs_its_largest_group(tmp_path: Path) -> None:
    suite = SuiteTimingSource(suite_options=[], storage=tmp_path, warmup=1)
    target = FleetTarget(ray=None, address="head:6379", profile=PROFILE, nodes=(_node(1), _node(2)))
    source = FleetTimingSource(suite, target)
    # 5 candidates on 2 nodes: groups of 3 and 2, each with the baseline; the larger decides.
    assert source.work_units(["a", "b", "c", "d", "e", "fp32"], 2) == 4 * interleaved_units(2, "resident", 1)
    source.interleave, source.warmup = "reload", 0  # what tune's memory-aware wrapper sets
    assert suite.interleave == "reload" and suite.warmup == 0
    assert source.work_units(["a"], 3) == 2 * interleaved_units(3, "reload", 0)


# -- a real cluster -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """A head with no profile, two 1-CPU `cpu` nodes and one `gtx1650` node; (address, ids by profile)."""
    ray = import_ray()  # sets the environment the cluster's processes inherit (bench/fleet/ray_import.py)
    from ray.cluster_utils import Cluster

    local = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    ids: dict[str, list[str]] = {PROFILE: [], OTHER: []}
    try:
        for name in (PROFILE, PROFILE, OTHER):
            advert = advertise(name)
            node = local.add_node(num_cpus=1, resources=advert.resources, labels=advert.labels)
            ids[name].append(node.node_id)
        ray.init(address=local.address, logging_level="warning", log_to_driver=False)
        yield local.address, ids
    finally:
        ray.shutdown()
        local.shutdown()


def _target(cluster) -> FleetTarget:
    import ray

    address, _ = cluster
    nodes = tuple(by_profile(fleet_nodes(ray.nodes()))[PROFILE])
    return FleetTarget(ray=ray, address=address, profile=PROFILE, nodes=nodes)


def _suite(tmp_path: Path, cache: Path, **settings) -> SuiteTimingSource:
    options = ["--model", "tiny-sd", "--device", "cpu", "--cache-dir", str(cache), "--profile", PROFILE]
    return SuiteTimingSource(
        suite_options=[*options, *WORKLOAD], storage=tmp_path / "runs", log=tmp_path / "suite.log", **settings
    )


@pytest.fixture(scope="module")
def stage(cluster, tmp_path_factory):
    """One pilot stage of three recipes timed on the fleet."""
    tmp_path = tmp_path_factory.mktemp("fleet-tune")
    source = FleetTimingSource(_suite(tmp_path, tmp_path / "cache"), _target(cluster))
    started = time.monotonic()
    measured = source.measure(["bf16", "int8", "fp16"], rounds=2, label="pilot")
    source.seconds = time.monotonic() - started  # type: ignore[attr-defined]
    return source, measured


def test_both_nodes_of_the_profile_time_a_group_and_the_other_profile_none(cluster, stage) -> None:
    _, ids = cluster
    source, _ = stage
    assert [group.recipes for group in source.groups] == [("bf16", "fp16"), ("int8",)]
    used = {group.node_id for group in source.groups}
    assert used == set(ids[PROFILE])  # one group per node: they ran side by side
    assert not used & set(ids[OTHER])
    assert [n["node_id"] for n in source.record()["nodes_used"]] == [g.node_id for g in source.groups]
    assert source.record()["profile"] == PROFILE


def test_every_recipe_is_paired_with_the_baseline_of_its_own_run(stage) -> None:
    source, measured = stage
    assert set(measured) == {"fp32", "bf16", "int8", "fp16"}
    runs = {group.recipes: Path(str(group.run)) for group in source.groups}
    for recipes, run in runs.items():
        document = json.loads(run.read_text())
        rows = {b["extra_info"]["variant"]: b for b in document["benchmarks"]}
        assert set(rows) == {"fp32", *recipes}  # no group lacks the baseline
        base = rows["fp32"]["stats"]["data"]
        for recipe in recipes:
            measurement = measured[recipe]
            assert measurement.ok, measurement.reason
            assert measurement.run == str(run)
            own = rows[recipe]["stats"]["data"]
            assert len(measurement.speedups) == 2
            assert measurement.speedups == pytest.approx([b / o for b, o in zip(base, own, strict=True)])
            assert measurement.psnr_db is not None
    # The baseline's own row is group 1's.
    assert measured["fp32"].ok and measured["fp32"].run == str(runs[("bf16", "fp16")])
    log = (source.suite.log or Path()).read_text()
    assert "--- tune-pilot-g1 on node " in log and "--- tune-pilot-g2 on node " in log


def test_a_deadline_cancels_the_groups_and_stops_their_suites(cluster, tmp_path) -> None:
    suite = _suite(tmp_path, tmp_path / "cache", deadline=time.monotonic() + 4.0)
    source = FleetTimingSource(suite, _target(cluster))
    started = time.monotonic()
    with pytest.raises(BudgetExpired, match="during the late run"):
        source.measure(["bf16", "int8"], rounds=50, label="late")
    assert time.monotonic() - started < 40
    assert _suites_gone("tune-late-g") and not list((tmp_path / "runs").rglob("*.json"))


def test_ctrl_c_cancels_the_groups_and_is_raised_again(cluster, tmp_path) -> None:
    source = FleetTimingSource(_suite(tmp_path, tmp_path / "cache"), _target(cluster))
    running = threading.Event()

    def interrupt_once_both_suites_run() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_suites("tune-interrupted-g")) < 2:
            time.sleep(0.2)
        if len(_suites("tune-interrupted-g")) >= 2:
            running.set()
        os.kill(os.getpid(), signal.SIGINT)

    with ctrl_c_raises():
        threading.Thread(target=interrupt_once_both_suites_run, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            source.measure(["bf16", "int8"], rounds=500, label="interrupted")
    assert running.is_set()
    assert _suites_gone("tune-interrupted-g") and not list((tmp_path / "runs").rglob("*.json"))


def _suites(name: str) -> list[psutil.Process]:
    """The suite processes whose command names `name` (a stage's runs: --benchmark-save=NAME-gK)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = process.info["cmdline"] or []
        if "pytest" in command and any(name in part for part in command):
            found.append(process)
    return found


def _suites_gone(name: str, wait_s: float = 10.0) -> bool:
    """No suite of `name` left, within `wait_s`."""
    deadline = time.monotonic() + wait_s
    while _suites(name) and time.monotonic() < deadline:
        time.sleep(0.5)
    return not _suites(name)


def test_options_the_suite_refuses_are_one_line_on_the_fleet_too(cluster, tmp_path) -> None:
    suite = SuiteTimingSource(suite_options=["--model", "no-such-model"], storage=tmp_path / "runs")
    with pytest.raises(TuneError, match=r"saved no results.*no-such-model") as error:
        FleetTimingSource(suite, _target(cluster)).measure(["bf16"], rounds=1, label="bad")
    assert "\n" not in str(error.value)


def test_a_failed_group_is_error_rows_with_the_reason(tmp_path: Path) -> None:
    # What Ray hands back for a task that died beyond its retries, and a suite killed mid-run
    # (exit -9, nothing saved): the group's variants fail with the reason; the stage goes on.
    suite = SuiteTimingSource(suite_options=[], storage=tmp_path / "runs", log=tmp_path / "suite.log")
    source = FleetTimingSource(suite, FleetTarget(None, "head:6379", PROFILE, (_node(1), _node(2))))
    lost = source._read(RuntimeError("the worker died\nmore"), ["bf16"], "round 1", 1)
    assert {v: m.status for v, m in lost.items()} == {"fp32": "error", "bf16": "error"}
    assert lost["bf16"].reason == "the fleet task of 'tune-round-1-g2' failed: the worker died"
    killed = GroupResult("node2-id", "there", -9, None, None, "collecting\nKilled\n")
    died = source._read(killed, ["int8"], "round 1", 0)
    assert died["int8"].status == "error"
    assert died["int8"].reason == (
        "the suite run 'tune-round-1-g1' on node node2-id (there) ended without saving "
        "(exit status -9): collecting | Killed"
    )
    assert "--- tune-round-1-g1 on node node2-id (there) ---\ncollecting" in suite.log.read_text()
    assert [g.node_id for g in source.groups] == [None, "node2-id"]


# -- the command ----------------------------------------------------------------------------------


def _tune(*options: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "tune", "--model", "tiny-sd", "--min-psnr", "30", *options],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_fleet_without_a_profile_the_nodes_advertise_is_refused_in_one_line(cluster, tmp_path) -> None:
    address, _ = cluster
    missing = _tune("--fleet", address, "--output", str(tmp_path / "a"))
    assert missing.returncode == 2, missing.stderr
    assert missing.stderr.strip().splitlines() == [
        "error: --fleet needs --profile NAME, the profile of the nodes to time on (not auto): one of "
        + ", ".join(known_profiles())
    ]
    absent = _tune("--fleet", address, "--profile", "rtx3080", "--output", str(tmp_path / "b"))
    assert absent.returncode == 2, absent.stderr
    assert absent.stderr.strip().splitlines() == [
        "error: no node of the cluster advertises profile rtx3080; the cluster has: cpu, gtx1650"
    ]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_tune_on_the_fleet_answers_with_the_nodes_it_used(cluster, tmp_path) -> None:
    _, ids = cluster
    out = tmp_path / "out"
    options = ["--fleet", cluster[0], "--profile", PROFILE, "--passes", "bf16,int8", "--max-candidates", "1"]
    cache = str(tmp_path / "cache")
    result = _tune(*options, *WORKLOAD, "--budget", "10m", "--output", str(out), "--cache-dir", cache)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads((out / "tune.json").read_text())
    fleet = answer["fleet"]
    assert fleet["profile"] == PROFILE and fleet["address"] == cluster[0]
    assert sorted(n["node_id"] for n in fleet["nodes"]) == sorted(ids[PROFILE])
    used = {n["node_id"] for n in fleet["nodes_used"]}
    assert used == set(ids[PROFILE])  # the pilot's two passes went to both nodes
    assert answer["stopped"] == "finished" and answer["stages"][0]["stage"] == "pilot"
    # The pilot's two groups are two runs; every measured candidate has paired rounds.
    assert len([r for r in answer["runs"] if "tune-pilot-g" in r]) == 2
    measured = [c for c in answer["candidates"] if c["paired_rounds"]]
    assert {c["recipe"] for c in measured} >= {"bf16", "int8"}
