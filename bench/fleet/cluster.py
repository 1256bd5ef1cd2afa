"""Connect to a Ray cluster and see its nodes by profile.

An address is checked with a plain TCP connection first (a few seconds at most): `ray.init` on an
address nobody answers retries for a long while, and an unreachable address must be one line, exit 2,
with nothing started.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.fleet.errors import FleetError
from bench.fleet.ray_import import import_ray
from bench.fleet.resources import PROFILE_PREFIX

CONNECT_TIMEOUT_S = 3.0
DEFAULT_GCS_PORT = 6379
DEFAULT_CLIENT_PORT = 10001


def host_port(address: str) -> tuple[str, int]:
    """HOST:PORT of `HOST[:PORT]` (the head's GCS) or `ray://HOST[:PORT]` (Ray Client)."""
    text = address.strip()
    client = text.startswith("ray://")
    parts = urlsplit(text if "://" in text else f"gcs://{text}")
    if parts.scheme not in ("ray", "gcs") or not parts.hostname:
        raise FleetError(f"address {address!r} is not HOST:PORT or ray://HOST:PORT")
    try:
        port = parts.port or (DEFAULT_CLIENT_PORT if client else DEFAULT_GCS_PORT)
    except ValueError:
        raise FleetError(f"address {address!r} has a bad port; give HOST:PORT or ray://HOST:PORT") from None
    return parts.hostname, port


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    host, port = host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise FleetError(
            f"address {address!r}: nothing answers at {host}:{port} ({reason}); start a head with "
            "`diffbench fleet head` and give its address"
        ) from None


def connect(address: str) -> Any:
    """Ray, initialised against the cluster at `address` (checked to answer first)."""
    check_reachable(address)
    # Ray relays each task's output to the driver: the per-node progress. Its default folds lines
    # that look alike across nodes into one ("repeated 3x across cluster") and colours the prefix.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=address, logging_level="warning", log_to_driver=True)
    return ray


@dataclass(frozen=True)
class FleetNode:
    node_id: str
    host: str
    profiles: tuple[str, ...]
    gpus: float
    cpus: float
    labels: dict[str, str] = field(default_factory=dict)


def fleet_nodes(raw_nodes: Iterable[dict[str, Any]]) -> list[FleetNode]:
    """The alive nodes of `ray.nodes()`, with the profiles their resources advertise."""
    nodes = []
    for node in raw_nodes:
        if not node.get("Alive"):
            continue
        resources = node.get("Resources", {})
        profiles = tuple(
            sorted(k.removeprefix(PROFILE_PREFIX) for k in resources if k.startswith(PROFILE_PREFIX))
        )
        labels = {k: v for k, v in (node.get("Labels") or {}).items() if not k.startswith("ray.io/")}
        nodes.append(
            FleetNode(
                node_id=node["NodeID"],
                host=node.get("NodeManagerHostname") or node.get("NodeManagerAddress", "?"),
                profiles=profiles,
                gpus=float(resources.get("GPU", 0.0)),
                cpus=float(resources.get("CPU", 0.0)),
                labels=labels,
            )
        )
    return nodes


def gpus_per_task(nodes: Iterable[FleetNode]) -> int:
    """A GPU profile's nodes give each task their card (Ray sets CUDA_VISIBLE_DEVICES); nodes that
    emulate a card on their CPU have none to give, and a task asks for none."""
    return 1 if all(node.gpus >= 1 for node in nodes) else 0


def by_profile(nodes: Iterable[FleetNode]) -> dict[str, list[FleetNode]]:
    grouped: dict[str, list[FleetNode]] = {}
    for node in nodes:
        for profile in node.profiles:
            grouped.setdefault(profile, []).append(node)
    return dict(sorted(grouped.items()))


def check_profiles_present(requested: Iterable[str], grouped: dict[str, list[FleetNode]]) -> None:
    """FleetError naming the requested profiles no node advertises, and those the cluster has."""
    missing = [name for name in requested if name not in grouped]
    if missing:
        have = ", ".join(grouped) or "none (no node advertises a profile)"
        raise FleetError(
            f"no node of the cluster advertises profile {', '.join(missing)}; the cluster has: {have}"
        )


def status_lines(nodes: list[FleetNode]) -> list[str]:
    """`fleet status`: a line per profile with its nodes, then the nodes that advertise none."""
    lines = []
    for profile, members in by_profile(nodes).items():
        lines.append(f"{profile}: {len(members)} node(s)")
        lines.extend(f"  {_node_text(node)}" for node in members)
    plain = [node for node in nodes if not node.profiles]
    if plain:
        lines.append(f"no profile: {len(plain)} node(s)")
        lines.extend(f"  {_node_text(node)}" for node in plain)
    return lines


def _node_text(node: FleetNode) -> str:
    versions = ", ".join(f"{k}={v}" for k, v in sorted(node.labels.items()) if k != "diffbench-profile")
    text = f"{node.node_id[:12]} on {node.host}: {node.cpus:g} CPU, {node.gpus:g} GPU"
    return f"{text}; {versions}" if versions else text
