"""docs/passes.md and docs/options.md are generated (tools/docs_tables.py) and committed up to date."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.tool_scripts import load_tool

docs_tables = load_tool("docs_tables")


@pytest.mark.parametrize("name", sorted(docs_tables.PAGES))
def test_the_committed_page_is_what_the_metadata_generates(name: str) -> None:
    committed = (docs_tables.DOCS / name).read_text(encoding="utf-8")
    assert committed == docs_tables.pages()[name], (
        f"docs/{name} is out of date: run `{docs_tables.REGENERATE}` and commit it"
    )


def test_every_pass_and_every_suite_option_is_on_its_page() -> None:
    from bench.options import SUITE_OPTIONS
    from optimize.passes.registry import PASSES

    passes, options = docs_tables.pages()["passes.md"], docs_tables.pages()["options.md"]
    assert all(f"| `{name}` |" in passes for name in PASSES)
    assert all(f"`{option.name}" in options for option in SUITE_OPTIONS)


def test_check_exits_1_naming_a_drifted_page_and_0_when_current(tmp_path: Path, capsys) -> None:
    assert docs_tables.main(["--docs", str(tmp_path)]) == 0  # writes both pages
    assert docs_tables.main(["--check", "--docs", str(tmp_path)]) == 0
    page = tmp_path / "options.md"
    page.write_text(page.read_text().replace("`--steps`", "`--stepz`"))
    capsys.readouterr()
    assert docs_tables.main(["--check", "--docs", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: {page} is out of date: run `{docs_tables.REGENERATE}`"
    ]


def test_the_options_come_from_the_plugins_hook_through_a_recording_parser() -> None:
    parser = docs_tables.RecordingParser()
    for hook in docs_tables.option_hooks():
        hook(parser)
    names = [name for group in parser.groups.values() for names, _ in group.options for name in names]
    assert "--model" in names and "--rounds" in names
    assert len(names) == len(set(names))  # each option declared once
