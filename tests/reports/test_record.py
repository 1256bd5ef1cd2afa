"""The run record (reports/record.py): every key bench writes is declared there with its type,
the report's columns and docs/run-format.md's tables come from it, and one function spells the
workload label for the suite and the web UI study."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.suite_inprocess import FakeBenchmark, tiny_suite_config

import reports
from reports import record

REPO = Path(__file__).resolve().parents[2]
RUN_FORMAT = REPO / "docs" / "run-format.md"
SAVED_RUN_FOLDERS = (REPO / "docs" / "results", REPO / "tests" / "fixtures" / "reports")


def _saved_runs(folders: tuple[Path, ...] = SAVED_RUN_FOLDERS) -> list[tuple[Path, dict[str, Any]]]:
    runs = []
    for folder in folders:
        for path in sorted(folder.rglob("*.json")):
            doc = json.loads(path.read_text())
            if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list):
                runs.append((path, doc))
    return runs


# --- the contract's own shape ----------------------------------------------------------------------


def test_importing_the_record_pulls_nothing_else_of_ours_nor_pandas() -> None:
    code = (
        "import sys, reports.record\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in {'pandas', 'numpy', 'torch', 'bench', "
        "'optimize', 'models'} or (m.startswith('reports.') and m != 'reports.record')]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.strip() == "[]"


def test_every_place_that_stamps_a_schema_uses_the_records() -> None:
    import bench.journal
    import bench.machine
    import bench.suite
    import bench.webui.runs
    import reports.loader

    stamps = [bench.suite.SCHEMA, bench.journal.SCHEMA, bench.machine.SCHEMA, bench.webui.runs.SCHEMA]
    assert stamps == [record.SCHEMA] * 4 and reports.loader.SUPPORTED_SCHEMA == record.SCHEMA


def test_the_report_columns_are_the_records_in_the_tables_order() -> None:
    names = [column.name for column in record.COLUMNS]
    assert names == reports.COLUMNS and len(names) == len(set(names))
    assert names[:3] == ["run", "machine", "model"] and names[-1] == "name"
    for column in record.COLUMNS:
        assert column.sources[0][0] in {"file", "run", "benchmark", "extra_info", "stats"}, column
        assert column.group, f"{column.name} has no group"
    # A column under another name than its key, and one column per built-in profile of an object.
    by_name = {column.name: column for column in record.COLUMNS}
    assert by_name["peak_vram_mib"].sources == (("extra_info", "peak_vram_allocated_mib"),)
    assert by_name["fits_rtx3050_laptop"].sources == (("extra_info", "fits_profiles", "rtx3050-laptop"),)
    assert by_name["latency_median_s"].unit == "s" and by_name["peak_ram_mib"].unit == "MiB"


def test_a_key_is_declared_once_per_section() -> None:
    keys = [(field.section, field.name) for field in record.FIELDS]
    assert len(keys) == len(set(keys))
    assert record.field("extra_info", "peak_ram_mib").unit == "MiB"
    with pytest.raises(KeyError, match="not a field"):
        record.field("extra_info", "no_such_key")


def test_undeclared_keys_and_wrong_types_are_named() -> None:
    problems = record.type_problems(
        "extra_info", {"status": "ok", "build_s": "2.0", "sparkle": 1, "params": 3}
    )
    assert problems == [
        "extra_info.build_s='2.0' is not float",
        "extra_info.sparkle is not declared in reports/record.py",
    ]
    assert record.type_problems("extra_info", {"build_s": 2, "fits_profiles": {"gtx1650": None}}) == []
    assert record.type_problems("extra_info", {"cache_hit": 1, "fits_profiles": {"gtx1650": 1.0}}) == [
        "extra_info.cache_hit=1 is not bool",
        "extra_info.fits_profiles: values of ['gtx1650'] are not bool",
    ]


# --- the label ------------------------------------------------------------------------------------


def test_the_suite_and_the_web_ui_spell_a_workload_alike() -> None:
    from bench.webui.client import Txt2Img
    from bench.webui.runs import request_workload
    from bench.workload import Workload

    for seed, prompt in ((0, record.DEFAULT_PROMPT), (3, record.DEFAULT_PROMPT), (0, "a red square")):
        suite = Workload(
            width=64, height=64, steps=2, guidance=7.5, scheduler="euler", seed=seed, prompt=prompt
        )
        webui = Txt2Img(prompt=prompt, steps=2, width=64, height=64, seed=seed, sampler_name="Euler")
        assert suite.label == request_workload(webui)
    assert Workload(seed=3).label == "64x64/4steps/cfg7.5/b1/euler/seed3"


def test_saved_runs_keep_their_labels() -> None:
    checked = 0
    # Real runs only: the hand-made fixtures predate the label's prompt suffix.
    for path, doc in _saved_runs(SAVED_RUN_FOLDERS[:1]):
        for entry in [*doc["benchmarks"], *(doc.get("diffbench") or {}).get("rows", [])]:
            info = entry["extra_info"]
            detail = info.get("workload_detail")
            if not detail or str(info.get("variant")).startswith("webui("):
                continue  # the web UI writes the sampler's own name as the scheduler
            fields = {
                key: detail[key] for key in ("width", "height", "steps", "guidance", "batch", "scheduler")
            }
            label = record.workload_label(**fields, seed=detail["seed"], prompt=detail["prompt"])
            assert label == info["workload"], path
            checked += 1
    assert checked > 50


# --- every key really written ---------------------------------------------------------------------


def test_every_key_of_every_saved_run_is_declared() -> None:
    runs = _saved_runs()
    assert len(runs) > 20
    problems = [
        f"{path.relative_to(REPO)}: {problem}" for path, doc in runs for problem in record.run_problems(doc)
    ]
    assert not problems, "\n".join(problems[:20])


@pytest.mark.filterwarnings("ignore::bench.suite.ContendedMachine")
def test_every_key_the_suite_writes_is_declared(tmp_path: Path) -> None:
    """The tiny suite in this process: a timed row on an estimated profile, and a failure row."""
    from bench.machine import machine_info
    from bench.profiles.detect import DeviceDescription
    from bench.profiles.select import select_profile
    from bench.suite import Case, Suite

    host = DeviceDescription("cpu", "a CPU", 24_000.0)
    config = tiny_suite_config(
        tmp_path, ("fp32",), hardware=select_profile("gtx1650", torch.device("cpu"), host=host)
    )
    suite = Suite(config)
    case = Case.of("fp32", config.workloads[0])
    timed = suite.row(case)
    suite.run(case, FakeBenchmark(), timed)
    rows = [timed]
    # A row that could not be timed, as the plugin records one when a variant raises.
    suite.record_failure("test_generation[x]", "bench/x", suite.row(case), "error", "RuntimeError: boom")
    assert timed["status"] == "ok" and len(suite.failure_rows) == 1
    emitted = [*rows, suite.failure_rows[0]["extra_info"]]
    document = {
        "machine_info": {"diffbench": machine_info()},
        "benchmarks": [{"extra_info": r} for r in rows],
    }
    document["diffbench"] = {"schema": record.SCHEMA, "rows": suite.failure_rows}
    assert record.run_problems(document) == []
    # The timed row filled the collectors' fields too, and every field it promises is there.
    for key in ("family", "macs_g", "param_mb", "provider", "vram_source", "fits_profiles", "checkpoint"):
        assert key in timed
    not_null = [f.name for f in record.fields_in("extra_info") if not f.nullable and f.filled_by == "suite"]
    assert [key for key in not_null if timed.get(key) is None] == []
    assert set(emitted[1]) <= set(timed)


def test_the_web_ui_rows_are_declared() -> None:
    from bench.webui.client import Endpoint, Reply, Txt2Img
    from bench.webui.load import LoadResult
    from bench.webui.runs import benchmark_entry, run_document

    replies = [Reply(ok=True, latency_s=0.5), Reply(ok=False, latency_s=0.1, reason="HTTP 503")]
    result = LoadResult(concurrency=1, requests=2, replies=replies, wall_s=0.6, loadavg_1m=0.2)
    entry = benchmark_entry(result, Txt2Img(), Endpoint("http", "127.0.0.1", 7860, ""), "m")
    assert record.run_problems(run_document([entry])) == []


# --- docs/run-format.md ---------------------------------------------------------------------------


def test_the_run_format_doc_holds_the_records_tables() -> None:
    text = RUN_FORMAT.read_text(encoding="utf-8")
    assert record.render_doc(text) == text, (
        "docs/run-format.md drifted from reports/record.py: run "
        "`.venv/bin/python -m reports.record --write docs/run-format.md`"
    )
    for column in ("`peak_vram_mib`", "`fits_gtx1650`", "`latency_median_s`"):
        assert column in text


def test_the_doc_check_fails_on_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "run-format.md"
    doc.write_text(RUN_FORMAT.read_text(encoding="utf-8").replace("| `build_s` | float", "| `build_s` | int"))
    assert record.main(["--check", str(doc)]) == 1
    assert "differs from the run record" in capsys.readouterr().err
    assert record.main(["--write", str(doc)]) == 0 and record.main(["--check", str(doc)]) == 0
    doc.write_text("no markers")
    assert record.main(["--check", str(doc)]) == 2
