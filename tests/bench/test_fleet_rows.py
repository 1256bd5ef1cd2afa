"""A profile's rows put back together (bench/fleet/rows.py) and its variants split (bench/fleet/shards.py):
which variants an interrupted attempt finished, what a retry times, and the one run assembled from
shards and attempts, which the reports read."""

from __future__ import annotations

import json

import pytest

from bench.fleet.errors import FleetError
from bench.fleet.rows import (
    Attempt,
    ShardOutcome,
    assemble_run,
    finished_variants,
    machine_folder,
    still_to_time,
)
from bench.fleet.shards import (
    check_shard_by,
    parse_shards,
    plan_cells,
    split_variants,
    variants_option,
    with_variants,
)
from reports.loader import load
from reports.record import SCHEMA

HEADER = {
    "kind": "header",
    "machine_id": "Linux-CPython-3.11-64bit-cpu",
    "machine_info": {"node": "a", "cpu": {"brand_raw": "test"}},
    "commit_info": {"id": "abc"},
    "version": "5.1.0",
    "started": "2026-12-05T04:00:00+00:00",
    "pid": 1,
}


def record(variant: str, workload: str = "w1", median: float = 1.0) -> dict:
    name = f"test_generation[{variant}-{workload}]"
    return {
        "name": name,
        "fullname": f"bench/test_generation.py::{name}",
        "group": None,
        "params": None,
        "param": f"{variant}-{workload}",
        "extra_info": {"variant": variant, "workload": workload, "status": "ok", "reason": ""},
        "options": {},
        "stats": {"min": median, "max": median, "mean": median, "stddev": 0.0, "rounds": 1, "median": median,
                  "iqr": 0.0, "q1": median, "q3": median, "iqr_outliers": 0, "stddev_outliers": 0,
                  "outliers": "0;0", "ld15iqr": median, "hd15iqr": median, "ops": 1 / median, "total": median,
                  "iterations": 1},
    }  # fmt: skip


def journal(*records: dict) -> list[dict]:
    return [HEADER, *({"kind": "benchmark", "record": r} for r in records)]


def test_every_variant_but_the_last_seen_is_finished():
    rows = [{"benchmark": record(v, w)} for v, w in [("fp32", "w1"), ("fp32", "w2"), ("bf16", "w1")]]
    assert finished_variants(rows, "fp32") == {"fp32"}  # bf16 lacks w2
    rows.append({"benchmark": record("bf16", "w2")})
    assert finished_variants(rows, "fp32") == {"fp32", "bf16"}  # it has every workload the baseline had
    assert finished_variants(rows[:2], "fp32") == set()  # the baseline alone: the next one may not have begun
    assert finished_variants([], "fp32") == set()


def test_a_retry_times_the_baseline_and_only_what_no_earlier_attempt_finished():
    first = Attempt("n1", "h1", ["fp32", "bf16", "int8", "fp16"], journal(record("fp32"), record("bf16")))
    second = Attempt("n2", "h2", ["fp32", "int8", "fp16"], journal(record("fp32"), record("int8")))
    assert still_to_time(["fp32", "bf16", "int8", "fp16"], [first], "fp32") == ["fp32", "int8", "fp16"]
    assert still_to_time(["fp32", "bf16", "int8", "fp16"], [first, second], "fp32") == ["fp32", "fp16"]
    # No baseline timed: the last variant seen may be unfinished, so it is timed again.
    no_baseline = Attempt("n", "h", ["bf16", "int8"], journal(record("bf16"), record("int8")))
    assert still_to_time(["bf16", "int8"], [no_baseline], "fp32") == ["int8"]


def test_the_run_takes_each_row_from_its_latest_attempt_and_one_baseline_row():
    lost = Attempt(
        "node-a", "a", ["fp32", "bf16", "int8"], journal(record("fp32", median=9.0), record("bf16"))
    )
    final = Attempt("node-b", "b", ["fp32", "int8"], journal(), outcome="finished")
    final.saved = {**_run_of(record("fp32", median=2.0), record("int8"))}
    other = Attempt("node-c", "c", ["fp32", "fp16"], journal(), outcome="finished")
    other.saved = _run_of(record("fp32", median=5.0), record("fp16"))
    shards = [
        ShardOutcome(1, ["fp32", "bf16", "int8"], [lost, final]),
        ShardOutcome(2, ["fp32", "fp16"], [other]),
    ]
    run = assemble_run("gtx1650", shards, "fp32")
    assert run is not None
    variants = [(b["extra_info"]["variant"], b["stats"]["median"]) for b in run["benchmarks"]]
    # Shard 1's latest baseline (the retry's), the lost attempt's bf16, the retry's int8, shard 2's fp16.
    assert variants == [("fp32", 2.0), ("bf16", 1.0), ("int8", 1.0), ("fp16", 1.0)]
    assert run["diffbench"]["partial"] is False and run["diffbench"]["rows"] == []
    attempts = run["diffbench"]["fleet"]["shards"][0]["attempts"]
    assert [(a["node_id"], a["outcome"], a["rows"]) for a in attempts] == [
        ("node-a", "lost", 2),
        ("node-b", "finished", 2),
    ]
    assert machine_folder(shards) == HEADER["machine_id"]


