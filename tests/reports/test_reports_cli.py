"""`python -m reports table ...`: a few runs as a user runs it (a subprocess), the rest in-process.

Also checks the package's promise to analysts: it imports without torch or diffusers.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers.reports_runs import call, run_cli

import reports
from reports import COLUMNS

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "reports"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / ".benchmarks"
    for machine, fixture in (("host-a", "0001_first.json"), ("host-b", "0002_plain.json")):
        (root / machine).mkdir(parents=True)
        shutil.copy(FIXTURES / fixture, root / machine / fixture)
    return root


# --- formats ------------------------------------------------------------------------------------


def header(markdown: str) -> list[str]:
    return [cell.strip() for cell in markdown.splitlines()[0].strip("|").split("|")]


def test_md_is_the_default_and_goes_to_stdout(store: Path) -> None:
    result = run_cli("table", store, "--columns", "all")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert header(result.stdout) == COLUMNS
    assert set(lines[1]) <= set("|:-")
    assert len(lines) == 2 + 5
    assert "unsupported" in result.stdout
    assert " nan " not in result.stdout and "<NA>" not in result.stdout  # missing prints empty


def test_default_columns_are_the_readers_and_a_note_says_how_to_see_the_rest(store: Path) -> None:
    result = run_cli("table", store)
    assert result.returncode == 0, result.stderr
    # run and machine differ between the two runs; no row has VRAM or FID, so they are left out.
    expected = ["run", "machine", "model", "variant", "status", "latency_median_s", "latency_iqr_s"]
    expected += ["step_median_ms", "peak_ram_mib", "size_mb", "psnr_vs_baseline", "reason"]
    assert header(result.stdout) == expected
    assert len(result.stdout.splitlines()) == 2 + 5
    assert result.stderr.splitlines() == [
        f"note: {len(expected)} of {len(COLUMNS)} columns shown; --columns all prints every one, "
        "--columns a,b,c picks them (names in --help and docs/run-format.md)"
    ]


def test_default_columns_drop_context_shared_by_every_row(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "0001_first.json", tmp_path / "0001_first.json")
    result = call("table", tmp_path, "--format", "csv")
    assert result.returncode == 0, result.stderr
    columns = list(pd.read_csv(io.StringIO(result.stdout)).columns)
    assert columns[:3] == ["model", "variant", "status"]
    assert "run" not in columns and "machine" not in columns  # one run, one machine
    assert "note: " in result.stderr


def test_default_table_of_an_empty_run_has_every_reader_column() -> None:
    from reports.table import READER_COLUMNS, reader_columns

    assert reader_columns(pd.DataFrame(columns=COLUMNS)) == list(READER_COLUMNS)


def test_md_keeps_text_that_looks_like_a_number(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "0001_first.json", tmp_path / "0001.json")
    result = call("table", tmp_path, "--columns", "run,variant")
    assert result.returncode == 0, result.stderr
    assert "| 0001 " in result.stdout  # not parsed and reprinted as 1


def test_csv_round_trips(store: Path) -> None:
    result = call("table", store, "--format", "csv", "--columns", "all")
    assert result.returncode == 0, result.stderr
    df = pd.read_csv(io.StringIO(result.stdout))
    assert list(df.columns) == COLUMNS
    assert len(df) == 5
    assert df["latency_median_s"].dtype == "float64"
    assert df["psnr_vs_baseline"].isin([float("inf")]).sum() == 1


def test_html(store: Path) -> None:
    result = call("table", store, "--format", "html")
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith("<table")
    assert "<th>latency_median_s</th>" in result.stdout
    assert result.stdout.count("</tr>") == 1 + 5  # header + one per row


def test_parquet_with_output_round_trips(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs.parquet"
    result = call("table", store, "--format", "parquet", "--output", out, "--columns", "all")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    pd.testing.assert_frame_equal(pd.read_parquet(out), reports.load(store))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # atomic write left nothing


def test_text_format_to_output_file(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    result = call("table", store, "--format", "csv", "--output", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert len(pd.read_csv(out)) == 5


def test_columns_selects_and_orders(store: Path) -> None:
    result = call("table", store, "--format", "csv", "--columns", "variant,status,latency_median_s")
    assert result.returncode == 0, result.stderr
    df = pd.read_csv(io.StringIO(result.stdout))
    assert list(df.columns) == ["variant", "status", "latency_median_s"]


def test_default_path_is_dot_benchmarks(store: Path) -> None:
    result = run_cli("table", "--format", "csv", cwd=store.parent)
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(io.StringIO(result.stdout))) == 5


def test_corrupt_file_is_a_warning_line_and_the_rest_is_reported(store: Path) -> None:
    broken = store / "host-a" / "0002_broken.json"
    broken.write_text("{oops")
    result = call("table", store, "--format", "csv", "--columns", "all")
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"warning: skipped {broken}: not valid JSON "
        "(Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1))"
    ]
    assert len(pd.read_csv(io.StringIO(result.stdout))) == 5


# --- bad input: exit 2, one line, no traceback ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["table", "{tmp}/nope"], ["no such file or folder", "nope", "--benchmark-save=NAME"]),
        (["table", "{tmp}/empty"], ["no run files", "empty", "--benchmark-save=NAME"]),
        (["table", "{store}", "--format", "xls"], ["'xls'", "md", "csv", "html", "parquet"]),
        (["table", "{store}", "--format", "parquet"], ["--output"]),
        (
            ["table", "{store}", "--columns", "run,latency,variant"],
            ["latency", "latency_median_s", "psnr_vs_baseline"],
        ),
        (["table", "{store}", "--columns", "run,variant,run"], ["run", "more than once"]),
        (["table", "{store}", "--output", "{tmp}/no/such/folder/out.md"], ["cannot write", "does not exist"]),
        (["table", "{store}", "--bogus"], ["--bogus"]),
        (["tabel"], ["'tabel'", "table"]),
        ([], ["COMMAND"]),
    ],
)
def test_bad_input_exits_2_with_one_line(
    store: Path, tmp_path: Path, args: list[str], expected: list[str]
) -> None:
    (tmp_path / "empty").mkdir()
    result = call(*(arg.format(tmp=tmp_path, store=store) for arg in args))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for text in expected:
        assert text in lines[0]
    assert result.stdout == ""


def test_only_bad_files_gives_warnings_then_one_error(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"name": "not a run"}))
    result = call("table", tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    warning, error = result.stderr.splitlines()
    assert warning.startswith(f"warning: skipped {tmp_path / 'a.json'}: not a pytest-benchmark run")
    assert error.startswith("error: no readable run files")


def test_a_tune_answer_beside_its_runs_is_skipped_with_where_to_read_it(tmp_path: Path) -> None:
    (tmp_path / "tune.json").write_text(json.dumps({"format": "diffbench-tune", "version": 1}))
    result = call("table", tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    warning, _ = result.stderr.splitlines()
    assert warning == (
        f"warning: skipped {tmp_path / 'tune.json'}: a `diffbench tune` answer, not a run: its runs are in "
        "the runs/ folder beside it, and `diffbench report tune` reads the answer"
    )


def test_help_lists_the_table_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "table" in result.stdout


# --- the dependency promise --------------------------------------------------------------------


def test_imports_without_torch_or_the_rest_of_diffbench() -> None:
    code = (
        "import sys\n"
        "for name in ('torch', 'diffusers', 'transformers', 'models', 'optimize', 'bench'):\n"
        "    sys.modules[name] = None  # any import of them now raises ImportError\n"
        "import reports, reports.cli, reports.table, reports.loader, reports.columns\n"
        "import reports.compare, reports.delta, reports.recommend, reports.gate, reports.plots\n"
        "import reports.html_report, reports.runs, reports.remote\n"
        "loaded = {m.split('.')[0] for m, mod in sys.modules.items() if mod is not None}\n"
        "assert not loaded & {'torch', 'diffusers', 'models', 'optimize', 'bench'}, loaded\n"
        "assert 'matplotlib' not in loaded and 'fsspec' not in loaded, loaded  # optional: imported on use\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("command", "option", "written"),
    [
        (["plots"], "--output-dir", "latency_vs_memory_cpu.png"),
        (["family"], "--output-dir", "family.md"),
        (["history"], "--output", "history.html"),
    ],
)
def test_an_output_folder_that_is_not_there_yet_is_made(
    store: Path, tmp_path: Path, command: list[str], option: str, written: str
) -> None:
    folder = tmp_path / "new" / "deeper"
    result = call(*command, store, option, folder)
    assert result.returncode == 0, result.stderr
    assert (folder / written).is_file()
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    refused = call(*command, store, option, a_file)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"{option} {a_file} is not an existing folder (it is a file)" in refused.stderr


def test_a_gate_run_not_found_names_the_storage_option(tmp_path: Path) -> None:
    result = call("gate", "--baseline", "first", "--candidate", "second", "--storage", tmp_path / "nowhere")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: cannot look up run 'first': ") and line.endswith("with --storage DIR")


@pytest.mark.parametrize("command", [["beforeafter", "--recipe", "bf16"], ["sweep"], ["plots"], ["family"]])
def test_an_output_folder_that_is_a_file_is_refused_before_any_run_is_read(
    tmp_path: Path, command: list[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    result = call(*command, tmp_path / "no-runs-here", "--output-dir", a_file)
    assert result.returncode == 2
    assert "is not an existing folder (it is a file)" in result.stderr  # not "no such file or folder"
