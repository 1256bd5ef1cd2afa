"""reports.load: saved runs (pytest-benchmark JSON) into one tidy DataFrame.

The runs are hand-made copies of pytest-benchmark 5.3.1 output (tests/fixtures/reports/),
written into tmp_path and altered per test, so no test needs torch or a real benchmark.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import reports
from reports import COLUMNS, ReportError, ReportWarning

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reports"
DIFFBENCH_RUN = FIXTURES / "0001_first.json"  # 2 timed variants + 2 failure rows, CPU machine
PLAIN_RUN = FIXTURES / "0002_plain.json"  # a pytest-benchmark run without diffbench's extras

REQUIRED = [
    "run", "machine", "model", "variant", "profile", "device", "status", "workload",
    "latency_median_s", "latency_iqr_s", "step_median_ms", "build_s", "peak_vram_mib",
    "peak_ram_mib", "params", "size_mb", "psnr_vs_baseline", "fid",
]  # fmt: skip
EXTRAS = [
    "reason", "weights", "dtype", "cache_hit", "baseline_variant", "step_iqr_ms", "first_call_s",
    "text_encoder_s", "vae_decode_s",
    "latency_mean_s", "latency_min_s", "rounds", "peak_vram_reserved_mib", "peak_vram_nvml_mib",
    "macs_g", "gpu", "datetime", "source", "name",
]  # fmt: skip
FLOAT_COLUMNS = [
    "latency_median_s", "latency_iqr_s", "step_median_ms", "build_s", "peak_vram_mib", "peak_ram_mib",
    "size_mb", "psnr_vs_baseline", "fid", "first_call_s", "text_encoder_s", "vae_decode_s",
    "latency_mean_s", "latency_min_s", "peak_vram_reserved_mib", "peak_vram_nvml_mib", "macs_g",
]  # fmt: skip


def run_doc(path: Path = DIFFBENCH_RUN) -> dict[str, Any]:
    return json.loads(path.read_text())


def write_run(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A benchmark storage folder laid out as pytest-benchmark does: <machine-id>/<NNNN>_<NAME>.json."""
    root = tmp_path / ".benchmarks"
    (root / "host-a").mkdir(parents=True)
    (root / "host-b").mkdir()
    shutil.copy(DIFFBENCH_RUN, root / "host-a" / DIFFBENCH_RUN.name)
    shutil.copy(PLAIN_RUN, root / "host-b" / PLAIN_RUN.name)
    return root


def by_variant(df: pd.DataFrame) -> dict[str, pd.Series]:
    return {row.variant: row for _, row in df.dropna(subset=["variant"]).iterrows()}


# --- columns and types ----------------------------------------------------------------------


def test_columns_present_and_in_order(store: Path) -> None:
    df = reports.load(store)
    # The required columns lead, in order; extras follow (other issues add their own lines).
    assert COLUMNS[: len(REQUIRED)] == REQUIRED
    assert set(EXTRAS) <= set(COLUMNS[len(REQUIRED) :])
    assert len(COLUMNS) == len(set(COLUMNS))
    assert list(df.columns) == COLUMNS


def test_numeric_columns_have_numeric_dtypes(store: Path) -> None:
    df = reports.load(store)
    for name in FLOAT_COLUMNS:
        assert df[name].dtype == "float64", name
    assert df["params"].dtype == "Int64"
    assert df["rounds"].dtype == "Int64"
    assert df["cache_hit"].dtype == "boolean"
    assert isinstance(df["datetime"].dtype, pd.DatetimeTZDtype)
    # The point of it: comparisons work without casting, and NaN rows are simply not > 0.
    assert (df.latency_median_s > 0).sum() == 3


def test_one_row_per_benchmark_and_failure_row(store: Path) -> None:
    df = reports.load(store)
    assert len(df) == 5  # 2 timed + 2 failure rows + 1 plain benchmark
    assert list(df["run"]) == ["0001_first"] * 4 + ["0002_plain"]


