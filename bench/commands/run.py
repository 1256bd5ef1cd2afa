"""`diffbench run [suite options]`: the benchmark suite, `pytest bench/` with exactly its options."""

from __future__ import annotations

from pathlib import Path

SUMMARY = "the benchmark suite: pytest bench/ with the same options (e.g. --variants fp32,bf16)"


def main(argv: list[str]) -> int:
    import pytest  # the suite's options are registered by pytest's plugins, so pytest parses them

    suite = Path(__file__).resolve().parent.parent  # the bench package, in a clone or installed
    return int(pytest.main([str(suite), *argv]))
