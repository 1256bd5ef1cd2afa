"""Device-correct CUDA logic, checked on any machine through its pure parts: bf16 by compute
capability, NVML's device found by UUID/PCI address, the container fallback of NVML memory.
The parts that need a GPU run in `python -m bench.gpu_check`; the tests here that need one skip."""

from __future__ import annotations

import pytest
import torch

from bench.instruments.memory import CudaPeak
from bench.instruments.nvml import (
    DEVICE_DELTA,
    PROCESS,
    choose_reading,
    device_handle,
    pci_bus_id,
    uuid_candidates,
)
from optimize import parse_recipe
from optimize.passes.dtype_cast import bf16_unsupported_reason

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize(("capability", "name"), [((7, 5), "NVIDIA GeForce GTX 1650"), ((6, 1), "GTX 1080")])
def test_bf16_is_refused_below_ampere_even_where_torch_would_emulate_it(capability, name):
    # torch.cuda.is_bf16_supported() says True on a Turing card (bf16 emulated); the capability decides.
    reason = bf16_unsupported_reason(capability, name)
    assert reason is not None
    assert name in reason and f"{capability[0]}.{capability[1]}" in reason and "8.0" in reason


@pytest.mark.parametrize("capability", [(8, 0), (8, 6), (8, 9), (9, 0), (12, 0)])
def test_bf16_runs_on_ampere_and_newer(capability):
    assert bf16_unsupported_reason(capability, "any") is None


def test_bf16_on_the_cpu_is_not_a_cuda_question():
    assert parse_recipe("bf16").unsupported_reason(torch.device("cpu")) is None


@CUDA
def test_bf16_support_follows_the_device_given_not_the_current_one():
    for index in range(torch.cuda.device_count()):
        device = torch.device("cuda", index)
        expected = torch.cuda.get_device_capability(index) >= (8, 0)
        assert (parse_recipe("bf16").unsupported_reason(device) is None) == expected


def test_nvml_uuid_spellings_of_torch_uuid():
    # torch prints the bare 8-4-4-4-12 hex; NVML wants its GPU-/MIG- prefix.
    bare = "5a1e3f9c-0d2b-4c7e-9f10-2b3c4d5e6f70"
    assert uuid_candidates(bare) == (f"GPU-{bare}", f"MIG-{bare}")
    assert uuid_candidates(f"GPU-{bare.upper()}") == (f"GPU-{bare}", f"MIG-{bare}")


def test_nvml_pci_bus_id_has_nvml_layout():
    # nvmlPciInfo_t.busId: 8-digit domain, then bus:device.function, upper-case hex.
    assert pci_bus_id(0, 0x3B, 0) == "00000000:3B:00.0"
    assert pci_bus_id(1, 0xDC, 0x1F) == "00000001:DC:1F.0"


def test_nvml_memory_is_the_process_figure_when_nvml_lists_the_process():
    reading = choose_reading(process_mib=1500.0, device_mib=9000.0, device_at_reset=1000.0)
    assert (reading.mib, reading.basis) == (1500.0, PROCESS)


def test_nvml_memory_falls_back_to_the_device_delta_and_says_so():
    # In a container NVML lists host PIDs only: this process is not there.
    reading = choose_reading(process_mib=None, device_mib=3400.0, device_at_reset=1000.0)
    assert reading.mib == 2400.0 and reading.basis == DEVICE_DELTA
    assert "PID" in DEVICE_DELTA and "container" in DEVICE_DELTA
    assert choose_reading(None, None, 1000.0).mib is None


def test_cpu_rows_have_no_nvml_figure_or_basis():
    peak = CudaPeak(torch.device("cpu"))
    peak.reset()
    peak.sample_nvml()
    assert peak.read()["peak_vram_nvml_mib"] is None
    assert peak.read()["peak_vram_nvml_basis"] is None
    assert device_handle(torch.device("cpu")) is None


@CUDA
def test_nvml_handle_is_the_torch_device_by_uuid():
    pynvml = pytest.importorskip("pynvml")
    for index in range(torch.cuda.device_count()):
        handle = device_handle(torch.device("cuda", index))
        if handle is None:
            pytest.skip("NVML unavailable (no driver library)")
        uuid = str(torch.cuda.get_device_properties(index).uuid)
        assert pynvml.nvmlDeviceGetUUID(handle).lower().endswith(uuid.lower())
