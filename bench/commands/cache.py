"""`diffbench cache ls|verify|clear`: look after the variant cache (optimize/cache_admin.py does the work)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cli_parser import EXIT_BAD_INPUT, OneLineParser, parse_float
from bench.errors import BenchError

if TYPE_CHECKING:
    from optimize.cache import VariantCache
    from optimize.cache_admin import CachedItem

SUMMARY = "list, verify or clear the variant cache (ls | verify | clear)"
SHORT_KEY = 12  # enough to tell entries apart; the full key is the folder's name
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def _days(text: str) -> float:
    try:
        return parse_float("--older-than", text, minimum=0.0, example="7")
    except BenchError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="diffbench cache", description=__doc__.splitlines()[0])
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--cache-dir",
        default=None,
        help="the variant cache, as the suite's --cache-dir (default $DIFFBENCH_CACHE or "
        "~/.cache/diffbench/variants)",
    )
    actions = parser.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=OneLineParser
    )
    actions.add_parser("ls", parents=[where], help="the entries: key, model, recipe, size, age")
    verify = actions.add_parser(
        "verify",
        parents=[where],
        help="re-check every entry's content hashes as a load does; damaged ones go to .quarantine",
    )
    verify.add_argument("--strict", action="store_true", help="exit 1 when an entry was damaged (default 0)")
    clear = actions.add_parser(
        "clear",
        parents=[where],
        help="remove entries and quarantined items (all, or those matching the filters); no confirmation",
    )
    clear.add_argument(
        "--older-than", metavar="DAYS", type=_days, default=None, help="only those at least DAYS old"
    )
    clear.add_argument("--model", default=None, help="only the entries of this model (e.g. tiny-sd)")
    return parser


def _size(size_bytes: float) -> str:
    for unit in _UNITS[:-1]:
        if size_bytes < 1024:
            return f"{size_bytes:.0f} {unit}" if unit == "B" else f"{size_bytes:.1f} {unit}"
        size_bytes /= 1024
    return f"{size_bytes:.1f} {_UNITS[-1]}"


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _label(item: CachedItem, cache: VariantCache) -> str:
    if item.path.parent == cache.root:
        return f"entry {item.name[:SHORT_KEY]} ({item.model} {item.recipe})"
    return f"quarantined {item.name}"


def _ls(cache: VariantCache, args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from optimize.cache_admin import entries, quarantined

    found = entries(cache)
    if found:
        rows = [
            [item.name[:SHORT_KEY], item.model, item.recipe, _size(item.size_bytes), _age(item.age_s)]
            for item in found
        ]
        print(tabulate(rows, headers=["key", "model", "recipe", "size", "age"], tablefmt="plain"))
    summary = f"{len(found)} entries, {_size(sum(item.size_bytes for item in found))} in {cache.root}"
    aside = quarantined(cache)
    if aside:
        aside_size = _size(sum(item.size_bytes for item in aside))
        summary += f"; {len(aside)} quarantined item(s), {aside_size} (diffbench cache clear removes them)"
    print(summary)
    return 0


def _verify(cache: VariantCache, args: argparse.Namespace) -> int:
    from optimize.cache_admin import verify

    result = verify(cache, warn=lambda line: print(line, file=sys.stderr))
    damaged = len(result.damaged)
    ok = result.checked - damaged
    print(f"verified {result.checked} entries in {cache.root}: {ok} ok, {damaged} damaged")
    return 1 if args.strict and damaged else 0


def _clear(cache: VariantCache, args: argparse.Namespace) -> int:
    from optimize.cache_admin import clear

    result = clear(cache, args.older_than, args.model)
    for item in result.removed:
        print(f"removed {_label(item, cache)}, {_size(item.size_bytes)}")
    for item in result.busy:
        print(f"left {_label(item, cache)}: a build or a run is using it")
    print(f"removed {len(result.removed)} item(s) from {cache.root}, freed {_size(result.freed_bytes)}")
    return 0


def _cache(cache_dir: str | None) -> VariantCache:
    from optimize.cache import VariantCache

    cache = VariantCache(Path(cache_dir).expanduser() if cache_dir else None)
    if cache.root.exists() and not cache.root.is_dir():
        raise BenchError(f"--cache-dir {str(cache.root)!r} is not a folder; give the variant cache's folder")
    return cache


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    action = {"ls": _ls, "verify": _verify, "clear": _clear}[args.action]
    try:
        return action(_cache(args.cache_dir), args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
