"""diffbench fleet on a real Ray cluster of two local nodes (ray.cluster_utils), each advertising an
emulated profile: the tasks land on the node of their profile, `fleet run` brings back one run per
profile into one storage that `reports compare --by profile` reads, and a missing profile is refused
before anything starts. One cluster for the module: starting one takes seconds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.fleet_cli import fleet
from helpers.sigint import skip_if_children_ignore_sigint

from bench.fleet.cluster import by_profile, fleet_nodes
from bench.fleet.ray_import import import_ray
from bench.fleet.resources import advertise, profile_resource
from bench.fleet.tasks import current_node_id

REPO = Path(__file__).resolve().parents[2]
PROFILES = ("gtx1650", "rtx3050")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CLIENT_PORT = _free_port()


@pytest.fixture(scope="module")
def cluster():
    """A head with no profile and two 1-CPU nodes, one per emulated profile; yields (address, node ids).
    The head also serves Ray Client (`ray://`) on CLIENT_PORT."""
    ray = import_ray()  # sets the environment the cluster's processes inherit (bench/fleet/ray_import.py)
    from ray.cluster_utils import Cluster

    local = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "ray_client_server_port": CLIENT_PORT},
    )
    node_ids = {}
    try:
        for name in PROFILES:
            advert = advertise(name)
            node = local.add_node(num_cpus=1, resources=advert.resources, labels=advert.labels)
            node_ids[name] = node.node_id
        ray.init(address=local.address, logging_level="warning", log_to_driver=False)
        yield local.address, node_ids
    finally:
        ray.shutdown()
        local.shutdown()


def test_nodes_are_listed_by_the_profile_they_advertise(cluster):
    import ray

    _, node_ids = cluster
    grouped = by_profile(fleet_nodes(ray.nodes()))
    assert {name: [n.node_id for n in nodes] for name, nodes in grouped.items()} == {
        name: [node_ids[name]] for name in PROFILES
    }
    assert grouped["rtx3050"][0].labels["diffbench-profile"] == "rtx3050"
    assert grouped["rtx3050"][0].labels["torch-version"].startswith("2.")


def test_a_task_asking_for_a_profile_lands_on_that_profiles_node(cluster):
    import ray

    _, node_ids = cluster
    # A function Ray workers can import (this test module is not on their path).
    where = ray.remote(current_node_id)
    references = {
        name: [where.options(resources={profile_resource(name): 1}).remote() for _ in range(3)]
        for name in PROFILES
    }
    landed = {name: set(ray.get(refs)) for name, refs in references.items()}
    assert landed == {name: {node_ids[name]} for name in PROFILES}


def test_fleet_status_prints_each_profile_with_its_node(cluster):
    address, node_ids = cluster
    result = fleet("status", "--address", address, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in PROFILES:
        assert f"{name}: 1 node(s)\n  {node_ids[name][:12]} on " in result.stdout
    assert "no profile: 1 node(s)" in result.stdout  # the head


def test_a_profile_no_node_advertises_is_refused_before_anything_starts(cluster, tmp_path):
    address, _ = cluster
    storage = tmp_path / "runs"
    result = fleet(
        "run", "--address", address, "--profiles", "gtx1650,rtx3080", "--storage", str(storage), timeout=120
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: no node of the cluster advertises profile rtx3080; the cluster has: gtx1650, rtx3050"
    ]
    assert "submitted" not in result.stdout and not storage.exists()


def test_fleet_run_brings_one_run_per_profile_into_one_storage(cluster, tmp_path):
    """Through Ray Client (`ray://HEAD:PORT`, the issue's address form); the other tests use the GCS."""
    _, node_ids = cluster
    address = f"ray://127.0.0.1:{CLIENT_PORT}"
    storage = tmp_path / "runs"
    suite = [
        "--model",
        "tiny-sd",
        "--variants",
        "fp32,bf16",
        "--rounds",
        "1",
        "--warmup",
        "0",
        "--steps",
        "2",
    ]
    result = fleet(
        "run", "--address", address, "--profiles", ",".join(PROFILES), "--storage", str(storage), *suite
    )
    assert result.returncode == 0, result.stdout + result.stderr
    saved = sorted(storage.rglob("*.json"))
    assert sorted(p.name for p in saved) == ["0001_fleet-gtx1650.json", "0001_fleet-rtx3050.json"]
    for name in PROFILES:
        # Each profile's run ran on the node that advertises it.
        assert f"[fleet] {name}/s1: done on node {node_ids[name][:12]} " in result.stdout
    compare = subprocess.run(
        [sys.executable, "-m", "reports", "compare", "--by", "profile", "--format", "csv", str(storage)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert compare.returncode == 0, compare.stderr
    header, *rows = compare.stdout.strip().splitlines()
    assert "latency_median_s[gtx1650]" in header and "latency_median_s[rtx3050]" in header
    assert sorted(row.split(",")[2] for row in rows) == ["bf16", "fp32"]
    # Both profiles measured every variant: no blank latency cell.
    columns = header.split(",")
    for row in rows:
        cells = dict(zip(columns, row.split(","), strict=True))
        assert all(float(cells[f"latency_median_s[{name}]"]) > 0 for name in PROFILES)
    # The driver ended with the same comparison.
    ending = result.stdout.split("[fleet] diffbench report compare --by profile")[-1]
    assert "## latency, median (s)" in ending and "gtx1650" in ending and "rtx3050" in ending


def _suites_named(name: str) -> list[int]:
    """Pids of the suite processes saving as `name` (read from /proc: only this test's runs match)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"--benchmark-save={name}".encode() in command:
                found.append(int(entry.name))
    return found


def test_ctrl_c_on_the_driver_stops_the_nodes_suites(cluster, tmp_path):
    skip_if_children_ignore_sigint()
    address, _ = cluster
    storage = tmp_path / "runs"
    name = f"ctrlc{os.getpid()}"
    driver = subprocess.Popen(
        [
            *(sys.executable, "-m", "bench", "fleet", "run", "--address", address, "--profiles", "gtx1650"),
            *("--storage", str(storage), "--name", name),
            *("--model", "tiny-sd", "--variants", "fp32", "--rounds", "500"),
        ],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,  # the relayed progress lines: nobody reads them here
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _suites_named(f"{name}-gtx1650") and time.monotonic() < deadline:
            assert driver.poll() is None, driver.communicate()
            time.sleep(0.5)
        assert _suites_named(f"{name}-gtx1650"), "the suite never started on the node"
        time.sleep(3)  # well inside the suite's 500 rounds
        driver.send_signal(signal.SIGINT)
        _, stderr = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, stderr
    assert "interrupted" in stderr and "cancelled gtx1650" in stderr
    deadline = time.monotonic() + 15
    while _suites_named(f"{name}-gtx1650") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _suites_named(f"{name}-gtx1650") == []
    assert not list(storage.rglob("*.json"))
