"""A profile's work over several of its nodes, and a node lost mid-run, on a real Ray cluster of
local nodes (ray.cluster_utils): `--shards` spreads the variants over the profile's nodes and brings
back one run; a node removed while its suite runs has its task retried on the other node, which
times only what the lost one had not finished, and no finished row is lost; a task that keeps
failing leaves its finished rows and an `error` row for each missing one.

A cluster per test: a removed node does not come back."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.fleet_cli import fleet
from helpers.sigint import skip_if_children_ignore_sigint

from bench.fleet.ray_import import import_ray
from bench.fleet.resources import advertise

REPO = Path(__file__).resolve().parents[2]
PROFILE = "gtx1650"
# fp16 last: emulated on a CPU, it keeps the suite busy well after bf16's row is in.
SUITE = ("--model", "tiny-sd", "--variants", "fp32,bf16,int8,fp16", "--steps", "4", "--rounds", "3")
KEPT = re.compile(rf"\[fleet {PROFILE} @ ([0-9a-f]{{12}})\] row kept: bf16 ")


@pytest.fixture
def cluster():
    """A head with no profile and two 1-CPU nodes of one profile; yields the Cluster."""
    ray = import_ray()
    from ray.cluster_utils import Cluster

    local = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        advert = advertise(PROFILE)
        for _ in range(2):
            local.add_node(num_cpus=1, resources=advert.resources, labels=advert.labels)
        local.wait_for_nodes()
        yield local
    finally:
        ray.shutdown()
        local.shutdown()


def _the_run(storage: Path) -> dict:
    (path,) = storage.rglob("*.json")
    return json.loads(path.read_text()) | {"_file": path.name}


def _variants(run: dict) -> list[str]:
    return [b["extra_info"]["variant"] for b in run["benchmarks"]]


def _sharded_run(cluster, storage: Path, *suite: str) -> dict:
    """`fleet run --shards auto` of tiny-sd with one round on the cluster; the saved run."""
    result = fleet(
        "run", "--address", cluster.address, "--profiles", PROFILE, "--storage", str(storage),
        "--shards", "auto", "--model", "tiny-sd", "--rounds", "1", *suite,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return _the_run(storage) | {"_stdout": result.stdout}


def test_shards_spread_a_profiles_variants_over_its_nodes_into_one_run(cluster, tmp_path):
    run = _sharded_run(cluster, tmp_path / "runs", "--variants", "fp32,bf16,int8", "--steps", "2")
    assert run["_file"] == f"0001_fleet-{PROFILE}.json"
    assert _variants(run) == ["fp32", "bf16", "int8"]  # one baseline row, though both shards timed it
    shards = run["diffbench"]["fleet"]["shards"]
    assert [s["variants"] for s in shards] == [["fp32", "bf16"], ["fp32", "int8"]]
    nodes = {s["attempts"][0]["node_id"] for s in shards}
    assert len(nodes) == 2, "both shards ran on the same node"
    assert all(row["extra_info"]["psnr_vs_baseline"] for row in run["benchmarks"][1:])


def test_shards_split_a_sweeps_workloads_before_the_variants(cluster, tmp_path):
    run = _sharded_run(cluster, tmp_path / "runs", "--variants", "fp32,int8", "--sweep", "steps=2,3")
    rows = [(b["extra_info"]["variant"], b["extra_info"]["workload"]) for b in run["benchmarks"]]
    two, three = "64x64/2steps/cfg7.5/b1/euler", "64x64/3steps/cfg7.5/b1/euler"
    assert rows == [("fp32", two), ("fp32", three), ("int8", two), ("int8", three)]  # the suite's order
    assert f"gtx1650/s2: submitted, fp32,int8 on workload share 2/2 ({three})" in run["_stdout"]
    shards = run["diffbench"]["fleet"]["shards"]
    assert [(s["variants"], s["workloads"], s["workload_share"]) for s in shards] == [
        (["fp32", "int8"], [two], "1/2"),
        (["fp32", "int8"], [three], "2/2"),
    ]
    assert len({s["attempts"][0]["node_id"] for s in shards}) == 2, "both shards ran on the same node"
    # Each node timed the baseline on its own workload only: one row per (variant, workload) came back.
    assert [s["attempts"][0]["rows"] for s in shards] == [2, 2]
    assert all(b["extra_info"]["psnr_vs_baseline"] for b in run["benchmarks"][2:])


def _start_driver(cluster, storage: Path, *options: str) -> subprocess.Popen[str]:
    """`fleet run --profiles PROFILE --storage STORAGE OPTIONS` on the cluster; its output as it comes."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "bench", "fleet", "run", "--address", cluster.address),
            *("--profiles", PROFILE, "--storage", str(storage), *options),
        ],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _run_and_lose_the_node(cluster, storage: Path, *extra: str) -> tuple[subprocess.CompletedProcess, str]:
    """`fleet run` with the node timing it removed once bf16's row is kept; the result and that node."""
    driver = _start_driver(cluster, storage, *extra, *SUITE)
    lines: list[str] = []
    lost = ""
    try:
        assert driver.stdout is not None
        deadline = time.monotonic() + 300
        for line in driver.stdout:
            lines.append(line)
            if (match := KEPT.search(line)) and not lost:
                lost = next(n.node_id for n in cluster.worker_nodes if n.node_id.startswith(match.group(1)))
                node = next(n for n in cluster.worker_nodes if n.node_id == lost)
                cluster.remove_node(node, allow_graceful=False)
            assert time.monotonic() < deadline, "".join(lines)
        driver.wait(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert lost, "bf16's row never came back:\n" + "".join(lines)
    return subprocess.CompletedProcess(driver.args, driver.returncode, "".join(lines), ""), lost


def test_a_lost_node_is_retried_elsewhere_and_loses_no_finished_row(cluster, tmp_path):
    storage = tmp_path / "runs"
    result, lost = _run_and_lose_the_node(cluster, storage, "--retries", "1")
    assert result.returncode == 0, result.stdout
    run = _the_run(storage)
    assert run["_file"] == f"0001_fleet-{PROFILE}.json" and run["diffbench"]["partial"] is False
    assert sorted(_variants(run)) == ["bf16", "fp16", "fp32", "int8"]
    assert all(b["extra_info"]["status"] == "ok" for b in run["benchmarks"])
    first, second = run["diffbench"]["fleet"]["shards"][0]["attempts"]
    assert (first["node_id"], first["outcome"]) == (lost, "lost") and first["rows"] >= 2
    assert second["node_id"] != lost and second["outcome"] == "finished"
    # The retry timed the baseline again and what was left, not bf16, whose row the lost node had kept.
    assert (
        second["variants"][0] == "fp32" and "bf16" not in second["variants"] and "fp16" in second["variants"]
    )


def test_a_task_that_keeps_failing_leaves_its_rows_and_error_rows(cluster, tmp_path):
    storage = tmp_path / "runs"
    result, _ = _run_and_lose_the_node(cluster, storage, "--retries", "0")
    assert result.returncode == 1, result.stdout
    assert list(storage.rglob("*.json")), result.stdout
    run = _the_run(storage)
    assert run["_file"] == f"0001_fleet-{PROFILE}-partial.json" and run["diffbench"]["partial"] is True
    assert {"fp32", "bf16"} <= set(_variants(run))
    errors = run["diffbench"]["rows"]
    assert errors and {row["extra_info"]["variant"] for row in errors} <= {"int8", "fp16"}
    assert "fp16" in {row["extra_info"]["variant"] for row in errors}
    assert all(row["extra_info"]["status"] == "error" for row in errors)
    assert all(row["extra_info"]["reason"].startswith("the fleet task failed: ") for row in errors)


def test_ctrl_c_keeps_the_rows_the_tasks_had_finished(cluster, tmp_path):
    """Ctrl-C on the driver once fp32's row is kept: the task is cancelled, exit 130, and the profile's
    run is saved `-partial` with fp32's row and an `error` row for the variant it interrupted."""
    skip_if_children_ignore_sigint()
    storage = tmp_path / "runs"
    driver = _start_driver(
        cluster, storage, "--model", "tiny-sd", "--variants", "fp32,bf16", "--steps", "2", "--rounds", "300"
    )
    lines: list[str] = []
    try:
        assert driver.stdout is not None
        for line in driver.stdout:
            lines.append(line)
            if "row kept: fp32 " in line:
                driver.send_signal(signal.SIGINT)
                break
        lines.extend(driver.communicate(timeout=120)[0].splitlines(keepends=True))
    finally:
        if driver.poll() is None:
            driver.kill()
    output = "".join(lines)
    assert driver.returncode == 130, output
    run = _the_run(storage)
    assert run["_file"] == f"0001_fleet-{PROFILE}-partial.json", output
    assert _variants(run) == ["fp32"]
    (error,) = run["diffbench"]["rows"]
    assert error["extra_info"]["variant"] == "bf16" and error["extra_info"]["status"] == "error"
    assert error["extra_info"]["reason"] == "cancelled by Ctrl-C on the driver"
    (attempt,) = run["diffbench"]["fleet"]["shards"][0]["attempts"]
    assert attempt["outcome"] == "cancelled" and attempt["rows"] >= 1
