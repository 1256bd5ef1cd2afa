"""`python -m reports tune`: the table and the Pareto plot of a hand-made tune.json
(docs/tune-format.md); the file bench writes is read back in tests/bench/test_tune_answer.py."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from helpers.reports_runs import call, one_error_line, run_cli

from reports import tune

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def candidate(recipe: str, status: str, reason: str = "", **figures: Any) -> dict[str, Any]:
    return {"recipe": recipe, "passes": recipe.split("+"), "status": status, "reason": reason, **figures}


def timed(recipe: str, status: str, speedup: float, quality: float | str, **figures: Any) -> dict[str, Any]:
    return candidate(
        recipe,
        status,
        speedup=speedup,
        speedup_iqr=0.05,
        paired_rounds=12,
        rounds_reached=2,
        median_s=round(2.0 / speedup, 4),
        psnr_db=quality,
        peak_ram_mib=900.0,
        **figures,
    )


def answer(
    bound: dict[str, Any] | None = None, candidates: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "format": "diffbench-tune",
        "version": 1,
        "command": ["diffbench", "tune", "--model", "sd15", "--profile", "rtx3050", "--min-psnr", "30"],
        "model": "sd15",
        "profile": "rtx3050",
        "device": "cuda:0",
        "cpu_flags": None,
        "bound": bound or {"min_psnr": 30.0, "max_fid_increase": None, "text": "PSNR >= 30 dB"},
        "budget_s": 3600,
        "started": "2026-12-04T20:00:00+00:00",
        "ended": "2026-12-04T20:50:00+00:00",
        "stopped": "finished",
        "note": "",
        "baseline": {"recipe": "fp32", "median_s": 2.0},
        "stages": [],
        "runs": ["runs/0001_pilot.json"],
        "candidates": candidates
        if candidates is not None
        else [
            timed("fp16", "winner", 2.41, 41.3, peak_vram_mib=2100.0),
            timed("int8", "pareto", 1.6, 48.0, peak_vram_mib=1500.0),
            timed("compile", "pareto", 1.1, "inf", peak_vram_mib=3800.0),  # an identical image
            timed("bf16", "slower", 1.3, 40.0, peak_vram_mib=2100.0, reason="fp16 is faster"),
            timed("prune(0.5)", "over quality bound", 2.9, 22.0, peak_vram_mib=1800.0),
            candidate("nf4", "failed", "nan: NaN pixels"),
            candidate("fp32+trt", "refused", "trt: tensorrt is not installed"),
        ],
        "winner": "fp16",
        "winner_line": "--variants fp32,fp16   # 2.41x faster per generation than fp32 (IQR 0.05, "
        "12 paired rounds), PSNR 41.3 dB",
        "conclusion": "--variants fp32,fp16   # 2.41x faster ...",
    }


def write(folder: Path, doc: dict[str, Any] | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tune.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def table_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_table_of_every_candidate(tmp_path: Path) -> None:
    write(tmp_path, answer())
    result = call("tune", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "model sd15, profile rtx3050, device cuda:0" in result.stdout
    assert "bound PSNR >= 30 dB; budget 3600 s; stopped: finished" in result.stdout
    rows = table_rows(result.stdout)
    assert [(row[0], row[1]) for row in rows] == [
        ("winner", "fp16"),
        ("pareto", "int8"),
        ("pareto", "compile"),
        ("slower", "bf16"),
        ("over quality bound", "prune(0.5)"),
        ("failed", "nf4"),
        ("refused", "fp32+trt"),
    ]
    header = next(line for line in result.stdout.splitlines() if line.startswith("| status"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    winner = dict(zip(columns, rows[0], strict=True))
    assert (winner["speed-up"], winner["IQR"], winner["pairs"], winner["PSNR (dB)"]) == (
        "2.41x",
        "0.05",
        "12",
        "41.3",
    )
    assert (winner["s / generation"], winner["peak VRAM (MiB)"]) == ("0.8299", "2100")
    assert dict(zip(columns, rows[2], strict=True))["PSNR (dB)"] == "identical"
    assert rows[5][-1] == "nan: NaN pixels" and rows[5][2] == ""  # a failure: its reason, no figures
    assert result.stdout.rstrip().endswith("# 2.41x faster ...")  # the conclusion last


def test_csv_has_the_raw_figures(tmp_path: Path) -> None:
    path = write(tmp_path, answer())
    result = call("tune", path, "--format", "csv")  # the file itself, not its folder
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["recipe"] for row in rows] == [
        "fp16",
        "int8",
        "compile",
        "bf16",
        "prune(0.5)",
        "nf4",
        "fp32+trt",
    ]
    assert float(rows[0]["speedup"]) == 2.41 and float(rows[2]["psnr_db"]) == float("inf")
    assert rows[5]["median_s"] == ""


def test_fid_bound_shows_the_fid_increase(tmp_path: Path) -> None:
    bound = {"min_psnr": None, "max_fid_increase": 2.0, "text": "FID increase <= 2"}
    doc = answer(
        bound,
        [
            timed("fp16", "winner", 2.0, None, fid=11.5, fid_increase=1.5),
            timed("int8", "over quality bound", 2.5, None, fid=13.0, fid_increase=3.0),
        ],
    )
    write(tmp_path, doc)
    result = call("tune", tmp_path, "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "FID increase" in result.stdout and "PSNR" not in result.stdout.split("| status")[1]
    assert [row[6] for row in table_rows(result.stdout)] == ["+1.50", "+3.00"]
    assert (tmp_path / "pareto.png").read_bytes().startswith(PNG_MAGIC)


def test_output_writes_the_table_and_the_plot(tmp_path: Path) -> None:
    write(tmp_path / "answer", answer())
    out = tmp_path / "out"
    out.mkdir()
    result = call("tune", tmp_path / "answer", "--output", out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["pareto.png", "tune.md"]
    assert (out / "tune.md").read_text() == result.stdout
    png = (out / "pareto.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000  # drawn, not an empty canvas
    assert f"wrote {out / 'pareto.png'}" in result.stderr


def test_plot_points_and_sizes(tmp_path: Path) -> None:
    result = tune.load(write(tmp_path, answer()))
    points = result.candidates.dropna(subset=["median_s"])
    sizes = tune._sizes(points)
    # VRAM (every timed candidate has it) decides the sizes: the smallest peak, the smallest point.
    assert sizes[points["recipe"] == "int8"].item() == 40.0
    assert sizes[points["recipe"] == "compile"].item() == 400.0
    assert tune.pareto_plot(result).startswith(PNG_MAGIC)


def test_nothing_timed_writes_the_table_and_says_why_no_plot(tmp_path: Path) -> None:
    write(tmp_path, answer(candidates=[candidate("nf4", "failed", "oom: out of memory")]))
    result = call("tune", tmp_path, "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: pareto.png not written: no candidate has both a time and a quality figure" in result.stderr
    assert not (tmp_path / "pareto.png").exists() and (tmp_path / "tune.md").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no tune.json at"),
        ("{not json", "cannot read"),
        (json.dumps({"format": "something else"}), "is not a `diffbench tune` answer"),
        (json.dumps({**answer(), "version": 7}), "tune format version 7; this reader knows 1"),
        (json.dumps({**answer(), "candidates": {"fp16": {}}}), "is damaged"),
        (json.dumps({**answer(), "candidates": [{"status": "winner"}]}), "every candidate must be an object"),
    ],
)
def test_missing_or_damaged_tune_json_is_one_line(tmp_path: Path, content: str | None, expected: str) -> None:
    if content is not None:
        write(tmp_path, content)
    assert expected in one_error_line(call("tune", tmp_path))


def test_an_output_folder_is_made_and_a_file_is_refused(tmp_path: Path) -> None:
    write(tmp_path, answer())
    made = call("tune", tmp_path, "--output", tmp_path / "new" / "out")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "new" / "out" / "tune.md").is_file()
    (tmp_path / "a-file").write_text("")
    line = one_error_line(call("tune", tmp_path, "--output", tmp_path / "a-file"))
    assert "--output" in line and "a-file" in line and "it is a file" in line


def test_command_as_a_user_runs_it(tmp_path: Path) -> None:
    # A subprocess, as typed: discovered among the commands, its exit status and output.
    write(tmp_path, answer())
    result = run_cli("tune", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "| winner" in result.stdout
    assert "tune" in run_cli("--help").stdout


def test_a_peak_measured_with_the_whole_set_resident_says_so_and_a_cpu_search_has_no_vram_column() -> None:
    doc = answer(
        candidates=[
            timed("bf16", "winner", 1.8, 46.0, peak_is_set=True),
            timed("int8", "slower", 1.1, 40.0, peak_is_set=False),
            timed("nf4", "slower", 0.9, 38.0),  # written before the field: not known
        ]
    )
    text = tune.to_markdown(tune.TuneResult(Path("tune.json"), doc, tune.candidates_frame(doc["candidates"])))
    lines = {
        line.split("|")[2].strip(): " ".join(line.split())
        for line in text.splitlines()
        if line.startswith("| ")
    }
    assert "| 900 (set) |" in lines["bf16"] and "| 900 |" in lines["int8"] and "| 900 |" in lines["nf4"]
    assert 'peak RAM "(set)": measured while every variant of its stage was resident together' in text
    assert "peak VRAM" not in text  # no candidate has one
    # The raw table keeps "not known" apart from "not the set's" for a file written before the field.
    rows = list(
        csv.DictReader(
            io.StringIO(
                tune.to_csv(tune.TuneResult(Path("t"), doc, tune.candidates_frame(doc["candidates"])))
            )
        )
    )
    assert [row["peak_is_set"] for row in rows] == ["True", "False", ""]
