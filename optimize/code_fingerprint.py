"""The harness code that builds and stores a variant, hashed for the variant cache's key.

A cached variant is only as current as the code that built it: a pull request that
changes a pass must not be timed with main's artefact. The hash covers, for one recipe,
the source of each pass's module, of the module of every format its passes name (a
quantised variant after prune is saved on the pruned format's structure), of every
`optimize` module those import (followed transitively), and of the cache and variant
code every build goes through. Imports are read from the source (AST), not from `sys.modules`, so the
set is exactly what each module names, and an edit to the int8 pass leaves the fp16
entries valid.

Two kinds of import are not followed, because they would pull in every pass:
- a package's `__init__` executed implicitly as the parent of a submodule; it is
  followed when a module imports a name from it (passes and formats are found by
  discovery, optimize/plugins.py, which imports by name at run time, so no pass
  imports another through its registry);
- imports under `if TYPE_CHECKING:`, which never run.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from optimize.formats.base import get_format

if TYPE_CHECKING:
    from optimize.recipe import Recipe

_PACKAGE = __name__.split(".")[0]
_PACKAGE_DIR = Path(__file__).resolve().parent
# Every build goes through these, whatever the recipe: a change to how entries are
# written, verified or keyed must not reuse entries written by the old code. Their own
# text only: variant.py imports the pass and format registries, i.e. every pass.
SHARED_MODULES = ("optimize.cache", "optimize.variant", "optimize.code_fingerprint")


@dataclass(frozen=True)
class CodeFingerprint:
    sha256: str
    # Paths relative to the package's parent folder (`optimize/passes/int8.py`), sorted.
    files: tuple[str, ...]


def module_file(module: str) -> Path | None:
    """The source file of an `optimize` module, or None for anything else."""
    parts = module.split(".")
    if parts[0] != _PACKAGE:
        return None
    base = _PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def read_source(path: Path) -> bytes:
    # One place that reads source, so a test can hand in an edited file.
    return path.read_bytes()


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    """Every import that can run: module level and inside functions, not TYPE_CHECKING blocks."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        children = list(ast.iter_child_nodes(node))
        if _is_type_checking_block(node):
            children = list(node.orelse)  # type: ignore[attr-defined]
        pending.extend(children)


def imported_modules(module: str, source: bytes) -> set[str]:
    """The `optimize` modules that `module`'s source imports, by name."""
    found: set[str] = set()
    path = module_file(module)
    is_package = path is not None and path.name == "__init__.py"
    for node in _import_nodes(ast.parse(source, filename=module)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        origin = node.module or ""
        if node.level:
            # Relative import: drop one package level per dot beyond the module's own package.
            anchor = module.split(".")
            anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
            origin = ".".join([*anchor, origin] if origin else anchor)
        for alias in node.names:
            # `from pkg import submodule` imports the submodule; any other name comes from pkg.
            submodule = f"{origin}.{alias.name}"
            found.add(submodule if module_file(submodule) else origin)
    return {name for name in found if module_file(name) is not None}


def _source_file(module: str) -> Path:
    path = module_file(module)
    if path is None:
        raise ValueError(
            f"{module!r} is not a module of the {_PACKAGE} package with source at {_PACKAGE_DIR}"
        )
    return path


def module_closure(roots: Iterable[str]) -> dict[str, Path]:
    """The roots and every `optimize` module they import, transitively: name -> file."""
    closure: dict[str, Path] = {}
    pending = list(roots)
    while pending:
        module = pending.pop()
        if module not in closure:
            closure[module] = _source_file(module)
            pending.extend(imported_modules(module, read_source(closure[module])))
    return closure


def code_fingerprint(roots: Iterable[str], alone: Iterable[str] = ()) -> CodeFingerprint:
    """Hash `roots` with their imports, and the modules in `alone` by their own text only."""
    paths = [*module_closure(roots).values(), *map(_source_file, alone)]
    files = {path.relative_to(_PACKAGE_DIR.parent).as_posix(): path for path in paths}
    digest = hashlib.sha256()
    for name in sorted(files):
        # The path is hashed with the content, so moving code between files changes the key too.
        digest.update(name.encode() + b"\0" + hashlib.sha256(read_source(files[name])).digest())
    return CodeFingerprint(digest.hexdigest(), tuple(sorted(files)))


def recipe_modules(recipe: Recipe) -> list[str]:
    """The modules defining the recipe's passes and the formats they name (and the classes they inherit)."""
    formats = {recipe.format} | {step.output_format for step in recipe.passes if step.output_format}
    classes = [type(step) for step in recipe.passes] + [type(get_format(name)) for name in sorted(formats)]
    return sorted(
        {klass.__module__ for cls in classes for klass in cls.__mro__ if module_file(klass.__module__)}
    )


def recipe_code_fingerprint(recipe: Recipe) -> CodeFingerprint:
    return code_fingerprint(recipe_modules(recipe), alone=SHARED_MODULES)