def test_values_map_from_the_json(store: Path) -> None:
    df = reports.load(store)
    fp32 = by_variant(df)["fp32"]
    assert fp32["machine"] == "vm/AMD EPYC/none"  # diffbench's fingerprint, not the node name
    assert fp32["model"] == "tiny-sd"
    assert fp32["profile"] == "cpu"
    assert fp32["device"] == "cpu"
    assert fp32["status"] == "ok"
    assert fp32["workload"] == "64x64/4steps/cfg7.5/b1/euler"
    assert fp32["latency_median_s"] == 0.105
    assert fp32["latency_iqr_s"] == 0.004
    assert fp32["latency_mean_s"] == 0.106
    assert fp32["latency_min_s"] == 0.101
    assert fp32["step_median_ms"] == 21.5
    assert fp32["params"] == 1234567
    assert fp32["rounds"] == 5
    assert not fp32["cache_hit"]
    assert fp32["dtype"] == "float32"
    assert fp32["weights"] == "random"
    assert fp32["datetime"] == pd.Timestamp("2026-11-20T10:05:00.123456+00:00")
    assert fp32["source"] == str(store / "host-a" / "0001_first.json")
    assert fp32["name"] == "test_generation[tiny-sd-fp32-64x64/4steps/cfg7.5/b1/euler]"


def test_null_and_missing_values_are_nan_never_invented(store: Path) -> None:
    df = reports.load(store)
    fp32 = by_variant(df)["fp32"]
    # null in the JSON (CPU run: no VRAM; the baseline has no PSNR; FID not measured yet)
    for name in ("peak_vram_mib", "peak_vram_reserved_mib", "psnr_vs_baseline", "fid", "macs_g", "gpu"):
        assert pd.isna(fp32[name]), name


def test_missing_keys_are_nan(tmp_path: Path) -> None:
    doc = run_doc()
    extra = doc["benchmarks"][0]["extra_info"]
    for key in ("build_s", "params", "cache_hit", "profile"):
        del extra[key]
    del doc["machine_info"]["diffbench"]["gpu"]
    df = reports.load(write_run(tmp_path / "0001_first.json", doc))
    fp32 = by_variant(df)["fp32"]
    for name in ("build_s", "params", "cache_hit", "profile", "gpu"):
        assert pd.isna(fp32[name]), name


def test_peak_vram_comes_from_allocated(tmp_path: Path) -> None:
    doc = run_doc()
    doc["benchmarks"][0]["extra_info"].update(
        peak_vram_allocated_mib=512.5, peak_vram_reserved_mib=640.0, peak_vram_nvml_mib=900.0
    )
    doc["machine_info"]["diffbench"]["gpu"] = "NVIDIA H100 80GB HBM3"
    fp32 = by_variant(reports.load(write_run(tmp_path / "run.json", doc)))["fp32"]
    assert fp32["peak_vram_mib"] == 512.5
    assert fp32["peak_vram_reserved_mib"] == 640.0
    assert fp32["peak_vram_nvml_mib"] == 900.0
    assert fp32["gpu"] == "NVIDIA H100 80GB HBM3"


def test_infinite_psnr_stays_inf(store: Path) -> None:
    bf16 = by_variant(reports.load(store))["bf16"]
    assert math.isinf(bf16["psnr_vs_baseline"]) and bf16["psnr_vs_baseline"] > 0


def test_failure_rows_have_status_reason_and_nan_latency(store: Path) -> None:
    rows = by_variant(reports.load(store))
    assert rows["fp16"]["status"] == "unsupported"
    assert "CUDA" in rows["fp16"]["reason"]
    assert rows["int8"]["status"] == "error"
    for variant in ("fp16", "int8"):
        row = rows[variant]
        assert row["model"] == "tiny-sd"
        assert row["run"] == "0001_first"
        for name in ("latency_median_s", "latency_iqr_s", "latency_mean_s", "latency_min_s", "rounds"):
            assert pd.isna(row[name]), (variant, name)


def test_plain_pytest_benchmark_run_loads_with_what_exists(tmp_path: Path) -> None:
    df = reports.load(write_run(tmp_path / "0002_plain.json", run_doc(PLAIN_RUN)))
    row = df.iloc[0]
    assert row["machine"] == "vm"  # machine_info["node"] when diffbench added no fingerprint
    assert row["latency_median_s"] == pytest.approx(1.3e-06)
    assert row["rounds"] == 1000  # from stats: diffbench's own count is absent
    for name in ("model", "variant", "status", "workload", "gpu", "params"):
        assert pd.isna(row[name]), name


