"""CPU-dependent choices, decided from a flag set: every case runs on any machine with faked flags."""

from __future__ import annotations

import pytest
import torch

from bench.suite_config import default_variants
from optimize import PASSES, cpu_features
from optimize.cpu_features import emulated_dtype_note, host_flags, int8_basis, reduce_range_for
from optimize.passes.registry import emulation_note

CPU = torch.device("cpu")
CUDA = torch.device("cuda", 1)
# /proc/cpuinfo flags of the two kinds of build VM (trimmed to what matters).
EPYC_AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma", "f16c"})
XEON_AMX = frozenset(
    {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8"}
)
SKYLAKE_X = frozenset({"avx2", "avx512f", "avx512bw"})  # AVX-512 without VNNI: still saturates
CASCADE_LAKE = frozenset({"avx2", "avx512f", "avx512_vnni"})  # VNNI, no bf16
GRAVITON3 = frozenset({"fp", "asimd", "asimdhp", "asimddp", "bf16", "i8mm"})


@pytest.mark.parametrize(
    ("flags", "arch", "expected"),
    [
        (EPYC_AVX2, "x86_64", True),
        (SKYLAKE_X, "x86_64", True),
        (CASCADE_LAKE, "x86_64", False),
        (XEON_AMX, "x86_64", False),
        (frozenset({"avx2", "avx_vnni"}), "x86_64", False),  # Alder Lake: AVX-VNNI without AVX-512
        (GRAVITON3, "aarch64", False),
        (frozenset(), "x86_64", True),  # flags unknown on x86: 7 bits never saturate
    ],
)
def test_reduce_range_only_on_x86_without_vnni(flags, arch, expected):
    assert reduce_range_for(CPU, flags, arch) is expected


def test_reduce_range_is_off_for_a_gpu_whatever_the_host_cpu():
    assert reduce_range_for(CUDA, EPYC_AVX2, "x86_64") is False
    assert int8_basis(False, CUDA).startswith("full-range weights: cuda")


def test_the_manifest_line_names_the_reason():
    assert "without VNNI" in int8_basis(True, CPU, EPYC_AVX2, "x86_64")
    assert "avx512_vnni, avx_vnni, amx_int8" in int8_basis(False, CPU, XEON_AMX, "x86_64")


def test_host_flags_read_x86_flags_and_arm_features(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_vnni\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimdhp bf16\n")
    assert host_flags(str(x86)) == {"fpu", "avx2", "avx512_vnni"}  # the first CPU's
    assert host_flags(str(arm)) == {"fp", "asimd", "asimdhp", "bf16"}
    assert host_flags(str(tmp_path / "missing")) == frozenset()


@pytest.mark.parametrize(
    ("flags", "emulated"),
    [
        (EPYC_AVX2, {"bf16", "fp16"}),
        (CASCADE_LAKE, {"bf16", "fp16"}),
        (frozenset({"avx512f", "avx512_bf16"}), {"fp16"}),  # Cooper Lake / Zen 4: bf16 only
        (XEON_AMX, set()),
        (GRAVITON3, set()),
        (frozenset(), set()),  # flags unknown: claim nothing
    ],
)
def test_dtype_passes_are_emulated_where_the_cpu_lacks_their_arithmetic(flags, emulated):
    found = {name for name in ("fp32", "bf16", "fp16") if emulation_note(PASSES[name], CPU, flags)}
    assert found == emulated
    assert all(emulation_note(PASSES[name], CUDA, flags) is None for name in ("bf16", "fp16"))
    assert emulation_note(PASSES["prune"], CPU, flags) is None  # sets no dtype


def test_the_note_names_the_type_and_the_missing_flags():
    note = emulated_dtype_note(torch.bfloat16, CPU, EPYC_AVX2)
    assert note is not None and note.startswith("the CPU emulates bf16 (no avx512_bf16/amx_bf16")


@pytest.mark.parametrize(("flags", "has_half"), [(EPYC_AVX2, False), (XEON_AMX, True)])
def test_default_variants_hold_only_dtypes_the_cpu_runs_natively(monkeypatch, flags, has_half):
    monkeypatch.setattr(cpu_features, "host_flags", lambda: flags)
    variants = default_variants(CPU)
    assert variants[0] == "fp32"
    assert ({"bf16", "fp16"} <= set(variants)) is has_half
    assert has_half or not {"bf16", "fp16"} & set(variants)
