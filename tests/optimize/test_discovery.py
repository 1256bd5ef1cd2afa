"""Passes and variant formats are discovered: a new one is one file that registers itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from optimize.formats import FORMATS, names
from optimize.passes import PASSES


@pytest.fixture
def plugin_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A package `plugs` whose modules register into `plugs.registry.ITEMS` on import."""
    package = tmp_path / "plugs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "registry.py").write_text(
        "from optimize.plugins import DiscoveredRegistry\nITEMS = DiscoveredRegistry('plugs')\n"
    )
    for name in ("one", "two"):
        registers = f"from plugs.registry import ITEMS\nITEMS.add({name!r}, {name!r})\n"
        (package / f"{name}.py").write_text(registers)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for module in [m for m in sys.modules if m == "plugs" or m.startswith("plugs.")]:
        del sys.modules[module]


def test_modules_are_found_on_the_first_lookup_not_on_import(plugin_package: Path):
    from plugs.registry import ITEMS

    assert "plugs.one" not in sys.modules
    assert dict(ITEMS) == {"one": "one", "two": "two"}
    assert "plugs.one" in sys.modules


def test_a_name_registered_twice_is_refused(plugin_package: Path):
    (plugin_package / "three.py").write_text("from plugs.registry import ITEMS\nITEMS.add('one', 'again')\n")
    from plugs.registry import ITEMS

    with pytest.raises(ValueError, match="'one' is registered twice"):
        len(ITEMS)


def test_a_module_that_fails_to_import_fails_every_lookup(plugin_package: Path):
    (plugin_package / "broken.py").write_text("raise ImportError('no such library')\n")
    from plugs.registry import ITEMS

    for _ in range(2):  # not half a registry the second time
        with pytest.raises(ImportError, match="no such library"):
            ITEMS["one"]


def test_importing_the_registries_imports_no_pass_or_format():
    code = textwrap.dedent(
        """
        import sys
        import optimize.passes, optimize.formats, optimize.recipe
        loaded = sorted(m for m in sys.modules if m.startswith(("optimize.passes.", "optimize.formats.")))
        print(" ".join(loaded))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(result.stdout.split())
    assert loaded <= {
        "optimize.passes.base",
        "optimize.passes.registry",
        "optimize.formats.base",
        "optimize.formats.names",
    }, loaded


def test_every_format_name_is_owned_by_names_and_registered_once():
    owned = {value for key, value in vars(names).items() if key.endswith("_FORMAT")}
    assert set(FORMATS) == owned
    assert all(FORMATS[name].name == name for name in owned)


def test_every_pass_names_a_registered_format():
    assert {"fp32", "prune", "int8", "onnx", "compile", "lora-fuse"} <= set(PASSES)
    for cls in PASSES.values():
        assert cls.output_format is None or cls.output_format in FORMATS, cls
