"""`fleet run --storage`: a folder or an fsspec URL, checked in one line before anything starts; runs
written with the next free number and never over a run already there; `str(storage)` is what
`reports` reads. memory:// is fsspec's real in-process filesystem; no cluster is needed."""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.fleet_cli import fleet

import reports
from bench.fleet.errors import FleetError
from bench.fleet.storage import UrlStorage, check_storage, write_run
from reports.cli import main as reports_cli

fsspec = pytest.importorskip("fsspec")
from fsspec.implementations.memory import MemoryFileSystem  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RUN = (REPO / "tests" / "fixtures" / "reports" / "0001_first.json").read_text()  # a real run's shape
# A known protocol whose filesystem package this environment lacks (s3fs is not in any extra).
MISSING_BACKEND = next(
    (
        (url, package)
        for url, package in (("s3://b/x", "s3fs"), ("gs://b/x", "gcsfs"), ("abfs://c/x", "adlfs"))
        if importlib.util.find_spec(package) is None
    ),
    None,
)


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A fresh folder of fsspec's memory filesystem (one store per process), removed afterwards."""
    root = f"/fleet-{uuid.uuid4().hex[:8]}"
    yield root
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_memory_url_numbers_runs_and_keeps_the_one_already_there(memory_root):
    storage = check_storage(f"memory://{memory_root}/")
    assert isinstance(storage, UrlStorage) and str(storage) == f"memory://{memory_root}"
    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"{memory_root}/Linux-x/0001_fleet-gtx1650.json", b'{"earlier": true}')

    first = write_run(storage, "Linux-x/0001_fleet-gtx1650.json", '{"a": 1}')
    second = write_run(storage, "Linux-x/0001_fleet-gtx1650.json", '{"a": 2}')
    other = write_run(storage, "Linux-y/0005_fleet-rtx3050.json", '{"a": 3}')

    assert (first, second, other) == (
        f"memory://{memory_root}/Linux-x/0002_fleet-gtx1650.json",
        f"memory://{memory_root}/Linux-x/0003_fleet-gtx1650.json",
        f"memory://{memory_root}/Linux-y/0001_fleet-rtx3050.json",
    )
    assert fs.cat_file(f"{memory_root}/Linux-x/0001_fleet-gtx1650.json") == b'{"earlier": true}'
    assert fs.cat_file(f"{memory_root}/Linux-x/0002_fleet-gtx1650.json") == b'{"a": 1}'
    assert fs.cat_file(f"{memory_root}/Linux-x/0003_fleet-gtx1650.json") == b'{"a": 2}'


def test_two_writes_of_one_name_into_an_empty_url_get_0001_and_0002(memory_root):
    storage = check_storage(f"memory://{memory_root}")
    paths = [write_run(storage, "m/0009_fleet-cpu.json", text) for text in ("{}", "[]")]
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["0001_fleet-cpu.json", "0002_fleet-cpu.json"]


class _RivalMemory(MemoryFileSystem):
    """fsspec's memory filesystem where a rival driver takes a name between our check and our create:
    the instant check-then-write cannot close and the exclusive create ("xb") does."""

    protocol = ("rivalmemory",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.rival_wrote: list[str] = []

    def exists(self, path: str, **kwargs: object) -> bool:
        found = super().exists(path, **kwargs)
        if not found and not self.rival_wrote and path.endswith(".json"):
            self.pipe_file(path, b'{"rival": true}')
            self.rival_wrote.append(path)
        return found


def test_a_name_taken_after_the_check_is_not_overwritten_and_the_next_is_used(memory_root):
    fs = _RivalMemory(skip_instance_cache=True)
    storage = UrlStorage(f"memory://{memory_root}", fs, memory_root)
    written = write_run(storage, "m/0001_fleet-gtx1650.json", '{"ours": true}')
    assert fs.rival_wrote == [f"{memory_root}/m/0001_fleet-gtx1650.json"]
    assert written.endswith("/m/0002_fleet-gtx1650.json")
    assert fs.cat_file(f"{memory_root}/m/0001_fleet-gtx1650.json") == b'{"rival": true}'
    assert fs.cat_file(f"{memory_root}/m/0002_fleet-gtx1650.json") == b'{"ours": true}'


def test_the_url_storage_is_what_reports_read(memory_root):
    storage = check_storage(f"memory://{memory_root}")
    write_run(storage, "Linux-x/0001_first.json", RUN)
    loaded = reports.load(str(storage))
    assert set(loaded["source"]) == {f"memory://{memory_root}/Linux-x/0001_first.json"}
    assert len(loaded) == 4


def test_a_write_that_the_store_refuses_is_one_line(memory_root):
    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"{memory_root}/m", b"a file where the machine folder goes")
    storage = check_storage(f"memory://{memory_root}")
    with pytest.raises(FleetError, match=rf"^cannot write a run into memory://{memory_root}: ") as caught:
        write_run(storage, "m/0001_fleet-cpu.json", "{}")
    assert "\n" not in str(caught.value)


def test_a_file_url_is_a_local_folder_that_reports_compare_reads(tmp_path, capsys):
    storage = check_storage(f"file://{tmp_path}/runs")
    assert storage == tmp_path / "runs" and not storage.exists()  # checked, not created
    first = write_run(storage, "Linux-x/0001_first.json", RUN)
    second = write_run(storage, "Linux-x/0001_first.json", RUN)
    assert (first, second) == (storage / "Linux-x/0001_first.json", storage / "Linux-x/0002_first.json")
    assert reports_cli(["compare", "--by", "profile", "--format", "csv", str(storage)]) == 0
    assert "bf16" in capsys.readouterr().out  # a variant of the fixture run


def test_a_relative_folder_is_made_absolute(tmp_path, monkeypatch):
    # The report after a fleet run runs from the repository root, not from the driver's folder.
    monkeypatch.chdir(tmp_path)
    assert check_storage("runs") == tmp_path / "runs"


def test_a_local_storage_that_is_a_file_is_refused(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("x")
    for text in (str(taken), str(taken / "below"), f"file://{taken}"):
        with pytest.raises(FleetError, match=rf"^--storage '{text}': {taken} is a file; give a folder"):
            check_storage(text)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder: nothing to refuse")
def test_a_local_storage_this_user_cannot_write_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(FleetError, match=r"is not writable by this user"):
        check_storage(str(locked / "runs"))


def test_an_unknown_protocol_is_one_line():
    with pytest.raises(FleetError) as caught:
        check_storage("nosuchfs://bucket/runs")
    message = str(caught.value)
    assert message.startswith("--storage 'nosuchfs://bucket/runs': Protocol not known: nosuchfs;")
    assert "fsspec URL" in message and "\n" not in message


@pytest.mark.skipif(MISSING_BACKEND is None, reason="s3fs, gcsfs and adlfs are all installed here")
def test_a_known_protocol_without_its_package_names_the_package():
    url, package = MISSING_BACKEND
    expected = rf"^--storage '{url}' needs a package that is not installed: .*{package}"
    with pytest.raises(FleetError, match=expected):
        check_storage(url)


@pytest.mark.skipif(MISSING_BACKEND is None, reason="s3fs, gcsfs and adlfs are all installed here")
def test_fleet_run_refuses_a_storage_without_its_backend_before_the_address():
    url, package = MISSING_BACKEND
    # Nothing listens on port 1: the storage must be refused before the address is tried.
    result = fleet("run", "--address", "127.0.0.1:1", "--profiles", "gtx1650", "--storage", url, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr
    assert lines[0].startswith(f"error: --storage {url!r} needs a package") and package in lines[0]
