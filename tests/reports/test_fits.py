"""Profile fits long-form (reports/fits.py), `recommend --profile` on a profile known only from the
runs' fits (a user's TOML card), and the `fits` command, on small hand-made runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers.reports_runs import call, one_error_line, row, write_run

import reports
from reports import fits, recommend
from reports.profile_fits import fit_table

# As the suite records them on a CPU machine run with --profile-file holding `mycard` (6 GB):
# every built-in GPU class, then the user's card; null where a card's memory is unknown.
FP32_FITS = {"gtx1650": False, "rtx3050-laptop": False, "rtx3050": True, "rtx3080": True,
             "rtx3080-12": True, "mycard": True, "oddcard": None}  # fmt: skip
BF16_FITS = {**FP32_FITS, "gtx1650": False, "rtx3050-laptop": True, "mycard": True}
INT8_FITS = {**FP32_FITS, "mycard": False}


@pytest.fixture
def cpu_run(tmp_path: Path) -> Path:
    rows = [
        row("fp32", 2.0, est_peak_mem_mib=4400.0, fits_profiles=FP32_FITS),
        row("bf16", 1.0, est_peak_mem_mib=2300.0, fits_profiles=BF16_FITS, psnr_vs_baseline=40.0),
        row("int8", 0.5, est_peak_mem_mib=7000.0, fits_profiles=INT8_FITS),
        row("fp16", None, status="unsupported", reason="fp16 needs a CUDA device"),  # never estimated
    ]
    return write_run(tmp_path / "cpu" / "0001_a.json", rows)


# --- the long table -----------------------------------------------------------------------------


def test_every_recorded_profile_is_a_row_built_in_or_not(cpu_run: Path) -> None:
    long = fits.fits_long(fits.load(cpu_run))
    assert list(long.columns) == list(fits.LONG_COLUMNS)
    assert len(long) == 3 * len(FP32_FITS)  # the unsupported row recorded no fits: no rows
    assert fits.profiles(long) == list(FP32_FITS)
    mine = long[long["profile"] == "mycard"].set_index("variant")["fits"]
    assert mine.to_dict() == {"fp32": True, "bf16": True, "int8": False}
    assert long.loc[long["profile"] == "oddcard", "fits"].isna().all()  # recorded, verdict unknown
    first = long.iloc[0]
    assert (first["row_profile"], first["device"], first["est_peak_mem_mib"]) == ("cpu", "cpu", 4400.0)
    assert first["model"] == "tiny-sd" and first["status"] == "ok" and first["run"] == "0001_a"


def test_the_row_column_points_back_at_each_fits_row(cpu_run: Path) -> None:
    frame = fits.load(cpu_run)
    long = fits.fits_long(frame)
    assert (frame.loc[long["row"], "variant"].to_numpy() == long["variant"].to_numpy()).all()


def test_the_wide_columns_are_the_long_tables_view_of_the_built_ins(cpu_run: Path) -> None:
    frame = reports.load(cpu_run)
    assert "fits_profiles" not in frame.columns  # the usual frame keeps its columns
    assert set(fits.WIDE_COLUMNS) <= set(frame.columns)
    from_wide = fits.fits_long(frame)
    from_dicts = fits.fits_long(fits.load(cpu_run))
    built_in = from_dicts[from_dicts["profile"].isin(fits.WIDE_COLUMNS.values())].reset_index(drop=True)
    pd.testing.assert_frame_equal(from_wide, built_in)
    assert bool(frame.loc[frame["variant"] == "bf16", "fits_rtx3050_laptop"].item())


def test_a_frame_without_fits_gives_an_empty_long_table(tmp_path: Path) -> None:
    long = fits.fits_long(fits.load(write_run(tmp_path / "r.json", [row("fp32", 1.0)])))
    assert long.empty and list(long.columns) == list(fits.LONG_COLUMNS)


def test_a_fit_that_is_not_a_bool_is_unknown(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r.json", [row("fp32", 1.0, fits_profiles={"mycard": 1, "gtx1650": True})])
    long = fits.fits_long(fits.load(path))
    assert long["fits"].isna().tolist() == [True, False]


# --- recommend on a profile the runs only recorded fits for --------------------------------------


def test_recommend_refuses_a_card_the_rows_only_recorded_a_fit_for(cpu_run: Path) -> None:
    """A fit is not a latency: ranking a card's variants by this CPU's timings would mislead, so
    `recommend` refuses in one line and names the command that shows the recorded fits."""
    line = one_error_line(call("recommend", cpu_run, "--profile", "mycard", "--min-psnr", "45"))
    assert "no rows for profile 'mycard'" in line
    assert "the rows recorded only its memory fit, which `fits --profile mycard` shows" in line


def test_recommend_on_a_users_card_the_rows_ran_on(tmp_path: Path) -> None:
    """A run made with `--profile-file cards.toml --profile mycard` has rows on the card itself."""
    rows = [
        row("fp32", 2.0, profile="mycard", fits=True, est_peak_mem_mib=4400.0, projected_latency_s=0.4),
        row("bf16", 1.0, profile="mycard", fits=True, est_peak_mem_mib=2300.0, projected_latency_s=0.2),
        row("int8", 0.5, profile="mycard", fits=False, est_peak_mem_mib=7000.0, projected_latency_s=0.1),
    ]
    result = recommend.recommend(reports.load(write_run(tmp_path / "r.json", rows)), "mycard")
    [group] = result.groups
    assert group.best is not None and group.best.variant == "bf16" and group.best.basis == "projected"
    assert dict(group.excluded)["int8"] == "does not fit the profile (estimated peak 7000 MiB)"


def test_recommend_on_a_profile_the_rows_ran_on_is_unchanged(cpu_run: Path) -> None:
    result = recommend.recommend(fits.load(cpu_run), "cpu")
    [group] = result.groups
    assert group.best is not None and group.best.variant == "int8"  # cpu rows: no fit for the cpu
    assert group.best.basis == "measured" and group.best.fits == "yes (ran on it)"


def test_recommend_on_a_profile_the_runs_do_not_know_names_the_ones_they_do(cpu_run: Path) -> None:
    line = one_error_line(call("recommend", cpu_run, "--profile", "nocard"))
    assert "no rows for profile 'nocard'" in line
    assert "(profiles there: cpu)" in line  # the profiles rows were run on: the ones it can rank
    # The run it suggests is one the suite accepts: a name no table knows needs its --profile-file.
    assert "where 'nocard' is a built-in profile (`diffbench profiles` lists them)" in line
    assert "adding `--profile-file FILE` that defines it" in line


# --- the fits command ---------------------------------------------------------------------------


def test_fit_table_is_one_row_per_variant_and_one_column_per_profile(cpu_run: Path) -> None:
    table = fit_table(fits.fits_long(fits.load(cpu_run)))
    assert list(table.columns) == ["model", "variant", "workload", "est. peak (MiB)", *FP32_FITS]
    assert table["variant"].tolist() == ["fp32", "bf16", "int8"]
    assert table["mycard"].tolist() == ["yes", "yes", "no"]
    assert table["oddcard"].tolist() == ["unknown"] * 3


def test_fit_table_takes_the_newest_run(cpu_run: Path) -> None:
    newer = {**FP32_FITS, "mycard": False}
    write_run(
        cpu_run.parent / "0002_b.json",
        [row("fp32", 2.0, est_peak_mem_mib=6500.0, fits_profiles=newer)],
        when="2026-11-22T10:00:00+00:00",
    )
    table = fit_table(fits.fits_long(fits.load(cpu_run.parent))).set_index("variant")
    assert table.loc["fp32", "mycard"] == "no" and table.loc["fp32", "est. peak (MiB)"] == "6500"
    assert table.loc["bf16", "mycard"] == "yes"


def test_fits_cli(cpu_run: Path) -> None:
    result = call("fits", cpu_run, "--profile", "mycard")
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("| model"))
    assert [cell.strip() for cell in header.split("|")[1:-1]] == [
        "model", "variant", "workload", "est. peak (MiB)", "mycard"]  # fmt: skip
    assert "| tiny-sd | int8      |" in result.stdout


def test_fits_cli_unknown_profile(cpu_run: Path) -> None:
    line = one_error_line(call("fits", cpu_run, "--profile", "nocard"))
    assert "no fits for profile 'nocard'" in line and "mycard, oddcard" in line


def test_fits_cli_on_runs_without_fits(tmp_path: Path) -> None:
    line = one_error_line(call("fits", write_run(tmp_path / "r.json", [row("fp32", 1.0)])))
    assert "no row of these runs recorded profile fits" in line


def test_fits_cli_on_a_damaged_run(tmp_path: Path) -> None:
    # The same row saved twice, an infinite estimate and a fits object that is not one.
    damaged = row("fp32", 1.0, est_peak_mem_mib=float("inf"), fits_profiles=FP32_FITS)
    rows = [damaged, damaged, row("bf16", 1.0, fits_profiles=["mycard"])]
    result = call("fits", write_run(tmp_path / "r.json", rows))
    assert result.returncode == 0, result.stderr
    assert "| tiny-sd | fp32      | 64x64/4steps/cfg7.5/b1/euler |               inf |" in result.stdout
    assert "bf16" not in result.stdout and "Traceback" not in result.stderr
