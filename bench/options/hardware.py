"""The hardware options: the device, the hardware profile it is judged for, and out-of-memory offload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from bench.errors import BenchError
from bench.options.spec import Option, OptionGroup, OptionLookup

# Declaring the options (pytest --help, a study's parser) imports no torch: what parses and
# checks them is imported when they are parsed.
if TYPE_CHECKING:
    import torch

    from bench.profiles.select import ProfileSelection

OFFLOAD_CHOICES = ("none", "auto")


@dataclass(frozen=True)
class HardwareOptions(OptionGroup):
    TITLE: ClassVar[str] = "diffbench hardware"
    DESCRIPTION: ClassVar[str] = "diffbench: the device, the hardware profile and offload"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)"),
        Option(
            "--profile",
            default="auto",
            help="hardware profile: auto (detected), cpu, host, gtx1650, rtx3050-laptop, rtx3050, rtx3080, "
            "rtx3080-12, or one from --profile-file (python -m bench.profiles lists them)",
        ),
        Option("--profile-file", help="TOML file of extra hardware profiles"),
        Option("--calibration", help="TOML/JSON file of per-profile efficiency factors"),
        Option(
            "--offload",
            default="none",
            help="none, or auto: after an out-of-memory, retry with model then sequential CPU offload",
        ),
    )

    device: torch.device
    hardware: ProfileSelection
    offload: str

    @staticmethod
    def parse_device(option: OptionLookup) -> torch.device:
        from bench.devices import resolve_device

        return resolve_device(option("--device"))

    @classmethod
    def parse(cls, option: OptionLookup, device: torch.device | None = None) -> HardwareOptions:
        """The device (resolved once: pass it when already resolved), its profile, the offload policy.
        Raises BenchError (or ProfileError, one of them) with a one-line message."""
        from bench import preflight
        from bench.profiles.select import select_profile

        device = device or cls.parse_device(option)
        profile_file, calibration = option("--profile-file"), option("--calibration")
        preflight.text_file(profile_file, "--profile-file", "a TOML file of hardware profiles")
        preflight.text_file(calibration, "--calibration", "a TOML or JSON file of efficiencies")
        selection = select_profile(option("--profile"), device, profile_file, calibration)
        return cls(device, selection, parse_offload(option("--offload")))


def parse_offload(text: str | None) -> str:
    value = (text or "none").strip().lower()
    if value not in OFFLOAD_CHOICES:
        raise BenchError(f"--offload {text!r} is unknown; accepted: {', '.join(OFFLOAD_CHOICES)}")
    return value