def test_run_with_no_benchmarks_is_an_empty_typed_frame(tmp_path: Path) -> None:
    doc = run_doc()
    doc["benchmarks"] = []
    del doc["diffbench"]
    df = reports.load(write_run(tmp_path / "empty.json", doc))
    assert df.empty
    assert list(df.columns) == COLUMNS
    assert df["latency_median_s"].dtype == "float64"


# --- bad input --------------------------------------------------------------------------------


def test_corrupt_file_is_skipped_with_a_warning_and_the_rest_loads(store: Path) -> None:
    broken = store / "host-a" / "0002_broken.json"
    broken.write_text('{"machine_info": {"node": "vm"}, "benchmarks": [')
    with pytest.warns(ReportWarning, match=r"skipped .*0002_broken\.json: not valid JSON") as caught:
        df = reports.load(store)
    assert len(caught) == 1
    assert "\n" not in str(caught[0].message)
    assert len(df) == 5


def test_binary_and_unreadable_files_are_skipped(store: Path) -> None:
    (store / "host-a" / "binary.json").write_bytes(b"\xff\xfe\x00garbage\x81")
    (store / "host-a" / "dangling.json").symlink_to(store / "does-not-exist.json")
    with pytest.warns(ReportWarning) as caught:
        df = reports.load(store)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert "binary.json: not valid JSON" in messages[0]
    assert "dangling.json: cannot read it" in messages[1]
    assert len(df) == 5


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({"name": "diffbench", "version": "0.1.0"}, 'no "benchmarks" list'),
        ([1, 2, 3], "top level is a JSON array"),
        ({"benchmarks": []}, 'no "machine_info" object'),
        ({"benchmarks": "many", "machine_info": {}}, 'no "benchmarks" list'),
        ({"benchmarks": [42], "machine_info": {}}, "benchmarks[0] is a JSON number"),
        ({"benchmarks": [{"name": "x", "stats": [1]}], "machine_info": {}}, '"stats" is a JSON array'),
        ({"benchmarks": [], "machine_info": {}, "diffbench": {"rows": {}}}, '"rows" list'),
    ],
)
def test_foreign_json_is_skipped(store: Path, doc: Any, why: str) -> None:
    write_run(store / "host-a" / "foreign.json", doc)
    with pytest.warns(ReportWarning) as caught:
        df = reports.load(store)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith(f"skipped {store / 'host-a' / 'foreign.json'}: ")
    assert why in message
    assert len(df) == 5


@pytest.mark.parametrize("where", ["machine_info", "extra_info", "rows"])
def test_newer_schema_is_skipped_naming_the_schema(store: Path, where: str) -> None:
    doc = run_doc()
    section = {
        "machine_info": doc["machine_info"]["diffbench"],
        "extra_info": doc["benchmarks"][1]["extra_info"],
        "rows": doc["diffbench"],
    }[where]
    section["schema"] = 2
    write_run(store / "host-a" / "0003_future.json", doc)
    with pytest.warns(ReportWarning, match=r"skipped .*0003_future\.json: diffbench schema 2 is newer"):
        df = reports.load(store)
    assert "0003_future" not in set(df["run"])
    assert len(df) == 5


def test_older_schema_is_skipped_naming_the_schema(store: Path) -> None:
    doc = run_doc()
    doc["machine_info"]["diffbench"]["schema"] = 0
    write_run(store / "host-a" / "0000_old.json", doc)
    with pytest.warns(ReportWarning, match=r"skipped .*0000_old\.json: diffbench schema 0 is older"):
        df = reports.load(store)
    assert len(df) == 5


def test_strict_load_raises_instead_of_skipping(tmp_path: Path) -> None:
    doc = run_doc()
    doc["diffbench"]["schema"] = 3
    path = write_run(tmp_path / "0009_new.json", doc)
    with pytest.raises(ReportError, match=r"cannot read run .*0009_new\.json: diffbench schema 3 is newer"):
        reports.load(path, strict=True)


