"""The suite's FID session, one per run: the collector bench/collectors/quality.py asks it for
each variant's fid, fid_n, fid_ref, fid_dims, fid_s, kid, kid_std, is and quality_note."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.instruments.fid import FidSession
from optimize import default_cache_root

if TYPE_CHECKING:
    from bench.suite_config import SuiteConfig

_SESSIONS: dict[int, FidSession] = {}


def fid_cache_dir(config: SuiteConfig) -> Path:
    """Reference statistics live beside the variant cache: <cache root>/../fid-stats."""
    root = config.cache_root or default_cache_root()
    return root.parent / "fid-stats"


def session_for(config: SuiteConfig) -> FidSession:
    key = id(config)
    if key not in _SESSIONS:
        _SESSIONS.clear()  # one suite session at a time; a new config means a new run
        _SESSIONS[key] = FidSession(
            reference=config.fid_reference,
            samples=config.fid_samples,
            dims=config.fid_dims,
            device=config.device,
            cache_dir=fid_cache_dir(config),
            inception=config.fid_inception,
            allow_pickle=config.allow_pickle,
        )
    return _SESSIONS[key]
