"""The `diffbench` command: discovery, dispatch, exit codes, fast help, and `cache` on a real cache."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import bench
from bench.commands import commands, main
from bench.commands.cache import _size as size_text

REPO = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = Path(sys.executable).with_name("diffbench")
COMMANDS = {"cache", "fleet", "gpu-check", "profiles", "recover", "report", "run", "study", "tune"}
# What a command's --help must not import (seconds each); a command imports them when it runs.
HEAVY = ("torch", "diffusers", "transformers", "pandas")
DELEGATES = {
    "study": "bench.studies.cli",
    "profiles": "bench.profiles.__main__",
    "recover": "bench.recover",
    "gpu-check": "bench.gpu_check",
    "tune": "bench.tune.cli",
    "fleet": "bench.fleet.cli",
}


def _console(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    if not CONSOLE_SCRIPT.exists():
        pytest.fail(f"{CONSOLE_SCRIPT} is missing: run `.venv/bin/pip install -q --no-deps -e .` once")
    return subprocess.run([str(CONSOLE_SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def _one_error_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    return lines[0]


def test_every_command_module_is_discovered():
    found = commands()
    assert set(found) == COMMANDS
    assert all(command.summary for command in found.values())


def test_console_script_help_lists_the_commands():
    result = _console("--help")
    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        assert f"\n  {name} " in result.stdout


def test_python_dash_m_bench_is_diffbench():
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0 and "usage: diffbench" in result.stdout


_HELP_PROBE = """
import contextlib, io, json, sys
from bench.commands import main
heavy = {heavy!r}
loaded = {{}}
for argv in {argvs!r}:
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
    loaded[" ".join(argv)] = [code, [name for name in heavy if name in sys.modules]]
