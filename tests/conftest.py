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
