"""diffbench fleet without a cluster: what a node advertises, addresses, storage, and the bad input
that must be one line, exit 2, before anything starts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.fleet_cli import fleet

from bench.fleet.cluster import by_profile, check_profiles_present, fleet_nodes, host_port
from bench.fleet.errors import FleetError
from bench.fleet.head_ports import check_free
from bench.fleet.log_monitor import relayed_here
from bench.fleet.ray_import import SHIM, amdsmi_broken, shim_environment
from bench.fleet.resources import advertise, check_profile, known_profiles, ray_start_command
from bench.fleet.storage import write_run

REPO = Path(__file__).resolve().parents[2]


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_emulated_profile_is_advertised_as_a_custom_resource():
    advert = advertise("RTX3050")
    assert advert.profile == "rtx3050"
    assert advert.resources == {"profile:rtx3050": 1.0}
    assert advert.labels["diffbench-profile"] == "rtx3050"
    # Ray's label values allow no '+': torch's local version (2.13.0+cpu) is written with '_'.
    assert all("+" not in value for value in advert.labels.values())
    command = ray_start_command("10.0.0.1:6379", advert)
    assert command[:3] == ["ray", "start", "--address=10.0.0.1:6379"]
    assert json.loads(command[3].removeprefix("--resources=")) == {"profile:rtx3050": 1.0}


def test_auto_on_a_machine_without_a_gpu_driver_is_the_cpu_profile():
    if Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia").exists():
        pytest.skip("this machine has a GPU driver: its detected class is its card's")
    advert = advertise("auto")
    assert advert.profile == "cpu" and advert.gpus == 0


def test_fleet_node_print_shows_the_ray_start_command():
    result = fleet("node", "--address", "127.0.0.1:6379", "--profile", "gtx1650", "--print")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ray start --address=127.0.0.1:6379 ")
    assert '{"profile:gtx1650": 1.0}' in result.stdout


def test_fleet_head_print_shows_the_ray_start_command():
    result = fleet("head", "--port", "6390", "--print")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "ray start --head --port=6390 --ray-client-server-port=10001 --num-cpus=0 --include-dashboard=false"
    )


@pytest.mark.parametrize(("option", "value"), [("--port", "99999"), ("--client-port", "http")])
def test_a_bad_head_port_is_one_line(option, value):
    result = fleet("head", option, value, "--print")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == f"error: {option} {value!r} is not a port number (1 to 65535)"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--client-port", "10011"),
            "--client-port 10011 is among the ports Ray gives its workers (10002 to 19999)",
        ),
        (("--port", "19999"), "--port 19999 is among the ports Ray gives its workers (10002 to 19999)"),
        (("--port", "7000", "--client-port", "7000"), "--port and --client-port are both 7000"),
        (("--client-port", "80"), "--client-port 80: Ray takes a Ray Client port from 1024 to 65535"),
    ],
)
def test_a_head_port_ray_would_refuse_is_one_line(args, expected):
    # Ray itself refuses these with a ValueError traceback, after starting part of the head.
    result = fleet("head", *args, "--print")
    assert result.returncode == 2 and result.stdout == ""
    assert expected in one_error_line(result)


def test_a_port_in_use_is_refused_before_ray_starts():
    with socket.socket() as listener:
        listener.bind(("", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(FleetError, match=f"--port {port}: the port is in use on this machine"):
            check_free(port, "--port")
    check_free(port, "--port")  # closed again: free


def test_a_second_node_on_a_machine_starts_no_log_monitor():
    advert = advertise("gtx1650")
    assert "--include-log-monitor=false" not in ray_start_command("10.0.0.1:6379", advert)
    assert ray_start_command("10.0.0.1:6379", advert, log_monitor=False)[-1] == "--include-log-monitor=false"


def monitor(gcs: str) -> list[str]:
    """A Ray log monitor's command line as `ps` shows it."""
    return [
        "/venv/bin/python3.11",
        "-u",
        "/venv/lib/ray/_private/log_monitor.py",
        "--logs-dir=/tmp/x",
        f"--gcs-address={gcs}",
    ]


