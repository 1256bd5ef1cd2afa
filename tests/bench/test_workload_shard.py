"""`--workload-shard K/N`: the suite keeps the Kth round-robin share of its workloads (what
`fleet run --shards` gives each task), and refuses a bad share with one line, exit 2."""

from __future__ import annotations

import pytest
from helpers.suite_inline import run_bench_inline

from bench.errors import BenchError
from bench.workload_shard import deal, parse_workload_shard, select_share

SWEEP = ("--model", "tiny-sd", "--variants", "fp32,int8", "--sweep", "steps=2,3,4,5,6")


def test_shares_are_disjoint_cover_every_workload_and_keep_sweep_order() -> None:
    items = list("abcdefg")
    shares = [select_share(items, f"{k}/3") for k in (1, 2, 3)]
    assert shares == [("a", "d", "g"), ("b", "e"), ("c", "f")]
    assert sorted(x for share in shares for x in share) == items
    assert deal(items, 3) == [list(s) for s in shares]
    assert select_share(items, None) == tuple(items)
    assert parse_workload_shard(" 2 / 5 ") == (2, 5)


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "2", "1/2/3", ""])
def test_a_bad_share_names_the_value_and_the_form(text: str) -> None:
    with pytest.raises(BenchError, match=r"is not K/N with 1 <= K <= N, e\.g\. 1/2"):
        select_share(["a", "b"], text)


def test_more_shares_than_workloads_is_refused() -> None:
    with pytest.raises(BenchError, match=r"--workload-shard '1/3': the options give 2 workload\(s\)"):
        select_share(["a", "b"], "1/3")


def _collected(result) -> list[str]:
    return [
        line.split("[", 1)[1].rstrip("]")
        for line in result.stdout.splitlines()
        if "::test_generation[" in line
    ]


def test_the_suite_collects_only_its_share_of_a_sweep() -> None:
    every = _collected(run_bench_inline(*SWEEP, "--collect-only"))
    second = _collected(run_bench_inline(*SWEEP, "--workload-shard", "2/2", "--collect-only"))
    assert len(every) == 10
    assert second == [
        "fp32-64x64-3steps-cfg7.5-b1-euler",
        "fp32-64x64-5steps-cfg7.5-b1-euler",
        "int8-64x64-3steps-cfg7.5-b1-euler",
        "int8-64x64-5steps-cfg7.5-b1-euler",
    ]


def test_the_suite_refuses_a_bad_share_with_one_line_and_exit_2() -> None:
    result = run_bench_inline(*SWEEP, "--workload-shard", "6/6")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--workload-shard '6/6': the options give 5 workload(s), fewer than 6 shares" in (
        result.stdout + result.stderr
    )
    assert "Traceback" not in result.stdout + result.stderr