print(json.dumps(loaded))
"""


def test_help_and_profile_listing_import_no_torch():
    """`diffbench --help`, the torch-free commands' --help, and the profile table start in
    well under a second: none of them may import torch, diffusers, transformers or pandas."""
    argvs = [
        ["--help"],
        ["cache", "--help"],
        ["cache", "clear", "--help"],
        ["study", "--help"],
        ["recover", "--help"],
        ["profiles", "--help"],
        ["fleet", "--help"],
        ["fleet", "run", "--help"],
        ["profiles", "--device", "cpu"],
        # Reads the cache's manifests only (optimize's package import is lazy).
        ["cache", "ls", "--cache-dir", "no-such-cache-folder"],
    ]
    probe = _HELP_PROBE.format(heavy=HEAVY, argvs=argvs)
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded == {" ".join(argv): [0, []] for argv in argvs}


@pytest.mark.parametrize("name", sorted(DELEGATES))
def test_delegating_commands_pass_argv_and_exit_status_through(name, monkeypatch):
    calls: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        calls.append(argv)
        return 3

    # A stand-in for the wrapped module: dispatch is checked without importing torch.
    monkeypatch.setitem(sys.modules, DELEGATES[name], types.SimpleNamespace(main=fake_main))
    assert main([name, "--some", "value"]) == 3
    assert calls == [["--some", "value"]]


def test_run_is_pytest_on_the_bench_package_with_the_same_options(monkeypatch):
    calls: list[list[str]] = []

    def fake_pytest_main(args: list[str], plugins: list[object] | None = None) -> int:
        calls.append(args)
        return 5

    monkeypatch.setattr("pytest.main", fake_pytest_main)
    assert main(["run", "--variants", "fp32,bf16", "-q"]) == 5
    assert calls == [[str(Path(bench.__file__).parent), "--variants", "fp32,bf16", "-q"]]


def test_run_help_shows_the_suite_options_outside_the_clone(tmp_path):
    result = _console("run", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--variants" in result.stdout and "--cache-dir" in result.stdout


def test_an_unknown_run_option_names_diffbench_run_not_pytest_main(tmp_path):
    result = _console("run", "--frobnicate", cwd=tmp_path)
    assert result.returncode == 4  # pytest's usage error, passed through
    assert "diffbench run: error: unrecognized arguments: --frobnicate" in result.stderr
    assert "pytest.main()" not in result.stderr


def test_report_runs_python_m_reports_and_passes_its_exit_status(tmp_path):
    missing = tmp_path / "no-such-run.json"
    direct = subprocess.run(
        [sys.executable, "-m", "reports", "table", str(missing)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    through = _console("report", "table", str(missing))
    assert direct.returncode != 0
    assert (through.returncode, through.stderr) == (direct.returncode, direct.stderr)


def test_unknown_command_is_one_line_exit_2():
    result = _console("frobnicate")
    assert result.returncode == 2
    assert "frobnicate" in _one_error_line(result.stderr) and "cache" in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--frobnicate"],
        [],
        ["cache"],
        ["cache", "frob"],
        ["cache", "ls", "--frob"],
        ["cache", "clear", "--older-than", "abc"],
        ["cache", "clear", "--older-than", "nan"],
        ["cache", "clear", "--older-than", "-1"],
    ],
)
def test_bad_input_is_one_line_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    _one_error_line(capsys.readouterr().err)


def test_a_cache_dir_that_is_a_file_is_one_line_exit_2(tmp_path, capsys):
    stray = tmp_path / "not-a-folder"
    stray.write_text("")
    assert main(["cache", "ls", "--cache-dir", str(stray)]) == 2
    assert "not-a-folder" in _one_error_line(capsys.readouterr().err)


# --- cache ls | verify | clear on a real tiny cache -------------------------------------------


@pytest.fixture
def tiny_cache(tiny_model, cache):
    """Two real entries of tiny-sd (fp32 and bf16) in a fresh cache: recipe -> key."""
    import torch

    from optimize import build_variant, parse_recipe

    keys = {}
    for recipe in ("fp32", "bf16"):
        variant = build_variant(tiny_model, parse_recipe(recipe), torch.device("cpu"), cache)
        keys[recipe] = variant.manifest["key"]
    return cache, keys


def _cache(capsys, cache, *argv: str) -> tuple[int, str, str]:
    code = main(["cache", *argv, "--cache-dir", str(cache.root)])
    out, err = capsys.readouterr()
    return code, out, err


def _damage(cache, key: str) -> None:
    weights = cache.folder(key) / "unet.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))


def test_cache_ls_lists_each_entry_from_its_manifest(tiny_cache, capsys):
    cache, keys = tiny_cache
    code, out, _ = _cache(capsys, cache, "ls")
    assert code == 0
    header, *rows, summary = out.strip().splitlines()
    assert header.split() == ["key", "model", "recipe", "size", "age"]
    listed = {row.split()[0]: row.split()[1:3] for row in rows}
    assert listed == {key[:12]: ["tiny-sd", recipe] for recipe, key in keys.items()}
    assert summary.startswith("2 entries, ") and str(cache.root) in summary


def test_cache_ls_of_a_missing_cache_says_it_is_empty(tmp_path, capsys):
    code = main(["cache", "ls", "--cache-dir", str(tmp_path / "nothing")])
    assert code == 0 and capsys.readouterr().out.startswith("0 entries")
    assert not (tmp_path / "nothing").exists()


def test_cache_verify_quarantines_damaged_entries_with_one_warning_each(tiny_cache, capsys):
    cache, keys = tiny_cache
    assert _cache(capsys, cache, "verify")[:2] == (
        0,
        f"verified 2 entries in {cache.root}: 2 ok, 0 damaged\n",
    )

    _damage(cache, keys["fp32"])
    code, out, err = _cache(capsys, cache, "verify")
    assert (code, out) == (0, f"verified 2 entries in {cache.root}: 1 ok, 1 damaged\n")
    (warning,) = err.strip().splitlines()
    assert keys["fp32"] in warning and "checksum mismatch in unet.safetensors" in warning
    assert not cache.folder(keys["fp32"]).exists() and cache.folder(keys["bf16"]).is_dir()
    assert [p.name.startswith(keys["fp32"]) for p in (cache.root / ".quarantine").iterdir()] == [True]

    _damage(cache, keys["bf16"])
    assert _cache(capsys, cache, "verify", "--strict")[0] == 1  # asked to fail on damage


def test_cache_clear_filters_then_removes_entries_and_the_quarantine(tiny_cache, capsys):
    cache, keys = tiny_cache
    _damage(cache, keys["bf16"])
    _cache(capsys, cache, "verify")  # bf16 goes to the quarantine

    for filters in (["--model", "sd15"], ["--older-than", "1"]):
        code, out, _ = _cache(capsys, cache, "clear", *filters)
        assert (code, out.splitlines()[-1]) == (0, f"removed 0 item(s) from {cache.root}, freed 0 B")
    assert cache.folder(keys["fp32"]).is_dir()

    # A build or a run holds the fp32 entry: it is left; the quarantined bf16 (tiny-sd too) goes.
    with cache.lock(keys["fp32"]):
        code, out, _ = _cache(capsys, cache, "clear", "--model", "tiny-sd")
    removed, left, summary = out.strip().splitlines()
    assert removed.startswith(f"removed quarantined {keys['bf16']}-")
    assert left == f"left entry {keys['fp32'][:12]} (tiny-sd fp32): a build or a run is using it"
    assert summary.startswith(f"removed 1 item(s) from {cache.root}")
    assert cache.folder(keys["fp32"]).is_dir() and not (cache.root / ".quarantine").exists()

    on_disk = sum(p.stat().st_size for p in cache.root.rglob("*") if p.is_file())
    code, out, _ = _cache(capsys, cache, "clear")
    assert code == 0
    assert out.strip().splitlines() == [
        f"removed entry {keys['fp32'][:12]} (tiny-sd fp32), {size_text(on_disk)}",
        f"removed 1 item(s) from {cache.root}, freed {size_text(on_disk)}",
    ]
    # Only the (empty) lock files stay: a builder may be waiting on one.
    assert {p.name for p in cache.root.iterdir()} == {f".{key}.lock" for key in keys.values()}