def test_a_shard_that_kept_failing_leaves_its_rows_and_an_error_row_for_each_missing_one(tmp_path):
    lost = Attempt("node-a", "a", ["fp32", "bf16", "int8"], journal(record("fp32"), record("bf16")))
    shards = [ShardOutcome(1, ["fp32", "bf16", "int8"], [lost], error="the node died (2 retries)")]
    run = assemble_run("rtx3050", shards, "fp32")
    assert run is not None and run["diffbench"]["partial"] is True
    assert [b["extra_info"]["variant"] for b in run["benchmarks"]] == ["fp32", "bf16"]
    (error,) = run["diffbench"]["rows"]
    assert error["extra_info"] == {
        "variant": "int8", "workload": "w1", "status": "error", "reason": "the node died (2 retries)"
    }  # fmt: skip
    # The reports read it: three rows, the missing variant an error with its reason.
    path = tmp_path / HEADER["machine_id"] / "0001_fleet-rtx3050-partial.json"
    path.parent.mkdir()
    path.write_text(json.dumps(run))
    frame = load([tmp_path])
    assert sorted(zip(frame["variant"], frame["status"], strict=True)) == [
        ("bf16", "ok"), ("fp32", "ok"), ("int8", "error")
    ]  # fmt: skip
    assert frame.loc[frame["variant"] == "int8", "reason"].item() == "the node died (2 retries)"


def test_nothing_is_assembled_when_no_attempt_began_its_suite():
    assert (
        assemble_run("gtx1650", [ShardOutcome(1, ["fp32"], [Attempt("n", "h", ["fp32"])], "lost")], "fp32")
        is None
    )


def test_variants_are_dealt_round_robin_each_shard_led_by_the_baseline():
    assert split_variants(["fp32", "bf16", "int8", "fp16"], 2, "fp32") == [
        ["fp32", "bf16", "fp16"],
        ["fp32", "int8"],
    ]
    assert split_variants(["fp32", "bf16"], 4, "fp32") == [["fp32", "bf16"]]  # no shard of the baseline alone
    assert split_variants(["fp32"], 3, "fp32") == [["fp32"]]
    # No baseline among the variants: none is added (the rows have no PSNR, as on one machine).
    assert split_variants(["bf16", "int8", "fp16"], 2, "fp32") == [["bf16", "fp16"], ["int8"]]


def test_the_variants_option_is_read_and_replaced_in_both_spellings():
    options = ["--model", "tiny-sd", "--variants", "fp32,bf16", "--steps=2", "--variants=fp32,int8"]
    assert variants_option(options) == "fp32,int8"
    assert with_variants(options, ["fp32", "prune(0.3,round_to=4)"]) == [
        "--model", "tiny-sd", "--steps=2", "--variants=fp32,prune(0.3,round_to=4)"
    ]  # fmt: skip
    assert variants_option(["--model", "tiny-sd"]) is None


@pytest.mark.parametrize(
    ("text", "nodes", "shards"), [("1", 3, 1), ("4", 2, 4), ("auto", 3, 3), ("AUTO", 0, 1)]
)
def test_shards_are_a_count_or_one_per_node(text, nodes, shards):
    assert parse_shards(text, nodes) == shards


@pytest.mark.parametrize("text", ["0", "-1", "two", ""])
def test_a_bad_shard_count_is_refused_naming_it(text):
    with pytest.raises(FleetError, match=rf"--shards {text!r} is not a positive whole number or auto"):
        parse_shards(text, 2)


def _run_of(*records: dict) -> dict:
    return {
        "machine_info": HEADER["machine_info"],
        "commit_info": HEADER["commit_info"],
        "benchmarks": list(records),
        "datetime": "2026-12-05T04:01:00+00:00",
        "version": "5.1.0",
        "diffbench": {"schema": SCHEMA, "rows": []},
    }


