"""User profiles from a TOML file (`--profile-file`): one table per card, validated field by
field as the built-in cards are (the fields: bench/profiles/toml_profile.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bench.profiles.errors import ProfileError
from bench.profiles.table import BUILTIN, SPECIAL, Profile
from bench.profiles.toml_profile import KNOWN_FIELDS, profile_from_table

__all__ = ["KNOWN_FIELDS", "load_profiles"]


def load_profiles(path: str | Path) -> dict[str, Profile]:
    """Raises ProfileError with one line naming the file, the profile and the bad field."""
    file = Path(path).expanduser()
    try:
        data = tomllib.loads(file.read_text())
    except FileNotFoundError:
        raise ProfileError(f"profile file {str(file)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(f"profile file {str(file)!r} cannot be read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"profile file {str(file)!r} is not valid TOML: {error}") from None
    profiles: dict[str, Profile] = {}
    for name, table in data.items():
        where = f"profile file {str(file)!r}: [{name}]"
        if not isinstance(table, dict):
            raise ProfileError(f"{where} must be a table of fields, e.g. [{name}] vram_gib = 8")
        if name in BUILTIN or name in SPECIAL:
            raise ProfileError(f"{where}: {name!r} is a built-in profile; give yours another name")
        profiles[name] = profile_from_table(name, table, where, str(file))
    if not profiles:
        raise ProfileError(f"profile file {str(file)!r} defines no profile; add a [name] table")
    return profiles
