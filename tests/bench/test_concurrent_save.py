"""Two runs saving at the same instant into one storage under one name both land.

The clash is forced, not hoped for: both savers list the folder, then wait for each other at a
barrier before claiming, so both pick the same number.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bench import saved_runs

ROOT = Path(__file__).resolve().parents[2]


def _earlier_run(folder: Path) -> bytes:
    folder.mkdir(parents=True, exist_ok=True)
    earlier = json.dumps({"benchmarks": [{"name": "earlier"}]}).encode()
    (folder / "0001_nightly.json").write_bytes(earlier)
    return earlier


def _check_both_landed(folder: Path, earlier: bytes, payloads: dict[str, bytes]) -> list[Path]:
    """Every payload in its own file, numbered 0002 and 0003, the earlier run untouched."""
    assert (folder / "0001_nightly.json").read_bytes() == earlier
    saved = sorted(folder.glob("*_nightly.json"))
    assert [p.name for p in saved] == ["0001_nightly.json", "0002_nightly.json", "0003_nightly.json"]
    contents = {p.read_bytes() for p in saved[1:]}
    assert contents == set(payloads.values())  # both readable, neither overwritten by the other
    for path in saved[1:]:
        assert json.loads(path.read_bytes())["benchmarks"][0]["name"] in payloads
    assert not [p for p in folder.iterdir() if p.name.startswith(".saving-")], "a temporary file was left"
    return saved


def test_two_threads_that_pick_the_same_number_both_land(tmp_path, monkeypatch):
    folder = tmp_path / "machine"
    earlier = _earlier_run(folder)
    barrier = threading.Barrier(2, timeout=30)
    picked: list[int] = []
    real_next_number = saved_runs.next_number

    def next_number_then_wait(where: Path) -> int:
        number = real_next_number(where)
        picked.append(number)
        barrier.wait()  # neither claims before both have listed the folder
        return number

    monkeypatch.setattr(saved_runs, "next_number", next_number_then_wait)
    payloads = {who: json.dumps({"benchmarks": [{"name": who}]}).encode() for who in ("a", "b")}
    landed: dict[str, Path] = {}
    errors: list[BaseException] = []

    def save(who: str) -> None:
        try:
            landed[who] = saved_runs.claim(folder, "nightly", payloads[who])
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=save, args=(who,)) for who in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert picked == [2, 2], "the clash was not forced: both must have picked the same number"
    _check_both_landed(folder, earlier, payloads)
    assert landed["a"] != landed["b"]
    assert {p.read_bytes() for p in landed.values()} == set(payloads.values())


# Each child process lists the folder, then waits until the other one has listed it too (a
# barrier made of files), then claims. `locked` children go through save_run (the lock the
# suite uses); the others through the bare claim, like a writer that knows nothing of the lock.
_CHILD = """
import json, sys, time, types
from pathlib import Path

# bench/__init__.py imports the model stack (seconds); saved_runs needs only the standard library.
sys.modules["bench"] = types.ModuleType("bench")
sys.modules["bench"].__path__ = [str(Path.cwd() / "bench")]
from bench import saved_runs

folder, who, locked = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "locked"
barrier = folder.parent / "barrier"
real_next_number = saved_runs.next_number

def wait_for_both():
    (barrier / who).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < 2:
        if time.monotonic() > deadline:
            sys.exit("the other process never reached the barrier")
        time.sleep(0.001)

def next_number_then_wait(where):
    number = real_next_number(where)
    print("picked", number, flush=True)
    wait_for_both()
    return number

data = json.dumps({"benchmarks": [{"name": who}]}).encode()
if locked:
    wait_for_both()  # both enter save_run at the same instant
    path = saved_runs.save_run(folder.parent, folder.name, "nightly", data, print)
else:
    saved_runs.next_number = next_number_then_wait
    path = saved_runs.claim(folder, "nightly", data)
print("landed", path.name, flush=True)
"""


@pytest.mark.parametrize("mode", ["claim", "locked"])
def test_two_processes_saving_at_the_same_instant_both_land(tmp_path, mode):
    folder = tmp_path / "machine"
    earlier = _earlier_run(folder)
    (tmp_path / "barrier").mkdir()
    command = [sys.executable, "-c", _CHILD, str(folder)]
    out = subprocess.PIPE
    children = [
        subprocess.Popen([*command, who, mode], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
        for who in ("a", "b")
    ]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    if mode == "claim":
        assert all("picked 2" in output for output in outputs), outputs  # the clash really happened
    payloads = {who: json.dumps({"benchmarks": [{"name": who}]}).encode() for who in ("a", "b")}
    _check_both_landed(folder, earlier, payloads)
    landed = sorted(line.split()[1] for output in outputs for line in output.splitlines() if "landed" in line)
    assert landed == ["0002_nightly.json", "0003_nightly.json"]


def test_a_damaged_save_lock_is_moved_aside_and_the_save_lands(tmp_path):
    folder = tmp_path / "machine"
    earlier = _earlier_run(folder)
    (folder / saved_runs.LOCK_NAME).mkdir()  # a folder where the lock file belongs
    said: list[str] = []
    path = saved_runs.save_run(tmp_path, "machine", "nightly", b'{"benchmarks": []}', said.append)
    assert path.name == "0002_nightly.json"
    assert (folder / "0001_nightly.json").read_bytes() == earlier
    (line,) = said
    assert str(folder / saved_runs.LOCK_NAME) in line and str(tmp_path / ".quarantine") in line
    assert (folder / saved_runs.LOCK_NAME).is_file()


def test_a_file_where_the_machine_folder_belongs_is_moved_aside(tmp_path):
    (tmp_path / "machine").write_text("not a folder")
    said: list[str] = []
    path = saved_runs.save_run(tmp_path, "machine", "nightly", b'{"benchmarks": []}', said.append)
    assert path == tmp_path / "machine" / "0001_nightly.json"
    (moved,) = (tmp_path / ".quarantine").iterdir()
    assert moved.read_text() == "not a folder"
    assert said and str(moved) in said[0]


def test_a_saved_run_is_readable_by_others_like_pytest_benchmarks_own(tmp_path):
    path = saved_runs.save_run(tmp_path, "machine", "nightly", b"{}", print)
    assert path.stat().st_mode & 0o777 == 0o644
