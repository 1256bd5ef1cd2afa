"""bench/collectors/: every module in the folder is discovered; the collectors run in their declared order."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import bench.collectors as collectors


def _modules_in_folder() -> list[str]:
    folder = Path(collectors.__file__).parent
    return sorted(f"bench.collectors.{path.stem}" for path in folder.glob("*.py") if path.stem != "__init__")


def test_discovery_lists_exactly_the_modules_in_the_folder():
    assert collectors.collector_modules() == _modules_in_folder()
    assert "bench.collectors.vram" in collectors.collector_modules()


def test_every_module_in_the_folder_registers_a_collector():
    registered = {entry.module for entry in collectors.registered_collectors()}
    assert registered == set(_modules_in_folder())


def test_collectors_run_by_their_declared_order_and_vram_after_the_profile_fit():
    entries = collectors.registered_collectors()
    orders = [entry.order for entry in entries]
    assert orders == sorted(orders)
    names = [entry.name for entry in entries]
    # vram_accounting overwrites `fits` from NVML for runtimes outside torch's allocator.
    assert names.index("profile_fit") < names.index("vram_accounting")
    assert names == [
        "profile_fit",
        "dtype_native",
        "quality_fields",
        "macs_fields",
        "quantisation_fields",
        "runtime_provider",
        "family_fields",
        "checkpoint_fields",
        "vram_accounting",
    ]


def test_a_module_imported_twice_registers_its_collector_once():
    before = len(collectors.registered_collectors())

    @collectors.collector(order=5)
    def probe(run):
        return {}

    @collectors.collector(order=5)  # the same module and name again, as a re-import would
    def probe(run):  # noqa: F811
        return {}

    try:
        entries = collectors.registered_collectors()
        assert len(entries) == before + 1 and entries[0].name == "probe"
    finally:
        del collectors._REGISTERED[(__name__, "probe")]


def test_a_new_module_in_the_package_is_one_file_and_its_fields_reach_the_row(tmp_path, monkeypatch):
    (tmp_path / "probe_metric.py").write_text(
        "from bench.collectors import collector\n\n"
        "@collector(order=95)\n"
        "def probe_metric(run):\n"
        "    return {'probe': run.row['status']}\n"
    )
    collectors.registered_collectors()  # the real modules, imported first
    monkeypatch.setattr(collectors, "__path__", [*collectors.__path__, str(tmp_path)])
    monkeypatch.setattr(collectors, "_discovered", False)
    monkeypatch.setattr(collectors, "_REGISTERED", dict(collectors._REGISTERED))
    monkeypatch.delitem(sys.modules, "bench.collectors.probe_metric", raising=False)
    try:
        assert "bench.collectors.probe_metric" in collectors.collector_modules()
        last = collectors.registered_collectors()[-1]
        assert (last.name, last.order) == ("probe_metric", 95)
        assert last.function(_Run(row={"status": "ok"})) == {"probe": "ok"}
    finally:
        sys.modules.pop("bench.collectors.probe_metric", None)


class _Run:
    def __init__(self, row: dict) -> None:
        self.row = row


def test_a_collector_without_an_order_is_refused():
    def unordered(run):
        return {}

    with pytest.raises(TypeError):  # the old bare `@collector`: where it runs must be declared
        collectors.collector(unordered)  # type: ignore[call-arg]