def test_wrong_typed_value_is_nan_with_a_warning(tmp_path: Path) -> None:
    doc = run_doc()
    doc["benchmarks"][0]["extra_info"].update(build_s="fast", params=1.5, cache_hit="yes")
    with pytest.warns(ReportWarning, match=r"3 value\(s\) of the wrong type .*build_s='fast'"):
        df = reports.load(write_run(tmp_path / "run.json", doc))
    fp32 = by_variant(df)["fp32"]
    assert pd.isna(fp32["build_s"]) and pd.isna(fp32["params"]) and pd.isna(fp32["cache_hit"])
    assert fp32["latency_median_s"] == 0.105


def test_no_run_files_raises_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"no run files .*--benchmark-save=NAME"):
        reports.load(tmp_path)


def test_missing_path_raises_report_error_naming_it(store: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ReportError, match=r"no such file or folder: .*nope; run `pytest bench/"):
        reports.load([store, missing])


def test_only_unreadable_files_raises_report_error(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("not json")
    with pytest.warns(ReportWarning), pytest.raises(ReportError, match="no readable run files"):
        reports.load(tmp_path)


def test_report_error_is_a_value_error() -> None:
    assert issubclass(ReportError, ValueError)


# --- where runs are found, and counted once -----------------------------------------------------


def test_default_path_is_dot_benchmarks(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(store.parent)
    assert len(reports.load()) == 5
    assert len(reports.load([])) == 5


def test_accepts_str_path_and_file_paths(store: Path) -> None:
    assert len(reports.load(str(store))) == 5
    assert len(reports.load([store / "host-a" / "0001_first.json"])) == 4


def test_non_json_files_in_folders_are_ignored(store: Path) -> None:
    (store / "host-a" / "notes.txt").write_text("not a run")
    assert len(reports.load(store)) == 5


def test_overlapping_paths_count_a_file_once(store: Path) -> None:
    df = reports.load([store, store / "host-a", store / "host-a" / "0001_first.json"])
    assert len(df) == 5


def test_copy_of_a_run_in_another_storage_counts_once(store: Path, tmp_path: Path) -> None:
    other = tmp_path / "ci-storage" / "host-a"
    other.mkdir(parents=True)
    shutil.copy(DIFFBENCH_RUN, other / "0007_renamed.json")
    with pytest.warns(
        ReportWarning, match=r"skipped .*0007_renamed\.json: the same run as .*0001_first\.json"
    ):
        df = reports.load([store, tmp_path / "ci-storage"])
    assert len(df) == 5
    assert df["source"].str.contains("ci-storage").sum() == 0


def test_runs_of_different_datetimes_are_all_kept(store: Path) -> None:
    doc = copy.deepcopy(run_doc())
    doc["datetime"] = "2026-11-22T09:00:00+00:00"
    write_run(store / "host-a" / "0002_second.json", doc)
    df = reports.load(store)
    assert len(df) == 9
    assert sorted(set(df["run"])) == ["0001_first", "0002_plain", "0002_second"]


# --- fsspec URLs ------------------------------------------------------------------------------


def test_runs_behind_an_fsspec_url_load_and_merge_once(store: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/bench/host-a/0001_first.json", DIFFBENCH_RUN.read_bytes())
    fs.pipe("/bucket/bench/host-a/notes.txt", b"not a run")
    try:
        remote = reports.load("memory://bucket/bench")
        assert len(remote) == 4
        assert set(remote["source"]) == {"memory:///bucket/bench/host-a/0001_first.json"}
        # The same run in a local folder and in the bucket counts once.
        with pytest.warns(ReportWarning, match="the same run as"):
            both = reports.load([store, "memory://bucket/bench"])
        assert len(both) == 5
    finally:
        fs.rm("/bucket", recursive=True)


def test_url_that_does_not_exist(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    with pytest.raises(ReportError, match=r"no such file or folder: memory://nothing/here"):
        reports.load("memory://nothing/here")


def test_url_whose_filesystem_package_is_missing_names_it() -> None:
    pytest.importorskip("fsspec")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("s3fs is installed here")
    with pytest.raises(ReportError, match=r"reading s3://bucket/runs needs a package .*s3fs"):
        reports.load("s3://bucket/runs")


def test_url_without_fsspec_names_fsspec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "fsspec", None)
    with pytest.raises(ReportError, match=r"reading s3://bucket/runs needs fsspec") as caught:
        reports.load("s3://bucket/runs")
    assert "\n" not in str(caught.value)
