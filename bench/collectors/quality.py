"""The quality collector: `--quality fid` adds fid, fid_n, fid_ref, fid_dims, fid_s, kid,
kid_std, is and quality_note to every timed row (see docs/run-format.md)."""

from __future__ import annotations

from typing import Any

from bench.collectors import FinishedRun, collector
from bench.errors import BenchError
from bench.quality.collector import session_for
from optimize import BASELINE, VariantCache, build_variant, parse_recipe


@collector(order=30)
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
