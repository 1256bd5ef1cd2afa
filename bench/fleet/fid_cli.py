"""`diffbench fleet fid`: each variant's FID/KID, its samples made by seed ranges on nodes of one profile.

    diffbench fleet fid --address HEAD:6379 --profile rtx3050 --model tiny-ddpm-ihc --variants fp32,bf16
        --fid-samples 200 [--fid-reference ihc-heldout] [--shards K] [workload options] [--output F.json]

Everything is checked (one line, exit 2) before the cluster is asked for anything. The sharding is
bench/fleet/fid_shards.py's; this module only reads the command line and prints.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.cli_parser import parse_int
from bench.fleet.errors import FleetError
from bench.fleet.resources import check_profile
from bench.options import (
    AdapterOptions,
    ModelOptions,
    QualityOptions,
    WorkloadOptions,
    add_study_arguments,
    suite_arguments,
)

# The suite options `fleet fid` takes (the suite's names, help and checks) and passes to every node:
# the model's and the workloads' (a sweep is a line per workload), the device, the adapters and
# FID's own. --variants is fleet fid's (the recipes to score), --quality is implied.
SUITE_OPTIONS: tuple[str, ...] = (
    *(option.name for option in ModelOptions.OPTIONS if option.name != "--variants"),
    *(option.name for option in WorkloadOptions.OPTIONS),
    "--device",
    *(option.name for option in AdapterOptions.OPTIONS),
    *(option.name for option in QualityOptions.OPTIONS if option.name != "--quality"),
)


def add_fid_parser(subparsers: Any) -> argparse.ArgumentParser:
    """`fid` on the fleet CLI's subparsers (their parser_class is the fleet's OneLineParser)."""
    fid = subparsers.add_parser(
        "fid",
        help="FID/KID of each variant, its samples made by seed ranges on nodes of one profile",
        allow_abbrev=False,
    )
    fid.add_argument("--address", required=True, help="HOST:PORT or ray://HOST:PORT")
    fid.add_argument("--profile", required=True, help="the profile whose nodes make the samples")
    fid.add_argument("--variants", required=True, help="comma-separated recipes, e.g. fp32,bf16")
    fid.add_argument(
        "--shards", help="seed ranges per variant, one task each (default: the profile's node count)"
    )
    fid.add_argument("--output", type=Path, help="also write the rows to this JSON file")
    add_study_arguments(fid, *SUITE_OPTIONS)
    return fid


def fid_command(args: argparse.Namespace) -> int:
    """Prints a line per variant (x workload); FleetError (one line) for bad input, nothing started."""
    from bench.fleet.fid_shards import ShardedFid, split_seeds, suite_config
    from models import ModelError
    from optimize import parse_recipe
    from optimize.errors import PassError

    profile = check_profile(args.profile)
    shards = None if args.shards is None else parse_int("--shards", args.shards, minimum=1)
    options = suite_arguments(args, SUITE_OPTIONS)
    try:
        recipes = [parse_recipe(text.strip()).canonical for text in args.variants.split(",") if text.strip()]
        config = suite_config(options, device="cpu")
    except (ModelError, PassError) as error:  # not BenchErrors: the fleet CLI prints only those
        raise FleetError(str(error)) from None
    if not recipes:
        raise FleetError(f"--variants {args.variants!r} names no recipe; give e.g. fp32,bf16")
    if shards is not None:
        split_seeds(0, config.fid_samples, shards)
    if args.output is not None and args.output.is_dir():
        raise FleetError(f"--output {str(args.output)!r} is a folder; give a JSON file name")

    from bench.fleet.cluster import connect

    ray = connect(args.address)
    rows: list[dict[str, Any]] = []
    try:
        fid = ShardedFid(ray, profile, options, shards)
        for recipe in recipes:
            for workload in config.workloads:
                result = fid.score(recipe, workload.label)
                score = result.score
                kid_std = "" if score.kid_std is None else f" +- {score.kid_std:.5f}"
                print(
                    f"[fleet fid] {profile} {recipe} {workload.label}: FID {score.fid:.4f}, "
                    f"KID {score.kid:.5f}{kid_std}, {score.count} samples in {len(result.shards)} shards, "
                    f"{result.wall_s:.1f} s",
                    flush=True,
                )
                rows.append(
                    {
                        "profile": profile,
                        "variant": recipe,
                        "workload": workload.label,
                        **result.fields(),
                        "wall_s": result.wall_s,
                        "shards": [
                            {
                                "start": shard.seeds.start,
                                "count": shard.seeds.count,
                                "node_id": shard.node_id,
                                "seconds": shard.seconds,
                            }
                            for shard in result.shards
                        ],
                    }
                )
    finally:
        ray.shutdown()
    if args.output is not None:
        _write_json(args.output, rows)
    return 0


def _write_json(path: Path, rows: list[dict[str, Any]]) -> None:
    """Atomically (a reader never sees half a file): a temporary file beside it, then os.replace.
    bench may not import reports' writer (the import contract allows only reports.record)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise FleetError(f"--output {str(path)!r} cannot be written: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(json.dumps(rows, indent=1) + "\n")
        os.replace(temporary, path)
    except OSError as error:
        raise FleetError(f"--output {str(path)!r} cannot be written: {error.strerror or error}") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
