"""The suite's quality collector: `--quality fid` adds fid, fid_n, fid_ref, fid_dims, fid_s, kid,
kid_std, is and quality_note to every timed row (see docs/run-format.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.collectors import FinishedRun, collector
from bench.errors import BenchError
from bench.instruments.fid import FidSession
from optimize import BASELINE, VariantCache, build_variant, default_cache_root, parse_recipe

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


@collector
def quality_fields(run: FinishedRun) -> dict[str, Any]:
    config = run.config
    if config.quality != "fid" or run.row.get("status") != "ok":
        return {}
    session = session_for(config)
    name = run.variant.name
    if session.uses_baseline and not session.has_reference() and name != BASELINE:
        # The baseline was not in --variants (or not run first): sample it now, once.
        baseline = build_variant(
            run.model, parse_recipe(BASELINE), config.device, VariantCache(config.cache_root)
        )
        session.set_baseline(session.features(baseline.pipeline, run.workload, BASELINE)[0])
        del baseline
    try:
        features, extract_s = session.features(run.variant.pipeline, run.workload, name)
    except BenchError as why:  # e.g. one of the N samples has NaN pixels: no FID, and why
        return {"fid": None, "fid_n": config.fid_samples, "quality_note": f"no FID: {why}"}
    if session.uses_baseline and name == BASELINE:
        session.set_baseline(features)
    return session.score(features, extract_s).fields()
