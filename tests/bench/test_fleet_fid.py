"""Sharded FID (issue 19, item 3) on a real Ray cluster of two local nodes of one profile: the FID/KID
of tiny-ddpm-ihc's samples made by seed ranges on the nodes equals the one-machine suite's row over
the same seeds; the seed split; `fleet fid`'s command line.

Tolerance: the shards batch their samples (and extract their features) in other groups than one
machine does, on one thread per node, so float rounding may differ; on this CPU the features came
out bit-identical (max abs difference 0.0 for FID and KID). The test allows 1e-6 relative to the
figure, and 1e-6 absolute below 1: an FID or KID near 0 is a difference of large terms whose
float noise is absolute (fp32 against its own samples gives -1.6e-8 here, not 0). Real changes are
far larger: bf16's samples move this FID by 0.4% (33.44 -> 33.29).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.suite_runs import run_bench_together

from bench.cli_parser import OneLineParser
from bench.fleet.errors import FleetError
from bench.fleet.fid_shards import (
    SeedRange,
    ShardedFid,
    ShardFailed,
    fleet_fid_fields,
    split_seeds,
    suite_config,
)
from bench.fleet.ray_import import import_ray
from bench.fleet.resources import advertise
from models.ihc import export_png, heldout_crops

PROFILE = "rtx3050"
SAMPLES = 7  # K=2: 4+3, K=3: 3+2+2
TOLERANCE = 1e-6  # relative, absolute below 1 (see the module's docstring)


def fid_options(reference: Path | str) -> list[str]:
    return [
        "--model=tiny-ddpm-ihc",
        "--steps=2",
        f"--fid-samples={SAMPLES}",
        "--fid-dims=64",
        f"--fid-reference={reference}",
        "--device=cpu",
    ]


# -- the seed split --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "samples", "shards"), [(0, 7, 2), (0, 7, 3), (5, 10, 10), (3, 100, 7), (0, 1, 1)]
)
def test_the_split_is_contiguous_covering_and_balanced(first, samples, shards):
    ranges = split_seeds(first, samples, shards)
    assert len(ranges) == shards
    assert ranges[0].start == first and ranges[-1].stop == first + samples
    assert all(a.stop == b.start for a, b in itertools.pairwise(ranges))  # no gap, no overlap
    seeds = [seed for r in ranges for seed in range(r.start, r.stop)]
    assert seeds == list(range(first, first + samples))
    sizes = [r.count for r in ranges]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)  # the longer ranges first


def test_the_uneven_split_of_seven_in_three():
    assert split_seeds(10, 7, 3) == [SeedRange(10, 3), SeedRange(13, 2), SeedRange(15, 2)]


@pytest.mark.parametrize(
    ("samples", "shards", "message"),
    [
        (7, 8, "--shards 8 is more than --fid-samples 7; give at most 7 shards"),
        (7, 0, "--shards 0 is out of range"),
        (7, -1, "--shards -1 is out of range"),
    ],
)
def test_more_shards_than_samples_or_none_is_refused(samples, shards, message):
    with pytest.raises(FleetError, match=message):
        split_seeds(0, samples, shards)


def test_suite_options_are_parsed_by_the_suites_own_groups(tmp_path):
    reference = tmp_path / "reference"
    export_png(heldout_crops()[:3], reference)
    config = suite_config([*fid_options(reference), "--variants=bf16", "--rounds=3"])
    assert (config.model, config.fid_samples, config.fid_dims, config.quality) == (
        "tiny-ddpm-ihc",
        7,
        64,
        "fid",
    )
    assert config.workloads[0].steps == 2 and config.workloads[0].seed == 0
    with pytest.raises(FleetError, match="'--benchmark-save=x' is not a suite option"):
        suite_config([*fid_options(reference), "--benchmark-save=x"])
    with pytest.raises(FleetError, match="'--profile=gtx1650' is set by the fleet"):
        suite_config([*fid_options(reference), "--profile=gtx1650"])
    with pytest.raises(Exception, match="--fid-dims 100 is not available"):
        suite_config([*fid_options(reference), "--fid-dims=100"])
    with pytest.raises(Exception, match="is not a folder"):
        suite_config([*fid_options(tmp_path / "nothing")])


# -- on a two-node cluster, against the one-machine suite -----------------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The small reference folder (8 held-out crops) and the variant cache every process shares."""
    root = tmp_path_factory.mktemp("fleet-fid")
    export_png(heldout_crops()[:8], root / "reference")
    return root


