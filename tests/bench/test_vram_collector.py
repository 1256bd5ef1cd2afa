"""Rows of runtimes outside torch's allocator (ORT on CUDA) are judged by NVML, not by having run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import bench.collectors.vram as vram_collector
from optimize.export.vram import NVML_DEVICE_DELTA, vram_accounting


def _run(nvml_mib, emulated=True, vram_mib=4096):
    profile = SimpleNamespace(name="gtx1650", vram_mib=vram_mib)
    selection = SimpleNamespace(profile=profile, emulation=SimpleNamespace(emulated=emulated))
    return SimpleNamespace(
        variant=SimpleNamespace(pipeline=object()),
        config=SimpleNamespace(device=torch.device("cuda:0"), hardware=selection),
        row={"peak_vram_nvml_mib": nvml_mib},
    )


@pytest.fixture
def ort_on_cuda(monkeypatch):
    fields = vram_accounting(["CUDAExecutionProvider"], "cuda", cap=None)
    assert fields["vram_source"] == NVML_DEVICE_DELTA and fields["vram_capped"] is False
    monkeypatch.setattr(vram_collector, "pipeline_vram_accounting", lambda pipeline, device: dict(fields))


def test_an_uncapped_runtime_over_the_profiles_memory_does_not_fit(ort_on_cuda):
    row = vram_collector.vram_accounting(_run(nvml_mib=5200.0))
    assert row["fits"] is False and "5200 MiB over gtx1650's 4096 MiB" in row["fit_note"]
    assert row["vram_capped"] is False


def test_an_uncapped_runtime_within_the_profile_fits_and_without_nvml_is_unknown(ort_on_cuda):
    assert vram_collector.vram_accounting(_run(nvml_mib=3000.0))["fits"] is True
    unknown = vram_collector.vram_accounting(_run(nvml_mib=None))
    assert unknown["fits"] is None and "unknown" in unknown["fit_note"]


def test_not_emulated_rows_keep_the_profile_collectors_fit(ort_on_cuda):
    assert "fits" not in vram_collector.vram_accounting(_run(nvml_mib=9999.0, emulated=False))


def test_a_cpu_row_says_it_ran_on_the_host(tiny_model):
    run = SimpleNamespace(
        variant=SimpleNamespace(pipeline=tiny_model.pipeline),
        config=SimpleNamespace(device=torch.device("cpu"), hardware=None),
        row={},
    )
    assert vram_collector.vram_accounting(run)["vram_source"] == "host"
