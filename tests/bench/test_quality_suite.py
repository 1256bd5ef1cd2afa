"""`pytest bench/ --model tiny-ddpm-ihc --quality fid`: every variant's row gets its FID."""

from __future__ import annotations

import json

import pytest
from helpers.suite_runs import run_bench_together

from bench.errors import BenchError
from bench.quality.options import quality_options
from models.ihc import export_png, heldout_crops
from tests.bench.test_suite_e2e import saved_runs, suite_options

FID_OPTIONS = (
    "--benchmark-save=quality",
    "--model=tiny-ddpm-ihc",
    "--quality=fid",
    "--fid-samples=6",
    "--fid-dims=64",
    "--variants=fp32,bf16",
    "--steps=2",
    "--rounds=1",
)


@pytest.fixture(scope="module")
def quality_runs(tmp_path_factory):
    """The FID run and the run with a missing reference folder, each as run_suite runs it in its
    own folder, started together."""
    good, bad = tmp_path_factory.mktemp("quality"), tmp_path_factory.mktemp("quality-bad")
    reference = good / "reference"
    export_png(heldout_crops()[:8], reference)  # a small folder keeps the test fast
    option_sets = [
        (*suite_options(good), *FID_OPTIONS, f"--fid-reference={reference}"),
        (*suite_options(bad), "--model=tiny-ddpm-ihc", "--quality=fid", f"--fid-reference={bad / 'no'}"),
    ]
    envs = [{"DIFFBENCH_CACHE": str(folder / "cache")} for folder in (good, bad)]
    fid_run, bad_run = run_bench_together(option_sets, envs=envs)
    return {"fid": (good, reference, fid_run), "bad": (bad, bad_run)}


def test_quality_fid_fills_every_variant(quality_runs):
    tmp_path, reference, result = quality_runs["fid"]
    assert result.returncode == 0, result.stdout + result.stderr
    (path,) = saved_runs(tmp_path)
    rows = {b["extra_info"]["variant"]: b["extra_info"] for b in json.loads(path.read_text())["benchmarks"]}
    assert set(rows) == {"fp32", "bf16"}
    for row in rows.values():
        assert row["fid"] > 0 and row["kid"] is not None and row["fid_s"] > 0
        assert (row["fid_n"], row["fid_ref"], row["fid_dims"]) == (6, str(reference), 64)
        assert row["is"] is None and "IS unavailable" in row["quality_note"]
        assert "full rank needs at least 65" in row["quality_note"]
        assert row["text_encoder_s"] is None and row["vae_decode_s"] is None
        assert row["workload"].startswith("32x32/")  # the model's native size by default
    # bf16 changes the UNet's arithmetic, so its samples (same seeds) differ from fp32's.
    assert rows["bf16"]["fid"] != rows["fp32"]["fid"]


def test_a_bad_reference_stops_the_run_with_one_line(quality_runs):
    result = quality_runs["bad"][1]
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "is not a folder; give a folder of images, 'baseline', or one of ihc-heldout" in output
    assert "Traceback" not in output


def _options(**given):
    defaults = {"--quality": "fid", "--fid-samples": "100", "--fid-dims": "2048"}
    defaults.update({f"--{key.replace('_', '-')}": value for key, value in given.items()})
    return lambda name: defaults.get(name)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"quality": "psnr"}, "--quality 'psnr' is unknown; accepted: fid"),
        ({"fid_dims": "100"}, "--fid-dims 100 is not available; accepted: 64, 192, 768, 2048"),
        ({"fid_dims": "big"}, "--fid-dims 'big' is not a number"),
        ({"fid_samples": "1"}, "--fid-samples 1 must be at least 2"),
        ({"fid_samples": "x"}, "--fid-samples 'x' is not an integer"),
    ],
)
def test_bad_quality_options_name_the_value_and_what_is_accepted(given, expected):
    with pytest.raises(BenchError) as error:
        quality_options(_options(**given), "tiny-ddpm-ihc")
    assert expected in str(error.value)


def test_quality_defaults_follow_the_model():
    assert quality_options(_options(), "tiny-ddpm-ihc")["fid_reference"] == "ihc-heldout"
    assert quality_options(_options(), "tiny-sd")["fid_reference"] == "baseline"