V4 = ["fp32", "bf16", "int8", "fp16"]


def _cells(variants, workloads, shards, shard_by="auto", exact=True):
    cells = plan_cells(variants, workloads, shards, shard_by, "fp32", exact=exact)
    return [(c.variants, c.workloads, c.workload_share) for c in cells]


def test_auto_splits_the_workloads_first_then_the_variants_with_the_shards_left():
    # Two workloads, four shards: two shares of the workloads, each over two groups of variants.
    assert _cells(V4, ["w1", "w2"], 4) == [
        (["fp32", "bf16", "fp16"], ["w1"], "1/2"),
        (["fp32", "int8"], ["w1"], "1/2"),
        (["fp32", "bf16", "fp16"], ["w2"], "2/2"),
        (["fp32", "int8"], ["w2"], "2/2"),
    ]
    # One workload: the variants alone, as before workloads could be split.
    assert _cells(V4, ["w1"], 2) == [
        (["fp32", "bf16", "fp16"], ["w1"], None),
        (["fp32", "int8"], ["w1"], None),
    ]
    # More shares than shards: round-robin, and never more cells than shards.
    assert _cells(["fp32", "int8"], ["w1", "w2", "w3"], 2) == [
        (["fp32", "int8"], ["w1", "w3"], "1/2"),
        (["fp32", "int8"], ["w2"], "2/2"),
    ]
    # The device's default variants (None) can still have their workloads split.
    assert _cells(None, ["w1", "w2"], 2) == [(None, ["w1"], "1/2"), (None, ["w2"], "2/2")]


def test_shard_by_picks_one_axis():
    assert _cells(V4, ["w1", "w2"], 2, "variants") == [
        (["fp32", "bf16", "fp16"], ["w1", "w2"], None),
        (["fp32", "int8"], ["w1", "w2"], None),
    ]
    assert _cells(V4, ["w1", "w2"], 3, "workloads") == [(V4, ["w1"], "1/2"), (V4, ["w2"], "2/2")]


def test_a_count_with_nothing_to_split_is_refused_but_auto_runs_one_task():
    with pytest.raises(FleetError, match="--shards 2 with --shard-by auto: nothing to split"):
        _cells(["fp32", "int8"], ["w1"], 2)
    assert _cells(["fp32", "int8"], ["w1"], 2, exact=False) == [(["fp32", "int8"], ["w1"], None)]
    with pytest.raises(FleetError, match="--shard-by 'rows' is unknown; accepted: auto, workloads, variants"):
        check_shard_by("rows")


def test_workload_shards_assemble_in_the_suites_order_and_a_failed_share_errs_only_its_workloads():
    rows = [record(v, w) for v in ("fp32", "int8") for w in ("w1", "w3")]
    first = Attempt("node-a", "a", ["fp32", "int8"], journal(*rows))
    first.outcome = "finished"
    second = Attempt("node-b", "b", ["fp32", "int8"], journal(record("fp32", "w2")))
    shards = [
        ShardOutcome(1, ["fp32", "int8"], [first], workloads=["w1", "w3"], workload_share="1/2"),
        ShardOutcome(2, ["fp32", "int8"], [second], "lost twice", workloads=["w2"], workload_share="2/2"),
    ]
    run = assemble_run("gtx1650", shards, "fp32", ["fp32", "int8"], ["w1", "w2", "w3"])
    assert run is not None
    rows = [(b["extra_info"]["variant"], b["extra_info"]["workload"]) for b in run["benchmarks"]]
    assert rows == [("fp32", "w1"), ("fp32", "w2"), ("fp32", "w3"), ("int8", "w1"), ("int8", "w3")]
    (error,) = run["diffbench"]["rows"]  # int8 on w2 only: w1 and w3 were the other share's
    assert (error["extra_info"]["variant"], error["extra_info"]["workload"]) == ("int8", "w2")
    # The device's default variants (no order given): variant-major still, in the order they came.
    unordered = assemble_run("gtx1650", shards, "fp32", (), ["w1", "w2", "w3"])
    assert unordered is not None and unordered["benchmarks"] == run["benchmarks"]
    recorded = run["diffbench"]["fleet"]["shards"]
    assert [(s["workloads"], s["workload_share"]) for s in recorded] == [
        (["w1", "w3"], "1/2"),
        (["w2"], "2/2"),
    ]