@pytest.mark.parametrize(
    ("processes", "address", "relayed"),
    [
        ([monitor("127.0.0.1:6391")], "localhost:6391", True),  # the head's, on this machine
        ([monitor("127.0.0.1:6391")], "127.0.0.1:6379", False),  # another cluster on this machine
        ([monitor("10.9.8.7:6379")], "10.9.8.7:6379", True),  # a remote head's cluster, a node here already
        ([monitor("10.9.8.7:6379")], "10.9.8.6:6379", False),
        ([["python", "train.py", "--gcs-address=127.0.0.1:6391"]], "127.0.0.1:6391", False),  # no monitor
        ([monitor("not an address:x")], "127.0.0.1:6391", False),
        ([], "127.0.0.1:6391", False),
    ],
)
def test_which_log_monitors_are_this_clusters(processes, address, relayed):
    assert relayed_here(address, processes) is relayed


def test_a_running_log_monitor_is_found_among_this_machines_processes():
    port = free_port()
    script = "/opt/ray/_private/log_monitor.py"
    stand_in = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", script, f"--gcs-address=127.0.0.1:{port}"]
    )
    try:
        assert relayed_here(f"localhost:{port}")
        assert not relayed_here(f"localhost:{free_port()}")
        # --print's line may be run on another machine: this one's monitor does not shape it.
        printed = fleet("node", "--address", f"localhost:{port}", "--profile", "gtx1650", "--print")
        assert printed.returncode == 0 and "--include-log-monitor" not in printed.stdout
    finally:
        stand_in.kill()
        stand_in.wait()
    assert not relayed_here(f"localhost:{port}")


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(FleetError, match=r"profile 'rtx9090' is unknown; known profiles: gtx1650"):
        check_profile("rtx9090")
    assert "cpu" in known_profiles()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.1:6379", ("10.0.0.1", 6379)),
        ("head", ("head", 6379)),
        ("ray://head:10001", ("head", 10001)),
        ("ray://head", ("head", 10001)),
    ],
)
def test_addresses(address, expected):
    assert host_port(address) == expected


@pytest.mark.parametrize("address", ["http://head:80", "head:notaport", "ray://"])
def test_bad_addresses_are_refused(address):
    with pytest.raises(FleetError, match="address"):
        host_port(address)


def test_missing_profiles_are_named_with_what_the_cluster_has():
    nodes = fleet_nodes(
        [
            {"NodeID": "a" * 56, "Alive": True, "Resources": {"CPU": 1.0, "profile:gtx1650": 1.0}},
            {"NodeID": "b" * 56, "Alive": False, "Resources": {"CPU": 1.0, "profile:rtx3080": 1.0}},
        ]
    )

    grouped = by_profile(nodes)
    assert list(grouped) == ["gtx1650"]  # a dead node advertises nothing
    with pytest.raises(FleetError, match=r"profile rtx3080; the cluster has: gtx1650$"):
        check_profiles_present(["gtx1650", "rtx3080"], grouped)


def test_runs_are_written_with_the_next_free_number_and_never_rewritten(tmp_path):
    first = write_run(tmp_path, "Linux-x/0001_fleet-gtx1650.json", '{"a": 1}')
    second = write_run(tmp_path, "Linux-x/0001_fleet-gtx1650.json", '{"a": 2}')
    third = write_run(tmp_path, "Linux-x/0007_fleet-rtx3050.json", '{"a": 3}')
    assert [p.name for p in (first, second, third)] == [
        "0001_fleet-gtx1650.json",
        "0002_fleet-gtx1650.json",
        "0003_fleet-rtx3050.json",
    ]
    assert json.loads(first.read_text()) == {"a": 1} and json.loads(second.read_text()) == {"a": 2}
    assert sorted(p.name for p in (tmp_path / "Linux-x").iterdir()) == [
        p.name for p in (first, second, third)
    ]


