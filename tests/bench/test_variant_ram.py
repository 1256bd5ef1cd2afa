"""Peak RAM belongs to the variant (issue 15 item 4), and a busy machine is said (item 14)."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from helpers.suite_inprocess import FakeBenchmark, tiny_suite_config

from bench.instruments.contention import CONTENDED_SHARE_PCT, ContentionMeter
from bench.instruments.memory import reset_kernel_peak


def _suite(tmp_path: Path, variants: tuple[str, ...]):
    from bench.suite import Suite

    return Suite(tiny_suite_config(tmp_path, variants))


def test_the_source_model_is_not_resident_while_a_variant_is_measured(tmp_path, monkeypatch):
    import bench.suite as suite_module

    suite = _suite(tmp_path, ("fp32", "bf16"))
    resident_during_measure: list[bool] = []
    real_measure = suite_module.measure

    def watched(*args, **kwargs):
        resident_during_measure.append(suite._source.resident)
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(suite_module, "measure", watched)
    rows = []
    for case in suite.cases():
        info = suite.row(case)
        suite.run(case, FakeBenchmark(), info)
        rows.append(info)
    assert resident_during_measure == [False, False]
    # Loaded once per variant built (fp32, then bf16 after fp32 parked it); rows and collectors
    # read the source's identity without loading its weights back.
    assert suite._source.loads == 2
    for info in rows:
        assert info["status"] == "ok" and info["peak_ram_mib"] >= info["ram_start_mib"] > 0
        assert info["build_peak_ram_mib"] > 0
        assert info["model"] == "tiny-sd" and info["family"] == "stable-diffusion"
    if reset_kernel_peak():
        assert {info["ram_source"] for info in rows} == {"kernel-hwm"}


def test_another_process_busy_during_the_timed_rounds_marks_them_contended():
    spin = "import time\nt = time.time()\nwhile time.time() - t < 2.0:\n    pass\n"
    child = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(0.3)  # the child is past its start-up and spinning
        with ContentionMeter() as meter:
            time.sleep(1.0)  # this process idles; the child takes one CPU
    finally:
        child.wait(timeout=30)
    result = meter.result
    assert result is not None and result.torch_threads == torch.get_num_threads()
    if result.other_cpu_pct is None:
        pytest.skip("no /proc/stat on this system")
    # one busy process is 1/CPUs of the machine: 50% on 2 cores, 6% on 16
    assert result.other_cpu_pct > min(CONTENDED_SHARE_PCT, 50.0 / result.cpus)
    if result.cpus <= 8:
        assert result.contended is True


def test_the_suite_warns_once_per_session_about_contention(tmp_path):
    from bench.suite import ContendedMachine

    suite = _suite(tmp_path, ("fp32",))
    info = {
        "contended": True,
        "other_cpu_pct": 60.0,
        "load_avg_1m": 3.0,
        "torch_threads": 2,
        "variant": "fp32",
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        suite._warn_if_contended(info)
        suite._warn_if_contended(info)
        suite._warn_if_contended({**info, "contended": False})
    contended = [w for w in caught if issubclass(w.category, ContendedMachine)]
    assert len(contended) == 1 and "60% of this machine's CPU" in str(contended[0].message)
