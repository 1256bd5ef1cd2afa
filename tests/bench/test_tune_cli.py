"""`diffbench tune`'s bad input: one line, exit 2, before any model is loaded."""

from __future__ import annotations

import pytest

from bench.tune import cli
from bench.tune.errors import TuneError


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        status = cli.main(list(argv))
    except SystemExit as stop:  # argparse's own usage errors
        status = int(stop.code or 0)
    captured = capsys.readouterr()
    return status, captured.err


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--model", "tiny-sd", "--min-psnr", "35", "--profile", "gtx9999"], "gtx9999"),
        (["--model", "tiny-sd", "--min-psnr", "-3"], "--min-psnr"),
        (["--model", "tiny-sd", "--min-psnr", "500"], "--min-psnr"),
        (["--model", "tiny-sd", "--min-psnr", "nan"], "--min-psnr"),
        (["--model", "tiny-sd", "--max-fid-increase", "-1"], "--max-fid-increase"),
        (["--model", "tiny-sd", "--min-psnr", "35", "--budget", "soon"], "--budget"),
        (["--model", "tiny-sd", "--min-psnr", "35", "--budget", "-5m"], "--budget"),
        (["--model", "no-such-model", "--min-psnr", "35"], "no-such-model"),
        (["--model", "/no/such/folder", "--min-psnr", "35"], "/no/such/folder"),
        (["--model", "tiny-sd", "--min-psnr", "35", "--passes", "bf16,warp9"], "warp9"),
        (["--model", "tiny-sd", "--min-psnr", "35", "--max-candidates", "0"], "--max-candidates"),
        (["--model", "tiny-sd", "--min-psnr", "35", "--steps", "many"], "--steps"),
        (["--model", "tiny-sd"], "--min-psnr"),  # a bound is required
        (["--model", "tiny-sd", "--min-psnr", "35", "--max-fid-increase", "2"], "--max-fid-increase"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, names):
    status, err = run_cli(capsys, *argv, "--output", str(tmp_path / "out"))
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert names in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing started


def test_an_output_that_is_a_file_is_refused(capsys, tmp_path):
    target = tmp_path / "taken"
    target.write_text("mine")
    status, err = run_cli(capsys, "--model", "tiny-sd", "--min-psnr", "35", "--output", str(target))
    assert status == 2 and "--output" in err
    assert target.read_text() == "mine"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45m", 2700.0), ("1h", 3600.0), ("1h30m", 5400.0), ("90s", 90.0), ("2.5m", 150.0), ("20", 1200.0)],
)
def test_budget_durations(text, seconds):
    assert cli.parse_budget(text) == seconds


def test_no_budget():
    assert cli.parse_budget("none") is None


@pytest.mark.parametrize("text", ["", "m", "1x", "h1", "-1h", "0s"])
def test_bad_budgets(text):
    with pytest.raises(TuneError, match="--budget"):
        cli.parse_budget(text)
