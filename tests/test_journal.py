"""Nothing lost: a suite killed mid-run is recovered from its journal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.journal import JOURNAL_DIR, Journal, recover_all

ROOT = Path(__file__).resolve().parents[1]
DEAD_PID = 2**22 + 12345  # above the default pid_max: no process can have it


def _suite(tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DIFFBENCH_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "pytest", "bench/", "-q", "-p", "no:cacheprovider",
        f"--benchmark-storage={tmp_path / 'storage'}", "--rounds=1", "--warmup=0", *options,
    ]  # fmt: skip
    pipe = subprocess.PIPE
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=pipe, stderr=subprocess.STDOUT, text=True)


def _journal_benchmarks(storage: Path) -> int:
    return sum(
        1
        for journal in (storage / JOURNAL_DIR).glob("*.jsonl")
        for line in journal.read_text().splitlines()
        if '"kind": "benchmark"' in line
    )


def _orphan(journal: Journal, pid: int = DEAD_PID) -> None:
    """Make a journal look as if its writer were process `pid`."""
    lines = journal.path.read_text().splitlines()
    header = json.loads(lines[0])
    header["pid"] = pid
    journal.path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")


def test_sigkill_after_some_benchmarks_loses_none_of_them(tmp_path):
    storage = tmp_path / "storage"
    # Several variants with more steps, so the kill lands mid-run.
    process = _suite(tmp_path, "--benchmark-save=killed", "--variants=fp32,bf16,fp16,fp16+bf16", "--steps=8")
    deadline = time.monotonic() + 300
    while _journal_benchmarks(storage) < 2:
        assert process.poll() is None, f"the suite ended before it could be killed: {process.stdout.read()}"
        assert time.monotonic() < deadline, "no benchmark finished within 300 s"
        time.sleep(0.2)
    finished = _journal_benchmarks(storage)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not list(storage.rglob("0001_killed.json")), "pytest-benchmark should not have saved anything"

    result = subprocess.run(
        [sys.executable, "-m", "bench.recover", f"--storage={storage}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (saved,) = storage.rglob("*_killed-partial.json")
    run = json.loads(saved.read_text())
    assert run["diffbench"]["partial"] is True
    assert len(run["benchmarks"]) == finished >= 2
    assert [b["extra_info"]["variant"] for b in run["benchmarks"]][:2] == ["fp32", "bf16"]
    assert all(b["stats"]["median"] > 0 for b in run["benchmarks"])
    assert not list((storage / JOURNAL_DIR).glob("*.jsonl"))

    import reports

    frame = reports.load([storage])
    assert set(frame.variant) >= {"fp32", "bf16"}


def test_next_run_recovers_a_dead_runs_journal_automatically(tmp_path):
    storage = tmp_path / "storage"
    journal = Journal(storage, "Linux-CPython-3.11-64bit", "nightly")
    journal.start({"node": "x"}, {}, "5.3.1")
    journal.benchmark({"name": "test_generation[fp32]", "fullname": "f", "extra_info": {}, "stats": {}})
    _orphan(journal)

    process = _suite(tmp_path, "--benchmark-save=next", "--variants=fp32")
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    assert "recovered 1 benchmark(s)" in output
    (recovered,) = storage.rglob("*_nightly-partial.json")
    assert recovered.parent.name == "Linux-CPython-3.11-64bit"  # the dead run's own machine folder
    assert json.loads(recovered.read_text())["diffbench"]["partial"] is True
    assert len(list(storage.rglob("0001_next.json"))) == 1


def test_a_line_cut_in_half_by_the_kill_is_dropped_not_fatal(tmp_path):
    journal = Journal(tmp_path, "m", "cut")
    journal.start({}, {}, "5.3.1")
    journal.benchmark({"name": "a", "stats": {}})
    with journal.path.open("a") as handle:
        handle.write('{"kind": "benchmark", "rec')
    _orphan(journal)
    (recovered,) = recover_all(tmp_path)
    assert recovered.benchmarks == 1
    assert json.loads(recovered.saved.read_text())["benchmarks"] == [{"name": "a", "stats": {}}]


def test_a_live_runs_journal_is_left_alone(tmp_path):
    journal = Journal(tmp_path, "m", "live")
    journal.start({}, {}, "5.3.1")
    journal.benchmark({"name": "a"})
    _orphan(journal, pid=os.getppid())  # alive, and not this process
    assert recover_all(tmp_path) == []
    assert journal.path.exists()
