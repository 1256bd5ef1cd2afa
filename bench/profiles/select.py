"""Which profile a run is for, and whether (and how) this machine emulates it.

Rules (plan_emulation; pure, so tests give it a made-up host):

- `cpu` runs on the CPU: native, never emulated; asking for it with a GPU device is refused.
- `host`, or the class the host GPU is detected as: native, not emulated.
- no GPU here: a GPU profile cannot be emulated; the run is measured on the CPU and the row's
  fit and latency for the profile are estimated and projected (emulated=false, and why).
- a GPU profile with more memory than the host GPU, or a compute capability the host lacks:
  refused with the reason (an emulation could not show what the card does).
- otherwise emulated: the allocator is capped at the profile's memory less its CUDA-context
  reserve (torch.cuda.set_per_process_memory_fraction), dtypes the card cannot run are rows
  with status `unsupported`, and measured latency is the host's (the projection is the card's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.profiles.calibration import load_calibration
from bench.profiles.detect import (
    DeviceDescription,
    cpu_profile,
    describe_device,
    detect_class,
    detected_profile,
    host_profile,
)
from bench.profiles.errors import ProfileError
from bench.profiles.table import BUILTIN, Profile
from bench.profiles.user import load_profiles

if TYPE_CHECKING:
    import torch

AUTO = "auto"


@dataclass(frozen=True)
class Emulation:
    emulated: bool
    note: str  # what was done, or why nothing was
    memory_cap_mib: float | None = None
    memory_fraction: float | None = None


@dataclass(frozen=True)
class ProfileSelection:
    profile: Profile
    host: DeviceDescription
    emulation: Emulation
    catalogue: dict[str, Profile]  # every profile known to this run (for fits on each)

    @property
    def storage_key(self) -> str:
        """The profile part of the saved run's machine id: runs of different profiles never mix."""
        if self.emulation.emulated or (self.profile.kind == "gpu" and self.host.kind == "cpu"):
            return f"{self.profile.name}-on-{_slug(self.host.name if self.host.kind == 'cuda' else 'cpu')}"
        if self.profile.name == "host":
            return f"host-{_slug(self.host.name)}"
        return self.profile.name

    def unsupported_reason(self, dtype: str) -> str | None:
        """A dtype the emulated card cannot run (on real hardware the pass itself refuses)."""
        if not self.emulation.emulated:
            return None
        reason = self.profile.unsupported_reason(dtype)
        return f"emulating {self.profile.name}: {reason}" if reason else None


def _slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in text.lower().removeprefix("nvidia "))
    return "-".join(part for part in cleaned.split("-") if part)[:40] or "device"


def catalogue(
    host: DeviceDescription,
    profile_file: str | Path | None = None,
    calibration_file: str | Path | None = None,
) -> dict[str, Profile]:
    """Built-in classes, the user's profiles, `cpu` and `host`, with calibrated efficiencies."""
    profiles: dict[str, Profile] = dict(BUILTIN)
    if profile_file:
        profiles.update(load_profiles(profile_file))
    profiles["cpu"] = cpu_profile(host)
    if host.kind == "cuda":
        profiles["host"] = host_profile(host)
    if calibration_file:
        for name, calibration in load_calibration(calibration_file).items():
            if name not in profiles:
                known = ", ".join(profiles)
                raise ProfileError(
                    f"calibration file {str(calibration_file)!r}: unknown profile {name!r}; known: {known}"
                )
            source = f"calibrated in {calibration_file}"
            if calibration.efficiency is not None:
                profiles[name] = profiles[name].with_efficiency(calibration.efficiency, source)
            if calibration.launch_us is not None:
                profiles[name] = profiles[name].with_launch(calibration.launch_us, source)
    return profiles


def resolve_profile(name: str, host: DeviceDescription, profiles: dict[str, Profile]) -> Profile:
    """`auto` is the detected class; raises ProfileError listing the known names."""
    key = name.strip().lower()
    if key == AUTO:
        detected = detected_profile(host)
        return profiles.get(detected.name, detected)
    if key == "host" and host.kind == "cpu":
        return profiles["cpu"]
    if key not in profiles:
        # `host` is accepted on every machine (on a CPU-only one it is `cpu`), so it is listed too.
        known = ", ".join(dict.fromkeys([AUTO, *profiles, "host"]))
        raise ProfileError(
            f"--profile {name!r} is unknown; known profiles: {known} (or add one with --profile-file)"
        )
    return profiles[key]


def plan_emulation(profile: Profile, host: DeviceDescription) -> Emulation:
    """The rules in this module's docstring. Raises ProfileError when emulation is refused."""
    if profile.kind == "cpu":
        if host.kind != "cpu":
            raise ProfileError("--profile cpu runs on the CPU: use --device cpu with it")
        return Emulation(False, "native: the CPU itself")
    if profile.name == "host" or (host.kind == "cuda" and detect_class(host) == profile.name):
        return Emulation(False, f"native: the host GPU ({host.name}) is this profile")
    if host.kind != "cuda":
        return Emulation(
            False,
            f"not emulated: no GPU on this machine; latency is measured on the CPU, and {profile.name}'s "
            "memory fit and latency are estimated and projected",
        )
    host_mib = host.memory_mib or 0.0
    if profile.vram_mib is None or profile.vram_mib > host_mib:
        raise ProfileError(
            f"cannot emulate {profile.name} ({(profile.vram_mib or 0) / 1024:.1f} GiB) on {host.name} "
            f"({host_mib / 1024:.1f} GiB): the profile is larger than the host GPU"
        )
    if (
        profile.compute_capability
        and host.compute_capability
        and host.compute_capability < profile.compute_capability
    ):
        raise ProfileError(
            f"cannot emulate {profile.name} ({profile.capability_text}) on {host.name} "
            f"(sm_{host.compute_capability[0]}{host.compute_capability[1]}): "
            "the host lacks the profile's capabilities"
        )
    cap = profile.usable_mib or 0.0
    return Emulation(
        True,
        f"emulated on {host.name}: memory capped at {cap:.0f} MiB ({profile.vram_mib:.0f} MiB less "
        f"{profile.reserved_mib:.0f} MiB for the CUDA context); measured latency is the host's, "
        "projected_latency_s is the card's",
        memory_cap_mib=cap,
        memory_fraction=cap / host_mib,
    )


def select_profile(
    requested: str,
    device: torch.device,
    profile_file: str | Path | None = None,
    calibration_file: str | Path | None = None,
    host: DeviceDescription | None = None,
) -> ProfileSelection:
    host = host or describe_device(device)
    profiles = catalogue(host, profile_file, calibration_file)
    profile = resolve_profile(requested, host, profiles)
    return ProfileSelection(profile, host, plan_emulation(profile, host), profiles)


def apply_memory_cap(selection: ProfileSelection, device: torch.device) -> None:
    """Cap this process's CUDA allocator at the emulated card's usable memory."""
    fraction = selection.emulation.memory_fraction
    if selection.emulation.emulated and fraction is not None and device.type == "cuda":
        import torch

        torch.cuda.set_per_process_memory_fraction(min(fraction, 1.0), device)
