"""Energy per generation (bench/instruments/energy.py): null with the reason where no counter can be
read (real Zeus on this machine), the arithmetic from given counter readings, and the suite's rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.instruments.energy import JOULES_PER_KWH, POWERCAP, EnergyMeter, find_counters

pytest.importorskip("zeus", reason="zeus (ML.ENERGY) is a dependency of the bench extra")

from zeus.monitor.energy import Measurement  # after the skip: zeus may be absent

CPU = torch.device("cpu")
ENERGY_FIELDS = ("energy_j", "images_per_kwh", "energy_counters", "energy_reason")
NO_RAPL = not POWERCAP.exists()
needs_no_rapl = pytest.mark.skipif(not NO_RAPL, reason=f"{POWERCAP} exists here: RAPL may be readable")


@needs_no_rapl
def test_zeus_itself_raises_nothing_and_reads_nothing_without_nvml_or_rapl():
    # What the reason is based on: ZeusMonitor quietly watches no device and returns empty readings.
    from zeus.monitor import ZeusMonitor

    monitor = ZeusMonitor(gpu_indices=[], cpu_indices=None)
    monitor.begin_window("w")
    measured = monitor.end_window("w")
    assert monitor.cpu_indices == [] and measured.gpu_energy == {}
    assert measured.cpu_energy is None and measured.dram_energy is None


@needs_no_rapl
def test_on_a_cpu_run_without_rapl_the_fields_are_null_with_the_reason():
    counters = find_counters(CPU)
    assert counters.gpu_indices == [] and counters.cpu_indices == []
    meter = EnergyMeter(CPU)  # real Zeus, no stand-in
    with meter:
        torch.randn(256, 256) @ torch.randn(256, 256)
    fields = meter.result(generations=3, images_per_generation=1).fields()
    assert fields["energy_j"] is None and fields["images_per_kwh"] is None
    assert fields["energy_counters"] is None
    assert (
        fields["energy_reason"]
        == "no counter to read: the run uses no GPU, and no RAPL (/sys/class/powercap missing)"
    )


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="a GPU here: its counter is the GPU check's (energy-counter)"
)
def test_without_nvml_a_cuda_device_is_not_counted_and_says_why():
    reason = find_counters(torch.device("cuda:0")).reason or ""
    assert "no NVML" in reason


class FakeZeusMonitor:
    """Stands in for ZeusMonitor in the arithmetic tests only: each window returns the next of
    the given readings, as Zeus's own Measurement objects."""

    def __init__(self, readings: list[Measurement]) -> None:
        self.readings = list(readings)
        self.open: list[str] = []

    def begin_window(self, key: str) -> None:
        self.open.append(key)

    def end_window(self, key: str) -> Measurement:
        assert key == self.open.pop()
        return self.readings.pop(0)


def test_energy_per_generation_and_images_per_kwh_from_given_readings():
    readings = [
        Measurement(time=1.0, gpu_energy={0: 100.0}, cpu_energy={0: 20.0}, dram_energy={0: 5.0}),
        Measurement(time=1.5, gpu_energy={0: 150.0}, cpu_energy={0: 30.0}, dram_energy={0: 7.0}),
    ]
    meter = EnergyMeter(CPU, monitor=FakeZeusMonitor(readings))
    for _ in readings:  # per round, as the interleaved path uses it
        meter.begin()
        meter.end()
    energy = meter.result(generations=2, images_per_generation=4)
    fields = energy.fields()
    assert energy.joules == pytest.approx(312.0) and energy.seconds == pytest.approx(2.5)
    assert fields["energy_j"] == pytest.approx(156.0)
    assert fields["images_per_kwh"] == pytest.approx(4 / (156.0 / JOULES_PER_KWH))  # about 92 300
    assert fields["energy_counters"] == "nvml:gpu0+rapl:cpu0+rapl:dram0"
    assert fields["energy_reason"] is None


def test_a_counter_that_did_not_advance_gives_null_with_the_reason_not_zero():
    meter = EnergyMeter(CPU, monitor=FakeZeusMonitor([Measurement(time=0.01, gpu_energy={1: 0.0})]))
    with meter:
        pass
    fields = meter.result(generations=1, images_per_generation=1).fields()
    assert fields["energy_j"] is None and fields["images_per_kwh"] is None
    assert fields["energy_counters"] == "nvml:gpu1"
    assert fields["energy_reason"] == "nvml:gpu1 did not advance over 0.01 s of timed rounds"


def test_a_meter_that_measured_no_window_says_so():
    fields = EnergyMeter(CPU, monitor=FakeZeusMonitor([])).result(3, 1).fields()
    assert fields["energy_j"] is None and fields["energy_reason"] == "no window was measured"


def test_suite_rows_carry_the_energy_fields(tiny_runs):
    run = tiny_runs.load(0)
    timed = [b["extra_info"] for b in run["benchmarks"]]
    failures = [row["extra_info"] for row in run["diffbench"]["rows"]]
    assert timed and failures
    for row in timed + failures:
        assert set(ENERGY_FIELDS) <= set(row), row.keys()
    for row in failures:  # never measured: null, the status says why
        assert all(row[name] is None for name in ENERGY_FIELDS)
    for row in timed:
        if NO_RAPL:
            assert row["energy_j"] is None and row["images_per_kwh"] is None
            assert "no RAPL (/sys/class/powercap missing)" in row["energy_reason"]
        else:  # RAPL present: measured by it, or null because it is not readable
            assert (row["energy_j"] or 0) > 0 or "RAPL" in row["energy_reason"]


def test_report_columns_read_the_energy_fields(tiny_runs):
    import reports

    frame = reports.load([Path(tiny_runs.storage)])
    assert {"energy_j", "images_per_kwh", "energy_counters", "energy_reason"} <= set(frame.columns)
    assert str(frame["energy_j"].dtype) == "float64"
    timed = frame[frame.status == "ok"]
    if NO_RAPL:
        assert timed["energy_j"].isna().all()
        assert timed["energy_reason"].str.contains("powercap missing").all()
    assert len(timed) == 4  # 2 runs x 2 timed variants