@pytest.fixture(scope="module")
def one_machine(folder):
    """The ordinary suite's fp32 and bf16 rows with --quality fid over the same seeds (FidSession),
    against the folder and against the baseline: {reference: {variant: row}}; the two runs together."""
    references = {"folder": str(folder / "reference"), "baseline": "baseline"}
    option_sets = [
        [
            f"--benchmark-storage={folder / name}",
            "--benchmark-save=one",
            "--rounds=1",
            "--warmup=0",
            "--variants=fp32,bf16",
            "--quality=fid",
            *fid_options(reference),
        ]
        for name, reference in references.items()
    ]
    # One thread each: two suites on two cores, not four threads fighting for them.
    env = {"DIFFBENCH_CACHE": str(folder / "cache"), "OMP_NUM_THREADS": "1"}
    results = run_bench_together(option_sets, env=env)
    rows = {}
    for name, result in zip(references, results, strict=True):
        assert result.returncode == 0, result.stdout + result.stderr
        (path,) = sorted((folder / name).rglob("*.json"))
        benchmarks = json.loads(path.read_text())["benchmarks"]
        rows[name] = {b["extra_info"]["variant"]: b["extra_info"] for b in benchmarks}
    return rows


@pytest.fixture(scope="module")
def cluster(folder):
    """A head with no profile and two 1-CPU nodes advertising the same profile; yields (address, node ids).
    The nodes' workers inherit this environment: offline, the module's variant cache."""
    saved = {name: os.environ.get(name) for name in ("HF_HUB_OFFLINE", "DIFFBENCH_CACHE")}
    os.environ.update(HF_HUB_OFFLINE="1", DIFFBENCH_CACHE=str(folder / "cache"))
    ray = import_ray()  # sets the environment the cluster's processes inherit (bench/fleet/ray_import.py)
    from ray.cluster_utils import Cluster

    local = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        advert = advertise(PROFILE)
        node_ids = [
            local.add_node(num_cpus=1, resources=advert.resources, labels=advert.labels).node_id
            for _ in range(2)
        ]
        ray.init(address=local.address, logging_level="warning", log_to_driver=False)
        yield local.address, node_ids
    finally:
        ray.shutdown()
        local.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _close(sharded: float, single: float) -> bool:
    return abs(sharded - single) <= TOLERANCE * max(abs(single), 1.0)


@pytest.mark.parametrize("shards", [2, 3])
def test_sharded_fid_equals_the_one_machine_suite_row(cluster, one_machine, folder, shards):
    import ray

    _, node_ids = cluster
    fid = ShardedFid(ray, PROFILE, fid_options(folder / "reference"), shards)
    for variant in ("fp32", "bf16"):
        result = fid.score(variant)
        row = one_machine["folder"][variant]
        fields = result.fields()
        diffs = {key: abs(fields[key] - row[key]) for key in ("fid", "kid")}
        print(f"K={shards} {variant}: max abs diff {diffs}")
        assert _close(fields["fid"], row["fid"]), (fields["fid"], row["fid"])
        assert _close(fields["kid"], row["kid"]), (fields["kid"], row["kid"])
        assert fields["fid_shards"] == shards
        for key in ("fid_n", "fid_ref", "fid_dims", "kid_std", "is", "quality_note"):
            assert fields[key] == row[key], key
        ranges = split_seeds(0, SAMPLES, shards)
        assert [shard.seeds for shard in result.shards] == ranges
        assert [len(shard.features) for shard in result.shards] == [r.count for r in ranges]
        assert {shard.node_id for shard in result.shards} <= set(node_ids)
        if shards == 2:  # one slot per node: two tasks at once are on both nodes
            assert {shard.node_id for shard in result.shards} == set(node_ids)
    # bf16 changes the arithmetic: a different FID, so the equality above is not a constant.
    assert one_machine["folder"]["fp32"]["fid"] != one_machine["folder"]["bf16"]["fid"]


def test_fleet_fid_fields_is_the_rows_fid_fields(cluster, one_machine, folder):
    import ray

    fields = fleet_fid_fields(ray, PROFILE, fid_options(folder / "reference"), "fp32", shards=2)
    row = one_machine["folder"]["fp32"]
    assert set(fields) == {
        "fid",
        "fid_n",
        "fid_ref",
        "fid_dims",
        "fid_s",
        "kid",
        "kid_std",
        "is",
        "quality_note",
        "fid_shards",
    }
    assert _close(fields["fid"], row["fid"]) and fields["fid_s"] > 0


def test_against_the_baseline_the_reference_is_the_baselines_sharded_samples(cluster, one_machine):
    import ray

    fid = ShardedFid(ray, PROFILE, fid_options("baseline"), 2)
    reference = fid.reference()
    assert reference.count == SAMPLES and reference.features.shape == (SAMPLES, 64)
    result = fid.score("bf16")
    row = one_machine["baseline"]["bf16"]
    print(
        f"baseline reference, K=2 bf16: abs diff fid {abs(result.score.fid - row['fid'])}, "
        f"kid {abs(result.score.kid - row['kid'])}"
    )
    assert _close(result.score.fid, row["fid"]) and _close(result.score.kid, row["kid"])
    assert result.fields()["fid_ref"] == row["fid_ref"] == "baseline"
    assert fid.reference() is reference  # made once, kept for every variant
    # fp32 against its own samples (their shards reused): the suite's near-zero figure.
    own = fid.score("fp32")
    assert _close(own.score.fid, one_machine["baseline"]["fp32"]["fid"])


