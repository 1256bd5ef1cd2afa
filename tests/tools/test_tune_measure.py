"""tools/tune_measure.py: the CPU kind issue 18 names, read from lscpu; the figures it takes from a
search's output and `/usr/bin/time -v`; and warm caches refused before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers.tool_scripts import TOOLS, load_tool

tune_measure = load_tool("tune_measure")


@pytest.mark.parametrize(
    ("flags", "kind"),
    [
        ("fpu avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8", "amx"),
        ("fpu avx2 fma avx512f avx512_vnni avx512_bf16", "avx512-bf16"),
        ("fpu avx2 fma avx512f avx512_vnni", "avx512"),
        ("fpu sse4_2 avx avx2 fma", "avx2-only"),
        ("fpu sse4_2 avx", "no-avx2"),
    ],
)
def test_the_cpu_kind_comes_from_the_lscpu_flags(flags: str, kind: str) -> None:
    lscpu = f"Architecture: x86_64\nModel name: Some CPU\nFlags: {flags}\n"
    assert tune_measure.cpu_kind(tune_measure.cpu_flags(lscpu)) == kind


def test_the_figures_are_read_from_the_search_and_time_outputs() -> None:
    answer = (
        "[tune] pilot done in 18.4 min; best so far: bf16 1.93x\n"
        "--variants fp32,bf16   # 1.86x faster per generation than fp32 (IQR 0.03, 18 paired rounds)\n"
        "[tune] confirm done in 2.2 min; best so far: bf16 1.86x\n"
        "[tune] finished after 43.1 min; saved /tmp/tune/tune.json\n"
    )
    assert tune_measure.winner_line(answer).startswith("--variants fp32,bf16   # 1.86x")
    assert tune_measure.conclusion(answer) == "[tune] confirm done in 2.2 min; best so far: bf16 1.86x"
    assert tune_measure.winner_line("[tune] nothing beat fp32\n") is None
    assert tune_measure.peak_rss_mib("\tMaximum resident set size (kbytes): 13316096\n") == 13004.0
    assert tune_measure.peak_rss_mib("") is None


def test_warm_caches_are_refused_before_anything_runs(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "cache").mkdir(parents=True)
    result = subprocess.run(
        [
            sys.executable,
            str(TOOLS / "tune_measure.py"),
            "--output",
            str(tmp_path / "out"),
            "--work",
            str(work),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"--work {str(work)!r} is not empty; give an empty or new folder" in result.stderr
    assert not (tmp_path / "out").exists()
