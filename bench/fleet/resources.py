"""What a node advertises to the cluster: its profile as a custom resource, its GPUs, its versions.

The profile is a Ray custom resource, `profile:NAME: 1`, so a task that asks for it lands only on a
node of that card, one at a time per node (a node is one card's worth of timing). The versions are
node labels, which Ray shows beside the node and which `fleet status` prints.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata

from bench.fleet.errors import FleetError
from bench.profiles.detect import describe_cpu, detect_class, no_gpu_driver
from bench.profiles.table import BUILTIN

PROFILE_PREFIX = "profile:"
AUTO = "auto"
# Ray's label values follow Kubernetes' rules: letters, digits, '-', '_', '.'; 63 characters.
_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def known_profiles() -> list[str]:
    """Every profile name a fleet can ask for: the built-in cards and `cpu`."""
    return [*BUILTIN, "cpu"]


def check_profile(name: str) -> str:
    """`name` normalised; FleetError naming it and the known ones if no table knows it."""
    key = name.strip().lower()
    if key not in known_profiles():
        raise FleetError(f"profile {name!r} is unknown; known profiles: {', '.join(known_profiles())}")
    return key


def profile_resource(name: str) -> str:
    return f"{PROFILE_PREFIX}{name}"


def label_value(text: str) -> str:
    return _LABEL_BAD.sub("_", text)[:63]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


@dataclass(frozen=True)
class NodeAdvert:
    """What `diffbench fleet node` makes a node say about itself."""

    profile: str
    gpus: int
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, float]:
        return {profile_resource(self.profile): 1.0}


def local_gpu_count() -> int:
    """CUDA devices on this machine; 0 without a driver (no torch import, which takes seconds)."""
    if no_gpu_driver():
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def detected_profile_name() -> str:
    """The class of this machine's first GPU, or `cpu`; `host` (no class fits) is refused by the caller."""
    if local_gpu_count() == 0:
        return detect_class(describe_cpu())
    import torch

    from bench.profiles.detect import describe_device

    return detect_class(describe_device(torch.device("cuda:0")))


def advertise(profile: str = AUTO) -> NodeAdvert:
    """This node's advert. `auto` is the detected class; a card's name emulates that card here
    (on a CPU-only node the suite measures on the CPU and projects the card, as `--profile` does)."""
    if profile.strip().lower() == AUTO:
        name = detected_profile_name()
        if name == "host":
            raise FleetError(
                "this node's GPU fits no profile class; give --profile NAME, one of "
                + ", ".join(known_profiles())
            )
    else:
        name = check_profile(profile)
    labels = {
        "diffbench-profile": name,
        "diffbench-version": label_value(_version("diffbench")),
        "torch-version": label_value(_version("torch")),
        "python-version": label_value(".".join(map(str, sys.version_info[:3]))),
    }
    return NodeAdvert(profile=name, gpus=local_gpu_count(), labels=labels)


def ray_start_command(address: str, advert: NodeAdvert, *, log_monitor: bool = True) -> list[str]:
    """The `ray start` that joins `address` as this node (what `fleet node` runs, or prints).

    `log_monitor` False: another node of this cluster already relays this machine's logs
    (bench/fleet/log_monitor.py), and a second relay would print every line twice."""
    labels = ",".join(f"{key}={value}" for key, value in advert.labels.items())
    command = [
        "ray",
        "start",
        f"--address={address}",
        f"--resources={json.dumps(advert.resources)}",
        f"--num-gpus={advert.gpus}",
        f"--labels={labels}",
    ]
    return command if log_monitor else [*command, "--include-log-monitor=false"]
