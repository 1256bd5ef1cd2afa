"""Report commands are discovered: a module of the package with `register` is a command."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

import reports
from reports.cli import build_parser, command_modules

COMMANDS = {"beforeafter", "checkpoints", "compare", "delta", "family", "fits", "gate", "history", "html",
            "plots", "recommend", "sweep", "table", "tune", "webui"}  # fmt: skip


def test_every_command_module_is_found_and_only_those() -> None:
    found = command_modules()
    assert all(callable(module.register) for module in found)
    assert "reports.loader" not in {module.__name__ for module in found}
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(subparsers.choices) == COMMANDS


def test_a_new_module_with_register_is_a_command_without_touching_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "fake_reports"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("VALUE = 1\n")
    (package / "__main__.py").write_text("raise SystemExit('importing __main__ runs the CLI')\n")
    (package / "newcommand.py").write_text(
        "def register(commands, parents):\n"
        "    parser = commands.add_parser('newcommand', parents=parents)\n"
        "    parser.set_defaults(run=lambda args: 0)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = __import__("fake_reports")
    assert isinstance(fake, types.ModuleType)
    assert [module.__name__ for module in command_modules(fake)] == ["fake_reports.newcommand"]
    sys.modules.pop("fake_reports.newcommand", None)


def test_the_real_package_is_the_default() -> None:
    assert command_modules() == command_modules(reports)
