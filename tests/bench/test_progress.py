"""A person sees what the suite is doing (issue 17 item 8): one line per phase of each benchmark,
with the seconds since it began; nothing under `-q`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers.suite_inprocess import FakeBenchmark, tiny_suite_config

from bench import progress

LINE = re.compile(r"^\[diffbench\] (?P<subject>\S+): (?P<text>.+) \((?P<elapsed>\d+\.\d) s\)$")


def test_each_phase_of_each_benchmark_is_a_line_with_its_elapsed_seconds(tmp_path: Path) -> None:
    from bench.suite import Suite

    suite = Suite(tiny_suite_config(tmp_path, ("fp32", "bf16"), rounds=2, warmup=1))
    lines: list[str] = []
    with progress.reporting(lines.append):
        for case in suite.cases():
            info = suite.row(case)
            suite.run(case, FakeBenchmark(), info)
            assert info["status"] == "ok"
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    by_subject: dict[str, list[tuple[str, float]]] = {}
    for match in parsed:
        assert match is not None
        by_subject.setdefault(match["subject"], []).append((match["text"], float(match["elapsed"])))
    fp32, bf16 = (case.test_id for case in suite.cases())
    assert [text for text, _ in by_subject[fp32]] == [
        "building fp32 (or loading it from the variant cache)",
        "fp32 built",
        "first call",
        "warm-up 1 of 1",
        "round 1 of 2",
        "round 2 of 2",
        "rounds done; the figures after them (PSNR, quality, profile fit)",
    ]
    assert [text for text, _ in by_subject[bf16]][:2] == [
        "building bf16 (or loading it from the variant cache)",
        "bf16 built",
    ]
    for phases in by_subject.values():
        elapsed = [seconds for _, seconds in phases]
        assert elapsed == sorted(elapsed)  # seconds since this benchmark began, never reset mid-way


def test_a_variant_from_the_cache_says_so(tmp_path: Path) -> None:
    from bench.suite import Suite
    from optimize import parse_recipe

    config = tiny_suite_config(tmp_path, ("fp32",))
    Suite(config).variant(parse_recipe("fp32"))  # fills the variant cache
    lines: list[str] = []
    with progress.reporting(lines.append):
        progress.begin("fp32-again")
        Suite(config).variant(parse_recipe("fp32"))
    assert [LINE.match(line)["text"] for line in lines] == [  # type: ignore[index]
        "building fp32 (or loading it from the variant cache)",
        "fp32 loaded from the variant cache",
    ]


def test_without_a_sink_nothing_is_written_and_rounds_have_no_setup() -> None:
    assert progress.install(None) is None  # the tests' process has no sink
    progress.begin("x")
    progress.phase("nothing to see")  # no error, no output
    assert progress.round_counter(3) is None


class FakeCapture:
    """pytest's capture manager: output written inside the block reaches the terminal."""

    def __init__(self) -> None:
        self.suspended = False

    @contextmanager
    def global_and_fixture_disabled(self) -> Iterator[None]:
        self.suspended = True
        yield
        self.suspended = False


class FakeReporter:
    """pytest's terminal reporter: each line, and whether capture was suspended when it came."""

    def __init__(self, capture: FakeCapture) -> None:
        self.capture = capture
        self.lines: list[tuple[str, bool]] = []

    def write_line(self, line: str) -> None:
        self.lines.append((line, self.capture.suspended))


class FakePlugins:
    def __init__(self, plugins: dict[str, Any]) -> None:
        self.plugins = plugins

    def get_plugin(self, name: str) -> Any:
        return self.plugins.get(name)


class FakeConfig:
    """The part of pytest.Config that attach reads."""

    def __init__(self, verbosity: int, plugins: dict[str, Any]) -> None:
        self.verbosity = verbosity
        self.pluginmanager = FakePlugins(plugins)
        self.stash = pytest.Stash()
        self.cleanups: list[Any] = []

    def get_verbosity(self) -> int:
        return self.verbosity

    def add_cleanup(self, function: Any) -> None:
        self.cleanups.append(function)


@pytest.mark.parametrize("verbosity, shown", [(-1, False), (0, True), (1, True)])
def test_attach_writes_to_the_terminal_past_capture_unless_quiet(verbosity: int, shown: bool) -> None:
    capture = FakeCapture()
    reporter = FakeReporter(capture)
    config = FakeConfig(verbosity, {"terminalreporter": reporter, "capturemanager": capture})
    try:
        progress.attach(config)  # type: ignore[arg-type]
        progress.attach(config)  # type: ignore[arg-type]  # once per session: the second call changes nothing
        progress.begin("fp32-64")
        progress.phase("first call")
    finally:
        for cleanup in config.cleanups:
            cleanup()
        progress.install(None)
    assert len(reporter.lines) == (1 if shown else 0)
    if shown:
        line, capture_suspended = reporter.lines[0]
        assert line.startswith("[diffbench] fp32-64: first call (") and capture_suspended
    assert progress.round_counter(1) is None  # the session's cleanup removed the sink
