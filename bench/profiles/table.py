"""The built-in hardware profiles: one TOML file per card in bench/profiles/cards/.

A card is data, not code: adding a built-in profile is one file there (the fields are those of
a user profile, bench/profiles/toml_profile.py), plus its test. They are listed smallest card
first (memory, then name).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from bench.profiles.profile import (
    DEFAULT_EFFICIENCY,
    DEFAULT_LAUNCH_US,
    DEFAULT_RESERVED_MIB,
    FP16_NAN_ISSUE,
    MIB_PER_GIB,
    Profile,
)
from bench.profiles.toml_profile import profile_from_table

CARDS = Path(__file__).with_name("cards")
SOURCE = "built-in"


def load_cards(folder: Path = CARDS) -> dict[str, Profile]:
    profiles: list[Profile] = []
    for file in sorted(folder.glob("*.toml")):
        for name, table in tomllib.loads(file.read_text()).items():
            profiles.append(
                profile_from_table(name, table, f"built-in profile {file.name}: [{name}]", SOURCE)
            )
    profiles.sort(key=lambda p: (p.vram_mib or 0.0, p.name))
    return {p.name: p for p in profiles}


BUILTIN: dict[str, Profile] = load_cards()
GPU_CLASSES: tuple[str, ...] = tuple(BUILTIN)
SPECIAL = ("cpu", "host")

__all__ = [
    "BUILTIN",
    "DEFAULT_EFFICIENCY",
    "DEFAULT_LAUNCH_US",
    "DEFAULT_RESERVED_MIB",
    "FP16_NAN_ISSUE",
    "GPU_CLASSES",
    "MIB_PER_GIB",
    "SPECIAL",
    "Profile",
]
