"""``fits``: which variant fits which hardware profile, for every profile the runs recorded a fit for.

The long-form fits (reports/fits.py) as a pivot: one row per model, variant and workload, one
column per profile (the built-in GPU classes and the cards of the runs' ``--profile-file``),
each cell the newest run's fit: ``yes``, ``no``, ``unknown`` (recorded without a verdict: the
card's memory is not known), or empty (no run recorded a fit for that card).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from reports import fits, frames, output
from reports.errors import ReportError

ROW_KEY = ["model", "variant", "workload"]
PEAK = "est. peak (MiB)"


def fit_table(long: pd.DataFrame) -> pd.DataFrame:
    """The pivot of a long fits table, formatted: ``ROW_KEY``, the estimated peak, then one column
    per profile in the order the runs list them; rows in the order they first appear."""
    newest = frames.latest(long, [*ROW_KEY, "profile"])
    cells = newest["fits"].map(lambda fit: "unknown" if pd.isna(fit) else output.number(bool(fit)))
    table = newest.assign(cell=cells).pivot(index=ROW_KEY, columns="profile", values="cell")
    table = table.reindex(columns=fits.profiles(long))
    # Where the estimate differs between runs, the newest row's (as for the fits themselves).
    peaks = frames.latest(long, ROW_KEY).set_index(ROW_KEY)["est_peak_mem_mib"].map(output.number)
    first_seen = long[ROW_KEY].drop_duplicates()
    table = table.reindex(pd.MultiIndex.from_frame(first_seen))
    table.insert(0, PEAK, peaks.reindex(table.index))
    table.columns.name = None
    return table.reset_index()


def to_markdown(table: pd.DataFrame) -> str:
    return (
        "# Which variant fits which profile\n\n"
        "The fit each run recorded (the estimated peak against the card's memory, and whether the card "
        "runs the dtype), newest run per row; empty: no run recorded that card.\n\n"
        + output.markdown(table, right=[PEAK])
    )


def no_fits_message() -> str:
    return (
        "no row of these runs recorded profile fits (fits_profiles): the suite records them for every row "
        "it can estimate, for the built-in GPU profiles and the cards of --profile-file (docs/profiles.md)"
    )


# --- the command ------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "fits",
        parents=parents,
        help="which variant fits which hardware profile (every profile the runs know)",
        description=(
            "Whether each variant fits each hardware profile the runs recorded a fit for: the built-in "
            "GPU classes and the cards of the runs' --profile-file, one column each."
        ),
    )
    parser.add_argument("--profile", metavar="NAME", help="only this profile's column")
    parser.add_argument("--output", type=Path, help="write to FILE instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    long = fits.fits_long(fits.load(args.paths))
    if long.empty:
        raise ReportError(no_fits_message())
    if args.profile is not None:
        long = fits.for_profile(long, args.profile)
    output.emit(to_markdown(fit_table(long)), args.output)
    return 0