@pytest.mark.parametrize("relative", ["../0001_x.json", "0001_x.json", "m/x.json", "m/0001_x.txt"])
def test_a_run_path_that_is_not_machine_and_numbered_name_is_refused(tmp_path, relative):
    with pytest.raises(FleetError, match=r"MACHINE/NNNN_NAME\.json"):
        write_run(tmp_path, relative, "{}")


def test_the_amdsmi_stand_in_goes_first_only_where_amdsmi_is_broken():
    environment = shim_environment({"PYTHONPATH": "/somewhere"})
    if amdsmi_broken():
        assert environment["PYTHONPATH"].split(os.pathsep) == [str(SHIM), "/somewhere"]
        probe = subprocess.run(
            [sys.executable, "-c", "import ray; print(ray.__version__)"],
            env={**os.environ, **environment},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert probe.returncode == 0, probe.stderr
    else:
        assert environment == {"PYTHONPATH": "/somewhere"}


def test_unreachable_address_is_one_line_and_starts_nothing(tmp_path):
    port = free_port()
    storage = tmp_path / "runs"
    result = fleet(
        "run", "--address", f"127.0.0.1:{port}", "--profiles", "gtx1650", "--storage", str(storage)
    )
    line = one_error_line(result)
    assert f"nothing answers at 127.0.0.1:{port}" in line
    assert not storage.exists()
    line = one_error_line(fleet("status", "--address", f"127.0.0.1:{port}"))
    assert f"127.0.0.1:{port}" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--profiles", "gtx1650,rtx9090"], "profile 'rtx9090' is unknown; known profiles: gtx1650"),
        (["--profiles", "gtx1650", "--profile=cpu"], "'--profile=cpu': fleet run sets it on every node"),
        (["--profiles", ","], "--profiles ',' names no profile"),
        (
            ["--profiles", "gtx1650", "--shards", "two"],
            "--shards 'two' is not a positive whole number or auto",
        ),
        (
            ["--profiles", "gtx1650", "--shards", "2"],
            "--shards 2 with --shard-by auto: nothing to split; give --variants (the default set "
            "depends on each node's device), or a workload sweep",
        ),
        (
            [
                "--profiles",
                "gtx1650",
                "--shards",
                "2",
                "--shard-by",
                "workloads",
                "--variants",
                "fp32,int8,bf16",
            ],
            "--shards 2 with --shard-by workloads: nothing to split; give a workload sweep",
        ),
        (
            ["--profiles", "gtx1650", "--shards", "2", "--shard-by", "variants", "--sweep", "steps=2,4"],
            "--shards 2 with --shard-by variants: nothing to split; give --variants",
        ),
        (["--profiles", "gtx1650", "--shard-by", "rows"], "--shard-by 'rows' is unknown; accepted: auto,"),
        (["--profiles", "gtx1650", "--workload-shard=1/2"], "'--workload-shard=1/2': fleet run sets it"),
        (["--profiles", "gtx1650", "--sweep", "steps=2,x"], "--steps 'x'"),
        (["--profiles", "gtx1650", "--retries", "-1"], "--retries '-1' is not a whole number of 0 or more"),
        (
            ["--profiles", "gtx1650", "--fid-shards", "0"],
            "--shards '0' is not a positive whole number or auto",
        ),
        (
            ["--profiles", "gtx1650", "--variants", "fp32,turbo"],
            "--variants 'fp32,turbo': unknown pass 'turbo'",
        ),
    ],
)
def test_bad_run_input_is_one_line_before_connecting(tmp_path, args, expected):
    # The address answers nothing: these must be refused before the connection is tried.
    result = fleet("run", "--address", f"127.0.0.1:{free_port()}", "--storage", str(tmp_path / "s"), *args)
    assert expected in one_error_line(result)
