"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model():
    from models import load_model

    return load_model("tiny-sd")


@pytest.fixture
def cache(tmp_path: Path):
    from optimize import VariantCache

    return VariantCache(tmp_path / "variants")


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """One ordinary tiny-sd suite run and its repeat, shared by every end-to-end test that only
    reads their rows (tests/helpers/suite_runs.py says which options)."""
    from helpers.suite_runs import run_tiny_twice

    return run_tiny_twice(tmp_path_factory.mktemp("tiny-runs"))
