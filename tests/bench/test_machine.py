"""The machine block of every saved run: what decides which CPU recipe wins is recorded."""

from __future__ import annotations

import torch

from bench import machine


def test_machine_info_records_cpu_features_and_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    info = machine.machine_info()
    assert set(info["cpu_flags"]) <= set(machine._CPU_FLAGS)
    assert info["torch_threads"] == torch.get_num_threads() >= 1
    assert info["omp_num_threads"] == "1"
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_cpu_flags_are_read_from_cpuinfo_in_a_fixed_order(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: Test CPU\nflags\t\t: fpu amx_int8 sse avx2 avx512f\n")
    assert machine.cpu_flags(str(cpuinfo)) == ["avx2", "avx512f", "amx_int8"]
    assert machine.cpu_flags(str(tmp_path / "missing")) == []
