"""The design's import table (DESIGN.md, "The flow") and no import circle inside a package.

The contracts themselves live in pyproject.toml ([tool.importlinter]); `tox -e lint` runs
`lint-imports` on them too. The cycle check builds each package's import graph with grimp
(the library import-linter is built on), which sees every import statement: module level,
inside functions and under `if TYPE_CHECKING:`. A function-local import that only dodges a
circle is still a circle here.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "optimize", "bench", "reports")
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_every_package_has_its_contract():
    # One contract per row of the design's table: dropping one must fail here, not pass quietly.
    assert sorted(contract["id"] for contract in CONTRACTS) == sorted(PACKAGES)
    assert {module for contract in CONTRACTS for module in contract["source_modules"]} == set(PACKAGES)


@pytest.mark.parametrize("contract", [contract["id"] for contract in CONTRACTS])
def test_import_contract_is_kept(contract: str):
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "pyproject.toml", "--contract", contract, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _graph(package: str, include_external_packages: bool = False) -> grimp.ImportGraph:
    """The package's import graph, read from this checkout (no cache left behind)."""
    sys.path.insert(0, str(ROOT))
    try:
        return grimp.build_graph(package, include_external_packages=include_external_packages, cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))


def import_cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    modules = sorted(m for m in graph.modules if m == package or m.startswith(f"{package}."))
    inside = set(modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & inside) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            module, next_edge = work.pop()
            if next_edge == 0:
                index[module] = low[module] = len(index)
                stack.append(module)
                on_stack.add(module)
            for position in range(next_edge, len(edges[module])):
                target = edges[module][position]
                if target not in index:
                    work.extend([(module, position + 1), (target, 0)])
                    break
                if target in on_stack:
                    low[module] = min(low[module], index[target])
            else:
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
    return cycles


def _describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    members = set(cycle)
    lines = [f"{len(cycle)} modules import each other in a circle:"]
    for importer in cycle:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            details = graph.get_import_details(importer=importer, imported=imported)
            where = ", ".join(f"l.{detail['line_number']}" for detail in details)
            lines.append(f"  {importer} -> {imported} ({where})")
    return "\n".join(lines)


def test_cycle_finder_finds_a_circle():
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"):
        graph.add_module(name)
    circle_and_a_tail = [("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a"), ("pkg.c", "pkg.d")]
    for importer, imported in circle_and_a_tail:
        graph.add_import(importer=importer, imported=imported)
    assert import_cycles(graph, "pkg") == [["pkg.a", "pkg.b", "pkg.c"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_inside_package(package: str):
    graph = _graph(package)
    cycles = import_cycles(graph, package)
    assert not cycles, "\n".join(_describe(graph, cycle) for cycle in cycles)


def test_run_record_imports_only_the_standard_library():
    # bench may import reports.record and nothing else of reports: the record must not pull pandas in.
    if not (ROOT / "reports" / "record.py").is_file():
        pytest.skip("reports/record.py does not exist yet")
    graph = _graph("reports", include_external_packages=True)
    imported = graph.find_modules_directly_imported_by("reports.record")
    outside = sorted(m for m in imported if m.split(".")[0] not in sys.stdlib_module_names)
    assert not outside, f"reports.record imports {', '.join(outside)}; it is stdlib only"
