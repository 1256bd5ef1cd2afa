"""`ssim_vs_baseline` in table, delta, recommend (`--min-ssim`), beforeafter, family, sweep and the
HTML report, with the digits an SSIM near 1 needs, and runs saved before the field existed still
report."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from helpers.reports_runs import call, one_error_line, row, write_run

import reports
from reports import delta, html_report, recommend


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """tiny-sd on a CPU: fp32 (the baseline), bf16 close to it, int8 visibly further."""
    rows = [
        row("fp32", 1.0),
        row("bf16", 0.5, psnr_vs_baseline=46.0, ssim_vs_baseline=0.991),
        row("int8", 0.4, psnr_vs_baseline=31.0, ssim_vs_baseline=0.842),
    ]
    write_run(tmp_path / "store" / "0001_ssim.json", rows)
    return tmp_path / "store"


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    """A run saved before SSIM: no ssim_vs_baseline key in any row."""
    rows = [row("fp32", 1.0), row("bf16", 0.5, psnr_vs_baseline=46.0)]
    for entry in rows:
        assert "ssim_vs_baseline" not in entry["extra_info"]
    write_run(tmp_path / "old" / "0001_old.json", rows)
    return tmp_path / "old"


def test_table_shows_the_column_by_default(store: Path) -> None:
    result = call("table", store, "--format", "csv")
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    columns = header.split(",")
    assert columns.index("ssim_vs_baseline") == columns.index("psnr_vs_baseline") + 1
    cells = {line.split(",")[columns.index("variant")]: line.split(",") for line in lines}
    at = columns.index("ssim_vs_baseline")
    assert cells["fp32"][at] == "" and float(cells["bf16"][at]) == 0.991 and float(cells["int8"][at]) == 0.842


def test_delta_has_an_ssim_line(store: Path) -> None:
    table = delta.delta(reports.load([store]))
    ssim = table[table["metric"] == "ssim_vs_baseline"].set_index("variant")
    assert ssim.loc["bf16", "after"] == 0.991 and ssim.loc["int8", "after"] == 0.842
    text = call("delta", store).stdout
    (line,) = [line for line in text.splitlines() if "SSIM vs baseline" in line]
    assert "0.991" in line and "0.842" in line


def test_recommend_min_ssim_excludes_the_variant_below_it(store: Path) -> None:
    result = recommend.recommend(reports.load([store]), "cpu", min_ssim=0.9)
    (group,) = result.groups
    assert [c.variant for c in group.ranked] == ["bf16", "fp32"]  # int8 is faster but drifts too far
    assert [c.ssim for c in group.ranked] == [0.991, 1.0]  # the baseline counts as identical
    assert group.excluded == [("int8", "SSIM 0.842 is below 0.9")]
    # Without the bound the fastest wins.
    assert recommend.recommend(reports.load([store]), "cpu").groups[0].best.variant == "int8"

    text = call("recommend", store, "--profile", "cpu", "--min-ssim", "0.9").stdout
    assert "Quality bounds: SSIM at least 0.9." in text
    assert "**Recommended: bf16**" in text
    assert [" ".join(line.split()) for line in text.splitlines() if "int8" in line] == [
        "| int8 | SSIM 0.842 is below 0.9 |"
    ]  # excluded, with why; not in the ranked table
    assert "| SSIM |" in " ".join(text.split())  # the ranked table's column


def test_recommend_keeps_the_digits_of_an_ssim_near_one(tmp_path: Path) -> None:
    """fp16 against fp32 is often 0.9999x: four digits would print it as 1, like identical images."""
    write_run(
        tmp_path / "near" / "0001_near.json", [row("fp32", 1.0), row("fp16", 0.5, ssim_vs_baseline=0.99996)]
    )
    text = call("recommend", tmp_path / "near", "--profile", "cpu", "--min-ssim", "0.99999").stdout
    assert "| fp16 | SSIM 0.99996 is below 0.99999 |" in " ".join(text.split())
    text = call("recommend", tmp_path / "near", "--profile", "cpu", "--min-ssim", "0.9999").stdout
    (ranked,) = [" ".join(line.split()) for line in text.splitlines() if "| fp16" in line]
    assert "| 45 | 0.99996 |" in ranked  # PSNR (dB), then SSIM


def test_every_report_keeps_the_digits_of_an_ssim_near_one(tmp_path: Path) -> None:
    """Four significant digits printed 0.99996 as 1 in delta: an image that drifted, shown as identical."""
    rows = []
    for steps in (4, 8):  # two workloads: sweep needs an axis that varies
        detail = {
            "width": 64,
            "height": 64,
            "steps": steps,
            "guidance": 7.5,
            "batch": 1,
            "scheduler": "euler",
        }
        workload = f"64x64/{steps}steps/cfg7.5/b1/euler"
        same = {"family": "stable-diffusion", "workload": workload, "workload_detail": detail}
        rows += [row("fp32", 1.0, **same), row("fp16", 0.5, ssim_vs_baseline=0.99996, **same)]
    write_run(tmp_path / "near" / "0001_near.json", rows)
    near = tmp_path / "near"

    def ssim_lines(text: str) -> list[str]:
        return [" ".join(line.split()) for line in text.splitlines() if "SSIM" in line or "| fp16" in line]

    out = tmp_path / "out"
    out.mkdir()
    for command in (
        ["delta"],
        ["beforeafter", "--recipe", "fp16"],
        ["family", "--output-dir", out],
        ["sweep"],
    ):
        result = call(*command, near)
        assert result.returncode == 0, (command, result.stderr)
        text = (out / "family.md").read_text() if command[0] == "family" else result.stdout
        shown = ssim_lines(text)
        assert any("0.99996" in line for line in shown), (command, result.stdout)
        assert not any(cell.strip() == "1" for line in shown for cell in line.split("|")), (command, shown)


def test_beforeafter_has_an_ssim_line_and_a_min_ssim_bound(store: Path) -> None:
    text = call("beforeafter", "--recipe", "int8", store).stdout
    (line,) = [" ".join(line.split()) for line in text.splitlines() if "SSIM vs baseline" in line]
    assert "| 0.842 |" in line
    bound = call("beforeafter", "--recipe", "int8", "--min-ssim", "0.9", store).stdout
    recommendation = " ".join(bound.split("## Recommendation per profile")[1].split())
    assert "| cpu | tiny-sd |" in recommendation and "| bf16 |" in recommendation  # int8 is below 0.9
    line = one_error_line(call("beforeafter", "--recipe", "int8", "--min-ssim", "2", store))
    assert "--min-ssim" in line and "'2' must be a number from 0 to 1" in line


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1.5", "'1.5' must be a number from 0 to 1"),
        ("-0.1", "'-0.1' must be a number from 0 to 1"),
        ("nan", "'nan' must be a number from 0 to 1"),
        ("lots", "'lots' is not a number"),
    ],
)
def test_recommend_refuses_a_bound_outside_0_to_1(store: Path, value: str, why: str) -> None:
    line = one_error_line(call("recommend", store, "--profile", "cpu", "--min-ssim", value))
    assert "--min-ssim" in line and why in line


def test_html_report_shows_ssim(store: Path) -> None:
    page = html_report.report(reports.load([store]), [str(store)])
    assert "SSIM vs baseline" in page
    assert "0.991" in page and "0.842" in page


def test_runs_saved_before_ssim_still_report(old_store: Path) -> None:
    frame = reports.load([old_store])
    assert frame["ssim_vs_baseline"].isna().all()
    table = call("table", old_store, "--format", "csv")
    assert table.returncode == 0 and "ssim_vs_baseline" not in table.stdout  # no value, no column
    assert "ssim_vs_baseline" not in set(delta.delta(frame)["metric"])
    result = recommend.recommend(frame, "cpu", min_ssim=0.5)
    (group,) = result.groups
    assert [c.variant for c in group.ranked] == ["fp32"]
    assert group.excluded == [("bf16", "SSIM against the baseline was not measured")]
    assert math.isnan(recommend.recommend(frame, "cpu").groups[0].ranked[0].ssim)
    assert "SSIM vs baseline" not in html_report.report(frame, [str(old_store)])


def test_recommend_leaves_out_a_quality_column_no_candidate_has(tmp_path: Path) -> None:
    write_run(tmp_path / "nofid" / "0001_a.json", [row("fp32", 1.0), row("bf16", 0.5, ssim_vs_baseline=0.99)])
    text = call("recommend", tmp_path / "nofid", "--profile", "cpu").stdout
    header = " ".join(next(line for line in text.splitlines() if "| variant" in line).split())
    assert "| PSNR (dB) | SSIM |" in header and "FID increase" not in header
    write_run(tmp_path / "fid" / "0001_a.json", [row("fp32", 1.0, fid=10.0), row("bf16", 0.5, fid=10.5)])
    text = call("recommend", tmp_path / "fid", "--profile", "cpu").stdout
    assert "FID increase" in next(line for line in text.splitlines() if "| variant" in line)
