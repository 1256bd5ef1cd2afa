"""What `--profile` and `diffbench profiles` tell the user: the names accepted, the bf16 column."""

from __future__ import annotations

import re

import pytest
import torch

from bench.profiles import detect
from bench.profiles.__main__ import HEADER, _row
from bench.profiles.detect import CPU_BF16_FLAGS, DeviceDescription, cpu_flags, cpu_profile
from bench.profiles.errors import ProfileError
from bench.profiles.select import catalogue, resolve_profile
from optimize import cpu_features

CPU_HOST = DeviceDescription("cpu", "AMD EPYC", 24_000.0)
H100 = DeviceDescription("cuda", "NVIDIA H100 80GB HBM3", 81_559.0, (9, 0))
BF16 = HEADER.index("bf16 TF")


# -- --profile: the names listed are the names accepted -----------------------------------------
@pytest.mark.parametrize("host", [CPU_HOST, H100], ids=["cpu-host", "gpu-host"])
def test_an_unknown_profile_lists_exactly_the_names_that_resolve(host):
    profiles = catalogue(host)
    with pytest.raises(ProfileError) as error:
        resolve_profile("nope", host, profiles)
    listed = re.search(r"known profiles: (.*) \(or add", str(error.value))
    assert listed is not None
    names = listed.group(1).split(", ")
    assert names.count("host") == 1 and names[0] == "auto"
    for name in names:
        resolve_profile(name, host, profiles)  # every listed name is accepted


# -- diffbench profiles: the cpu row's bf16 -------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "shown"),
    [
        ({"avx2", "fma"}, "no"),  # an AVX2-only EPYC: PyTorch converts every bf16 op to fp32
        ({"avx2", "avx512f", "avx512_bf16"}, "-"),
        ({"avx2", "amx_bf16"}, "-"),
        ({"asimd", "bf16"}, "-"),  # aarch64's Features name
    ],
)
def test_the_cpu_row_shows_bf16_supported_at_an_unknown_rate_where_it_is_native(flags, shown):
    profile = cpu_profile(CPU_HOST, frozenset(flags))
    assert _row(profile)[BF16] == shown
    assert profile.bf16 is (shown == "-")
    # What the fit and the projection read is the same either way: no rates, no refused dtype.
    assert not profile.has_rates and profile.unsupported_reason("bfloat16") is None


def test_the_listing_reads_this_machines_flags(monkeypatch, capsys):
    from bench.profiles.__main__ import main

    monkeypatch.setattr(detect, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert catalogue(CPU_HOST)["cpu"].bf16
    assert main(["--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines[0].index("bf16 TF")
    (cpu_line,) = [line for line in lines if line.startswith("cpu ")]
    assert cpu_line[start:].split()[0] == "-"


def test_the_flags_are_the_ones_the_suite_decides_native_bf16_by():
    assert cpu_features.NATIVE_FLAGS[torch.bfloat16] == CPU_BF16_FLAGS
    assert cpu_flags() == cpu_features.host_flags()  # the same /proc/cpuinfo line, read without torch
