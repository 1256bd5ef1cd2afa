"""docs/passes.md and docs/options.md, generated from the passes' and the suite options' own metadata.

The pass table reads optimize's registry (each pass's name, summary and parameters); the option
table records what the suite's pytest plugin declares, by calling its `pytest_addoption` hook
with a parser that only writes the calls down. A new pass or option shows up here with no edit to
this script; tests/tools/test_docs_tables.py fails when a committed page is out of date.

    .venv/bin/python tools/docs_tables.py           # rewrite both pages
    .venv/bin/python tools/docs_tables.py --check   # exit 1, naming the pages, when one differs
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

# The registries import diffusers, which imports torchao and transformers: keep their notices off
# this script's output (the suite's plugin sets the same).
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REGENERATE = ".venv/bin/python tools/docs_tables.py"


def _header(source: str) -> str:
    return f"<!-- Generated from {source} by tools/docs_tables.py: do not edit; run `{REGENERATE}`. -->\n\n"


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


# --- the passes ---------------------------------------------------------------------------------


def _param_text(param: Any) -> str:
    parts = [f"`{param.name}` ({param.kind.__name__}"]
    if param.choices is not None:
        parts.append(": " + " / ".join(f"`{choice}`" for choice in param.choices))
    if param.low is not None or param.high is not None:
        low = "" if param.low is None else f"{param.low:g} < "
        high = "" if param.high is None else f" < {param.high:g}"
        parts.append(f", {low}{param.name}{high}")
    parts.append(", required)" if param.required else f", default `{param.default}`)")
    return "".join(parts)


def passes_page() -> str:
    import models  # noqa: F401  first: it silences the quantisation libraries' import notices
    from optimize.passes.registry import PASSES

    lines = [
        _header("optimize/passes (each pass's `name`, `summary` and `params`)"),
        "# Passes\n\n",
        "Every pass a recipe can name (passes joined by `+`, arguments in brackets: "
        "`prune(0.3,importance=taylor)+bf16`). What each does in depth: [recipes.md](recipes.md); "
        "where built variants are kept: [cache.md](cache.md). *Default suite*: among the suite's "
        "variants when `--variants` is not given (if the device runs it natively and it needs no "
        "argument).\n\n",
        "| pass | what it does | arguments | default suite |\n",
        "| --- | --- | --- | --- |\n",
    ]
    for name in sorted(PASSES):
        cls = PASSES[name]
        arguments = "; ".join(_param_text(param) for param in cls.params) or "none"
        default = "yes" if cls.in_default_suite else "no"
        lines.append(f"| `{name}` | {_cell(cls.summary)} | {_cell(arguments)} | {default} |\n")
    return "".join(lines)


# --- the suite's options ------------------------------------------------------------------------


@dataclass
class RecordedGroup:
    name: str
    description: str
    options: list[tuple[tuple[str, ...], dict[str, Any]]] = field(default_factory=list)

    def addoption(self, *names: str, **attrs: Any) -> None:
        self.options.append((names, attrs))

    _addoption = addoption


class RecordingParser:
    """The part of pytest's Parser a plugin's pytest_addoption calls, writing the calls down."""

    def __init__(self) -> None:
        self.groups: dict[str, RecordedGroup] = {}

    def getgroup(self, name: str, description: str = "", after: str | None = None) -> RecordedGroup:
        group = self.groups.setdefault(name, RecordedGroup(name, description))
        group.description = group.description or description
        return group

    def addoption(self, *names: str, **attrs: Any) -> None:
        self.getgroup("general").addoption(*names, **attrs)

    def addini(self, *args: Any, **kwargs: Any) -> None:
        """ini-file settings are not suite options."""


def _root_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("diffbench_root_conftest", ROOT / "conftest.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {ROOT / 'conftest.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def option_hooks() -> list[Callable[[Any], None]]:
    """The suite's pytest_addoption hooks: bench.plugin's and the plugins it names, else the root
    conftest's (where the options lived before the plugin held them)."""
    hooks: list[Callable[[Any], None]] = []
    try:
        plugin = importlib.import_module("bench.plugin")
    except ImportError:
        plugin = None
    if plugin is not None:
        modules = [plugin, *(importlib.import_module(name) for name in getattr(plugin, "pytest_plugins", ()))]
        hooks = [module.pytest_addoption for module in modules if hasattr(module, "pytest_addoption")]
    if not hooks:
        conftest = _root_conftest()
        hooks = [conftest.pytest_addoption] if hasattr(conftest, "pytest_addoption") else []
    if not hooks:
        raise SystemExit("error: no pytest_addoption hook in bench.plugin nor in the root conftest.py")
    return hooks


def _default_text(attrs: dict[str, Any]) -> str:
    if attrs.get("action") == "store_true":
        return "off"
    default = attrs.get("default")
    if default is None or default == []:
        return ""
    return f"`{default}`"


def options_page() -> str:
    parser = RecordingParser()
    for hook in option_hooks():
        hook(parser)
    lines = [
        _header("the suite plugin's `pytest_addoption` (each option's name, default and help)"),
        "# The suite's options\n\n",
        "Options of `.venv/bin/pytest bench/ --benchmark-save=NAME [options]`, by group, as `--help` "
        "lists them. pytest-benchmark's own options (`--benchmark-storage`, `--benchmark-compare`, "
        "`--benchmark-json`, ...) work as usual. What they do in context: [running.md](running.md).\n",
    ]
    for group in parser.groups.values():
        if not group.options:
            continue
        lines.append(f"\n## {_cell(group.description or group.name)}\n\n")
        lines.append("| option | default | meaning |\n| --- | --- | --- |\n")
        for names, attrs in group.options:
            metavar = f" {attrs['metavar']}" if attrs.get("metavar") else ""
            spelled = ", ".join(f"`{name}{metavar}`" for name in names)
            lines.append(f"| {spelled} | {_cell(_default_text(attrs))} | {_cell(attrs.get('help', ''))} |\n")
    return "".join(lines)


# --- the command --------------------------------------------------------------------------------

PAGES: dict[str, Callable[[], str]] = {"passes.md": passes_page, "options.md": options_page}


def pages() -> dict[str, str]:
    """File name under docs/ -> its generated text."""
    return {name: make() for name, make in PAGES.items()}


def stale(docs: Path) -> list[Path]:
    """The pages under `docs` whose text differs from what this script would write."""
    return [docs / name for name, text in pages().items() if _read(docs / name) != text]


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed page differs")
    parser.add_argument(
        "--docs", type=Path, default=DOCS, help="the docs folder (default: the clone's docs/)"
    )
    args = parser.parse_args(argv)
    if args.check:
        drifted = stale(args.docs)
        for path in drifted:
            print(f"error: {path} is out of date: run `{REGENERATE}`", file=sys.stderr)
        return 1 if drifted else 0
    for name, text in pages().items():
        temporary = args.docs / f".{name}.tmp"
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, args.docs / name)  # a reader never sees half a page
        print(f"wrote {args.docs / name}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # run as `python tools/docs_tables.py` from a clone
    raise SystemExit(main())