def test_a_shard_that_fails_on_its_node_is_one_line_naming_why(cluster, folder):
    import ray

    # trt parses on the driver; building it needs TensorRT, which no node here has.
    fid = ShardedFid(ray, PROFILE, fid_options(folder / "reference"), 2)
    with pytest.raises(ShardFailed, match="sharded FID of trt on rtx3050: a shard failed: ") as raised:
        fid.score("trt")
    assert "\n" not in str(raised.value)
    print(raised.value)


def test_a_profile_no_node_advertises_is_refused(cluster, folder):
    import ray

    with pytest.raises(
        FleetError, match="no node of the cluster advertises profile gtx1650; the cluster has: rtx3050"
    ):
        ShardedFid(ray, "gtx1650", fid_options(folder / "reference"), 2)


# -- `fleet fid`'s command line -----------------------------------------------------------------
def _parse(*argv: str):
    from bench.fleet.fid_cli import add_fid_parser

    parser = OneLineParser(prog="diffbench fleet", allow_abbrev=False)
    add_fid_parser(parser.add_subparsers(dest="action", required=True, parser_class=OneLineParser))
    return parser.parse_args(["fid", *argv])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--shards", "8"], "--shards 8 is more than --fid-samples 7"),
        (["--shards", "two"], "--shards 'two' is not a whole number"),
        (["--variants", "fp32,nope"], "nope"),
        (["--profile", "gtx9999"], "profile 'gtx9999' is unknown; known profiles:"),
        (["--model", "no-such-model"], "no-such-model"),
    ],
)
def test_bad_input_is_one_error_before_the_cluster_is_asked(folder, extra, message):
    from bench.errors import BenchError
    from bench.fleet.fid_cli import fid_command

    base = {"--address": "127.0.0.1:1", "--profile": PROFILE, "--variants": "fp32"}
    pairs = dict(zip(extra[::2], extra[1::2], strict=True))
    argv = [part for key, value in {**base, **pairs}.items() for part in (key, value)]
    args = _parse(*fid_options(folder / "reference"), *argv)  # the last --model counts
    with pytest.raises(BenchError, match=message) as raised:
        fid_command(args)  # address 127.0.0.1:1 answers nothing: reaching it would be another error
    assert "\n" not in str(raised.value)


def test_fleet_fid_prints_a_line_per_variant_and_writes_json(cluster, one_machine, folder, tmp_path, capsys):
    """In this process (its Ray workers are warm): fid_command uses the module's connection and shuts
    it down at its end, as the command does; connected again after, for any test that follows."""
    import ray

    from bench.fleet.fid_cli import fid_command

    address, _ = cluster
    output = tmp_path / "fid.json"
    argv = ["--address", address, "--profile", PROFILE, "--variants", "fp32,bf16", "--output", str(output)]
    try:
        assert fid_command(_parse(*argv, *fid_options(folder / "reference"))) == 0
    finally:
        if not ray.is_initialized():
            ray.init(address=address, logging_level="warning", log_to_driver=False)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[fleet fid]")]
    assert len(lines) == 2
    assert lines[0].startswith(f"[fleet fid] {PROFILE} fp32 32x32/")
    assert f"{SAMPLES} samples in 2 shards" in lines[0]  # the default: one shard per node
    rows = json.loads(output.read_text())
    assert [row["variant"] for row in rows] == ["fp32", "bf16"]
    for row in rows:
        assert _close(row["fid"], one_machine["folder"][row["variant"]]["fid"])
        assert row["fid_shards"] == 2 and sum(shard["count"] for shard in row["shards"]) == SAMPLES


def test_fleet_run_with_quality_fid_scores_each_row_from_sharded_samples(
    cluster, one_machine, folder, tmp_path
):
    """`fleet run --quality fid`: the nodes' suites time without FID, then each row gets the sharded
    FID, equal to the one-machine suite's row over the same seeds."""
    address, _ = cluster
    storage = tmp_path / "runs"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "bench", "fleet", "run", "--address", address, "--profiles", PROFILE),
            *("--storage", str(storage), "--fid-shards", "2"),
            *("--variants=fp32,bf16", "--rounds=1", "--warmup=0", "--quality=fid"),
            *fid_options(folder / "reference"),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "DIFFBENCH_CACHE": str(folder / "cache")},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (path,) = storage.rglob("*.json")
    rows = {b["extra_info"]["variant"]: b["extra_info"] for b in json.loads(path.read_text())["benchmarks"]}
    assert sorted(rows) == ["bf16", "fp32"]
    for variant, row in rows.items():
        single = one_machine["folder"][variant]
        assert row["fid_shards"] == 2 and row["fid_n"] == SAMPLES
        assert _close(row["fid"], single["fid"]), (variant, row["fid"], single["fid"])
        assert _close(row["kid"], single["kid"]), (variant, row["kid"], single["kid"])
    assert "FID " in result.stdout and "from 2 seed range(s)" in result.stdout
