"""`diffbench run [suite options]`: the benchmark suite, `pytest bench/` with exactly its options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROG = "diffbench run"
SUMMARY = "the benchmark suite: pytest bench/ with the same options (e.g. --variants fp32,bf16)"


class _NamedDiffbenchRun:
    """A plugin for this call only: pytest's usage errors name `diffbench run`, which the user
    typed, where pytest.main() names itself ("usage: pytest.main() [options]")."""

    @staticmethod
    def pytest_addoption(parser: Any) -> None:
        parser.prog = PROG


def main(argv: list[str]) -> int:
    import pytest  # the suite's options are registered by pytest's plugins, so pytest parses them

    suite = Path(__file__).resolve().parent.parent  # the bench package, in a clone or installed
    return int(pytest.main([str(suite), *argv], plugins=[_NamedDiffbenchRun()]))
