"""Built-in profiles are data: one TOML file per card in bench/profiles/cards/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.profiles.errors import ProfileError
from bench.profiles.table import BUILTIN, CARDS, GPU_CLASSES, load_cards


def test_every_card_file_is_a_built_in_profile_smallest_first() -> None:
    assert {file.stem for file in CARDS.glob("*.toml")} == set(BUILTIN)
    assert GPU_CLASSES == ("gtx1650", "rtx3050-laptop", "rtx3050", "rtx3080", "rtx3080-12")
    assert all(profile.source == "built-in" and profile.references for profile in BUILTIN.values())
    assert BUILTIN["gtx1650"].fp16_nan_risk and not BUILTIN["gtx1650"].bf16


def test_a_new_card_is_one_file(tmp_path: Path) -> None:
    for file in CARDS.glob("*.toml"):
        shutil.copy(file, tmp_path)
    (tmp_path / "rtx3060.toml").write_text(
        '[rtx3060]\ndescription = "GeForce RTX 3060"\nvram_gib = 12\nbandwidth_gbs = 360\n'
        "fp32_tflops = 12.7\nfp16_tflops = 25.4\nbf16_tflops = 25.4\nint8_tops = 101.6\n"
        'compute_capability = "8.6"\nreferences = ["datasheet"]\n'
    )
    cards = load_cards(tmp_path)
    # 12 GiB like rtx3080-12: memory, then name
    assert list(cards) == ["gtx1650", "rtx3050-laptop", "rtx3050", "rtx3080", "rtx3060", "rtx3080-12"]
    assert cards["rtx3060"].references == ("datasheet",) and cards["rtx3060"].vram_mib == 12 * 1024


def test_a_bad_card_is_one_line_naming_the_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text('[broken]\nvram_gib = "lots"\n')
    with pytest.raises(ProfileError, match=r"broken\.toml.*'vram_gib'") as error:
        load_cards(tmp_path)
    assert "\n" not in str(error.value)
