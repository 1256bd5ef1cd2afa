"""The docs/results table tools: tools/relative_table.py (ratios within one run),
tools/prune_sweep.py with interleaved step latencies (tools/step_latency.py's JSON) and
tools/export_checks.py (the parity figures of the variant cache's manifests)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers.reports_runs import row, write_run
from helpers.tool_scripts import load_tool

import reports

relative_main = load_tool("relative_table").main
relative_table = load_tool("relative_table").relative_table
sweep_main = load_tool("prune_sweep").main
export_checks_main = load_tool("export_checks").main


def test_ratios_are_taken_against_the_baseline_of_the_same_run(tmp_path):
    write_run(tmp_path / "a" / "0001_a.json", [row("fp32", 2.0, size_mb=10.0), row("int8", 3.0, size_mb=4.0)])
    write_run(
        tmp_path / "b" / "0002_b.json",
        [row("fp32", 1.0, size_mb=10.0), row("int8", 0.5, size_mb=4.0)],
        when="2026-12-01T10:00:00+00:00",
    )
    table = relative_table(reports.load([tmp_path]), "fp32").set_index(["run", "variant"])
    assert table.loc[("0001_a", "int8"), "latency_vs_baseline"] == pytest.approx(1.5)
    assert table.loc[("0002_b", "int8"), "latency_vs_baseline"] == pytest.approx(0.5)
    assert table.loc[("0002_b", "int8"), "speedup_per_step"] == pytest.approx(2.0)  # step 200 ms x median
    assert table.loc[("0001_a", "int8"), "size_vs_baseline"] == pytest.approx(0.4)


def test_a_run_without_an_ok_baseline_gets_no_ratio(tmp_path):
    rows = [row("fp32", None, status="timeout", reason="exceeded --timeout 5 s"), row("int8", 1.0)]
    write_run(tmp_path / "0001_x.json", rows)
    table = relative_table(reports.load([tmp_path]), "fp32")
    assert table[table["variant"] == "int8"]["latency_vs_baseline"].isna().all()


def test_an_unknown_extra_column_is_one_line_and_exit_2(tmp_path, capsys):
    write_run(tmp_path / "0001_x.json", [row("fp32")])
    assert relative_main([str(tmp_path), "--extra", "nope"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.startswith("error: --extra nope: no such column")


def _steps(path: Path, model: str, medians: dict[str, float]) -> Path:
    variants = {name: {"step_median_ms": value} for name, value in medians.items()}
    path.write_text(json.dumps({"model": model, "variants": variants}))
    return path


def test_sweep_adds_interleaved_steps_relative_to_the_files_own_fp32(tmp_path):
    extra = {"macs_g": 10.0, "unet_macs_g": 1.0}
    run = write_run(
        tmp_path / "0001_p.json",
        [row("fp32", 1.0, **extra), row("prune(0.3)", 0.9, **{**extra, "unet_macs_g": 0.6, "params": 1000})],
    )
    steps = _steps(tmp_path / "steps.json", "tiny-sd", {"fp32": 400.0, "prune(0.3)": 300.0, "bf16": 900.0})
    prefix = tmp_path / "out" / "sweep"
    prefix.parent.mkdir()
    assert sweep_main([str(run), "--output", str(prefix), "--steps", str(steps)]) == 0
    text = prefix.with_suffix(".md").read_text()
    assert "interleaved step" in text and "| 300 | 0.75x |" in text and "0.60x" in text
    assert prefix.with_suffix(".png").stat().st_size > 0


def test_sweep_refuses_a_steps_file_of_another_shape(tmp_path, capsys):
    run = write_run(tmp_path / "0001_p.json", [row("fp32", 1.0, macs_g=1.0, unet_macs_g=1.0)])
    (tmp_path / "bad.json").write_text(json.dumps({"rows": []}))
    assert sweep_main([str(run), "--output", str(tmp_path / "s"), "--steps", str(tmp_path / "bad.json")]) == 2
    assert "not a tools/step_latency.py result" in capsys.readouterr().err


def test_frame_types_survive_a_null_params(tmp_path):
    # Exported variants have params null (docs/run-format.md): the loader keeps it as a missing Int64.
    write_run(tmp_path / "0001_x.json", [row("fp32"), row("onnx", params=None)])
    frame = reports.load([tmp_path])
    assert pd.isna(frame.set_index("variant").loc["onnx", "params"])


def _manifest(cache: Path, key: str, recipe: str, checks: dict) -> None:
    (cache / key).mkdir(parents=True)
    manifest = {"model": "tiny-sd", "recipe": recipe, "build_s": 12.5, "checks": checks}
    (cache / key / "manifest.json").write_text(json.dumps(manifest))


def test_export_checks_prints_the_last_runtime_pass_parity_of_exported_variants_only(tmp_path, capsys):
    parity = {"unet": {"max_rel": 0.004, "max_abs": 0.0002}}
    checks = {"onnx": {"parity": {"unet": {"max_rel": 9.0, "max_abs": 9.0}}}, "ort-int8": {"parity": parity}}
    _manifest(tmp_path, "a", "ort-int8", {**checks, "providers": {"unet": "CPUExecutionProvider"}})
    _manifest(tmp_path, "b", "fp32", {})
    assert export_checks_main([str(tmp_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "`" in line]
    assert rows == [
        "| tiny-sd | `ort-int8` | ort-int8 | unet 0.004 rel / 0.0002 abs | CPUExecutionProvider | 12.5 |"
    ]


def test_export_checks_without_exported_variants_is_one_line_and_exit_2(tmp_path, capsys):
    _manifest(tmp_path, "b", "fp32", {})
    assert export_checks_main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: no exported variants in {tmp_path}\n"
