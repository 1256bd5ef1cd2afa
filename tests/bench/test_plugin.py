"""bench as a pytest plugin: registered once whichever way pytest finds it, its options declared by
the groups in bench/options (shared with the studies), and no import circle in bench."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import bench.plugin
from bench.options import GROUPS, SUITE_OPTIONS, option_defaults, suite_arguments
from bench.studies.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
# A run the plugin configures in a second or two: no build, nothing measured (--collect-only).
QUICK = ["--collect-only", "-q", "-p", "no:cacheprovider", "--import-mode=importlib"]
QUICK += ["--device", "cpu", "--variants", "fp32"]


class SeenConfig:
    """A plugin handed to pytest.main that keeps the inner session's config."""

    config: pytest.Config | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config


def _fake_distribution(folder: Path) -> Path:
    """An installed distribution whose only content is the suite's pytest11 entry point."""
    info = folder / "diffbench_entry_point-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: diffbench-entry-point\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text("[pytest11]\nbench.plugin = bench.plugin\n")
    return folder


def _run_inner(
    tmp_path: Path, *args: str, plugins: tuple[object, ...] = ()
) -> tuple[int, pytest.Config | None]:
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    seen = SeenConfig()
    options = [*QUICK, "--cache-dir", str(tmp_path / "cache"), f"--rootdir={tmp_path}", *args]
    status = pytest.main([*options, str(tmp_path / "test_nothing.py")], plugins=[*plugins, seen])
    return int(status), seen.config


def _names_of(module: ModuleType, config: pytest.Config | None) -> list[str]:
    assert config is not None
    return [name for name, plugin in config.pluginmanager.list_name_plugin() if plugin is module]


def test_the_entry_point_is_named_like_the_module_the_conftest_names():
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert entry_points["pytest11"] == {"bench.plugin": "bench.plugin"}
    conftest = (ROOT / "conftest.py").read_text()
    assert 'pytest_plugins = ("bench.plugin",)' in conftest and "def pytest_" not in conftest


def test_entry_point_and_conftest_register_the_plugin_once(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.syspath_prepend(str(_fake_distribution(tmp_path / "site")))
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text('pytest_plugins = ("bench.plugin",)\n')
    status, config = _run_inner(project)
    assert status == 0 and config is not None
    assert _names_of(bench.plugin, config) == ["bench.plugin"]
    loaded_by = [dist.project_name for plugin, dist in config.pluginmanager.list_plugin_distinfo()]
    assert any(plugin is bench.plugin for plugin, _ in config.pluginmanager.list_plugin_distinfo()), loaded_by
    # Its own hooks come with it: the journal and the per-profile storage.
    assert config.pluginmanager.get_plugin("bench.journal_plugin") is not None
    assert config.pluginmanager.get_plugin("bench.profiles.plugin") is not None


class OtherTimeoutPlugin:
    """pytest-timeout's --timeout, declared before the suite's (plugins passed to pytest.main come first)."""

    def pytest_addoption(self, parser: pytest.Parser) -> None:
        parser.getgroup("timeout").addoption("--timeout", default=None, help="another plugin's timeout")


def test_another_plugins_timeout_is_kept_and_its_value_read(tmp_path):
    status, config = _run_inner(tmp_path, "--timeout", "7", plugins=(OtherTimeoutPlugin(),))
    assert status == 0 and config is not None
    assert bench.plugin.suite_from(config).config.timeout_s == 7.0


def test_bad_option_is_one_line_and_exit_2(tmp_path, capsys):
    status, _ = _run_inner(tmp_path, "--rounds", "abc")
    assert status == 2
    said = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert said == ["Exit: error: --rounds 'abc' is not a whole number; give one (1 or more)"]


def test_every_option_belongs_to_one_group_and_has_help():
    names = [option.name for option in SUITE_OPTIONS]
    assert len(names) == len(set(names)) == 35
    assert {group.TITLE for group in GROUPS} == {
        f"diffbench {part}" for part in ("model", "workload", "run", "hardware", "adapters", "quality")
    }
    assert all(option.help for option in SUITE_OPTIONS)
    assert option_defaults()["--allow-pickle"] is False and option_defaults()["--rounds"] == "5"


def test_studies_declare_the_suites_options_and_pass_them_on():
    parser = build_parser()
    args = parser.parse_args(["sweep", "--sweep", "steps=1,2", "--seeds", "0,1"])
    assert (args.rounds, args.variants, args.model) == ("3", "fp32", "tiny-sd")
    passed = suite_arguments(args, ("--sweep", "--seeds", "--prompts-file", "--rounds"))
    assert passed == ["--sweep", "steps=1,2", "--seeds", "0,1", "--rounds", "3"]
    checkpoints = parser.parse_args(["checkpoints", "folder", "--fid-samples", "8"])
    assert (checkpoints.fid_samples, checkpoints.seed, checkpoints.steps) == (8, 0, "4")


def test_declaring_the_options_imports_no_torch():
    code = (
        "import sys, bench.options, bench.studies.cli as cli; cli.build_parser(); "
        "heavy = [m for m in ('torch', 'diffusers', 'optimize') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_no_import_circle_in_bench():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("bench", include_external_packages=False)
    circles = [
        (module, imported)
        for module in sorted(graph.modules)
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.find_shortest_chain(importer=imported, imported=module)
    ]
    assert circles == []
