"""Whether this machine already relays a cluster's logs, so a second node here must not.

Every Ray node starts a log monitor that sends its host's worker logs to the driver. Nodes on one
machine share one session folder, so with a head and two nodes on a laptop every line a task
prints reached the driver three times (ray-project/ray#48642). Ray's answer is
`ray start --include-log-monitor=false` on all but one node of a host (ray-project/ray#48891);
`fleet node` passes it when a log monitor of the same cluster already runs here.

"The same cluster" is a log monitor whose `--gcs-address` has the port of the address the node
joins and a host that is that address's host or, where both are this machine's, any of this
machine's addresses: the head's own monitor names the head by its node IP, the node by 127.0.0.1.
A monitor of another cluster on this machine is left alone: that cluster's logs are not ours.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

import psutil

from bench.fleet.cluster import host_port
from bench.fleet.errors import FleetError

LOG_MONITOR_SCRIPT = "log_monitor.py"
_GCS_FLAG = "--gcs-address="


def running_log_monitor_gcs(processes: Iterable[list[str]] | None = None) -> list[str]:
    """The `--gcs-address` of every Ray log monitor running on this machine."""
    found: list[str] = []
    for args in _command_lines() if processes is None else processes:
        if not any(arg.endswith(LOG_MONITOR_SCRIPT) for arg in args):
            continue
        found.extend(arg.removeprefix(_GCS_FLAG) for arg in args if arg.startswith(_GCS_FLAG))
    return found


def relayed_here(address: str, processes: Iterable[list[str]] | None = None) -> bool:
    """Whether a log monitor of the cluster at `address` (HOST:PORT) already runs on this machine."""
    host, port = host_port(address)
    for gcs in running_log_monitor_gcs(processes):
        try:
            their_host, their_port = host_port(gcs)
        except FleetError:
            continue  # not an address we can read: not ours to judge
        if their_port == port and _same_host(their_host, host):
            return True
    return False


def _same_host(a: str, b: str) -> bool:
    first, second = _resolve(a), _resolve(b)
    if first is None or second is None:
        return a == b
    if first == second:
        return True
    local = _local_addresses()
    return _is_local(first, local) and _is_local(second, local)


def _is_local(address: str, local: set[str]) -> bool:
    return address.startswith("127.") or address in local


def _resolve(host: str) -> str | None:
    try:
        return socket.gethostbyname(host)
    except OSError:
        return None


def _local_addresses() -> set[str]:
    addresses: set[str] = set()
    for entries in psutil.net_if_addrs().values():
        addresses.update(entry.address for entry in entries if entry.family == socket.AF_INET)
    return addresses


def _command_lines() -> list[list[str]]:
    lines: list[list[str]] = []
    for process in psutil.process_iter(["cmdline"]):
        args = process.info.get("cmdline")
        if args:
            lines.append(list(args))
    return lines
