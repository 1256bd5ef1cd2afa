"""The profile fields every row carries from the start, failure rows included."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optimize import PassUnsupported

if TYPE_CHECKING:
    from bench.suite_config import SuiteConfig


def row_fields(config: SuiteConfig) -> dict[str, Any]:
    selection = config.hardware
    if selection is None:  # a SuiteConfig made without options: the device is its own profile
        profile = "cpu" if config.device.type == "cpu" else "host"
        return {"profile": profile, "device_name": None, "emulated": False, "emulation": "", "offload": None}
    return {
        "profile": selection.profile.name,
        "device_name": selection.host.name,
        "emulated": selection.emulation.emulated,
        "emulation": selection.emulation.note,
        "offload": None,  # set once the variant ran: none, model or sequential
    }


def refuse_unsupported(config: SuiteConfig, dtype: str) -> None:
    """Raises PassUnsupported for a dtype the emulated card cannot run (bf16 on Turing)."""
    reason = config.hardware.unsupported_reason(dtype) if config.hardware is not None else None
    if reason:
        raise PassUnsupported(reason)
