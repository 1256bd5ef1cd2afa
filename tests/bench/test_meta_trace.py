"""One meta-device trace per row (bench/instruments/meta_trace.py): the MAC count reads the memory
estimate's traces, and the row's figures are those of the two separate traces it replaced."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

import bench.instruments.flops as flops
import bench.instruments.meta_trace as meta_trace
from bench.collectors import FinishedRun
from bench.collectors.macs import macs_fields
from bench.collectors.profile_fit import profile_fit
from bench.instruments.flops import image_macs
from bench.instruments.meta_trace import workload_estimate
from bench.profiles.fit import fit_fields
from bench.profiles.table import BUILTIN
from bench.workload import make_workload
from models import load_model
from optimize import build_variant, parse_recipe

GTX1650 = SimpleNamespace(profile=BUILTIN["gtx1650"], catalogue=dict(BUILTIN))
# Batch 2 with guidance: the estimate traces the UNet at 4 rows and the encoder at 2, the MAC
# count's calls are at 1.
GUIDED_BATCH = make_workload("64", 2, 2, 7.5, "euler", "a cat", 0)


def _finished(model, recipe: str, cache, hardware: Any, workload=GUIDED_BATCH) -> FinishedRun:
    variant = build_variant(model, parse_recipe(recipe), torch.device("cpu"), cache)
    row = {"dtype": "float32", "offload": "none"}  # every recipe here computes in fp32
    return FinishedRun(SimpleNamespace(hardware=hardware), model, variant, workload, None, row)


def _separate_traces(run: FinishedRun) -> dict[str, Any]:
    """The row's fields as the two collectors computed them before, each with its own trace."""
    pipeline, workload = run.variant.pipeline, run.workload
    counted = image_macs(pipeline, workload)
    estimate = workload_estimate(pipeline, workload)
    return {
        "offload": "none",
        **fit_fields(estimate, GTX1650.profile, GTX1650.catalogue, run.row["dtype"]),
        "est_vs_measured_mib": None,
        "macs_g": counted.per_image / 1e9,
        "unet_macs_g": counted.unet / 1e9,
    }


class _Calls:
    """Counts the calls of a function while passing them through."""

    def __init__(self, function) -> None:
        self.function, self.calls = function, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.function(*args, **kwargs)


@pytest.fixture
def spies(monkeypatch) -> SimpleNamespace:
    traced = SimpleNamespace(estimates=_Calls(meta_trace.estimate_pipeline), macs=_Calls(flops.count_macs))
    monkeypatch.setattr(meta_trace, "estimate_pipeline", traced.estimates)
    monkeypatch.setattr(flops, "count_macs", traced.macs)
    return traced


def _collected(run: FinishedRun) -> dict[str, Any]:
    return {**profile_fit(run), **macs_fields(run)}


@pytest.mark.parametrize("recipe", ["fp32", "prune(0.3)", "int8"])
def test_one_trace_gives_the_separate_traces_figures(tiny_model, cache, recipe, spies):
    run = _finished(tiny_model, recipe, cache, GTX1650)
    expected = _separate_traces(run)
    spies.estimates.calls = spies.macs.calls = 0
    assert _collected(run) == expected
    assert expected["est_peak_mem_mib"] is not None and expected["macs_g"] > 0
    # One estimate for the row, and no stage traced a second time for its MACs.
    assert (spies.estimates.calls, spies.macs.calls) == (1, 0)
    assert run.meta_trace is run.meta_trace  # made on first use, then kept


def test_without_a_profile_only_the_macs_are_traced(tiny_model, cache, spies):
    run = _finished(tiny_model, "fp32", cache, hardware=None)
    counted = image_macs(run.variant.pipeline, run.workload)
    spies.macs.calls = 0
    assert profile_fit(run) == {"offload": "none"}
    assert macs_fields(run) == {"macs_g": counted.per_image / 1e9, "unet_macs_g": counted.unet / 1e9}
    assert spies.estimates.calls == 0
    assert spies.macs.calls == 3  # text encoder, UNet, VAE decode: each traced once, at batch 1


@pytest.mark.parametrize("name", ["tiny-vae-ihc", "tiny-dcgan"])
def test_a_family_without_a_denoiser_counts_macs_and_is_not_estimated(name, cache, spies):
    model = load_model(name)
    run = _finished(model, "fp32", cache, GTX1650)
    counted = image_macs(run.variant.pipeline, run.workload)
    fields = _collected(run)
    assert fields["projection"].startswith("not estimated: the memory estimate and projection cover UNet")
    assert fields["est_peak_mem_mib"] is None
    assert (fields["macs_g"], fields["unet_macs_g"]) == (counted.per_image / 1e9, None)
    assert spies.estimates.calls == 0


def test_a_trace_of_other_input_shapes_is_not_reused(tiny_model, cache, spies, monkeypatch):
    """A tokenizer of 32 tokens: the family's calls take 32, the estimate traces 77, so the text
    encoder and the UNet are counted on their own; the VAE decode still reads the estimate."""
    run = _finished(tiny_model, "fp32", cache, GTX1650)
    monkeypatch.setattr(run.variant.pipeline.tokenizer, "model_max_length", 32)
    counted = image_macs(run.variant.pipeline, run.workload)
    spies.macs.calls = 0
    assert macs_fields(run) == {"macs_g": counted.per_image / 1e9, "unet_macs_g": counted.unet / 1e9}
    assert (spies.estimates.calls, spies.macs.calls) == (1, 2)
