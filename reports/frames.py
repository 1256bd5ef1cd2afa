"""Shared shaping of the loaded frame: row keys, the newest row per key, each row's baseline.

Every command answers "this variant, against what?" the same way, so the rules live here:

- a row is identified by **model, workload, profile, variant** (a plain pytest-benchmark row
  without diffbench's fields uses its benchmark name as the variant);
- when several runs hold the same key, the **newest run** (its datetime, then its name) wins;
- a variant's **baseline** is the row of its ``baseline_variant`` (fp32 when the run does not
  say) with the same machine, model, workload and profile, **in the same run** when that run
  has it, else the newest such row on the same machine: ratios only ever compare figures
  taken on one machine.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd

from reports.errors import ReportWarning

KEY = ["model", "workload", "profile", "variant"]
DEFAULT_BASELINE = "fp32"  # the suite's baseline recipe (optimize.recipe.BASELINE), for runs that omit it

# Columns another issue adds to reports/columns.py (hardware profiles); read if present, NaN if not.
OPTIONAL_COLUMNS = ("fits", "est_peak_mem_mib", "projected_latency_s", "emulated")


def normalised(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose key columns are never missing (so groupby/merge keep every row).

    Optional columns that these runs' reader does not know yet are added as all-NaN, so the
    commands can test for values rather than for columns.
    """
    out = df.copy()
    out["variant"] = out["variant"].fillna(out["name"]).fillna("?")
    for column in ("model", "workload", "profile", "machine", "run"):
        out[column] = out[column].fillna("")
    out["status"] = out["status"].fillna("ok")  # a plain pytest-benchmark row ran, so it is ok
    out["baseline_variant"] = out["baseline_variant"].fillna(DEFAULT_BASELINE)
    for column in OPTIONAL_COLUMNS:
        if column not in out.columns:
            out[column] = pd.NA
    return out


def first_per_run(df: pd.DataFrame) -> pd.DataFrame:
    """One row per key in each run (of a normalised frame): the first, with a warning naming the rest.

    A run holding one key twice (a benchmark saved twice) gives two rows that no table keyed by
    variant can tell apart. The gate refuses such a run instead: it must not guess.
    """
    twice = df.duplicated([*KEY, "machine", "run", "source"], keep="first")
    if not twice.any():
        return df
    for run, rows in df[twice].groupby("run", sort=False):
        variants = ", ".join(dict.fromkeys(rows["variant"]))
        warnings.warn(
            f"run {run or '?'} holds {len(rows)} more row(s) with the same model, workload, profile and "
            f"variant as an earlier row ({variants}): the first of each is used",
            ReportWarning,
            stacklevel=3,
        )
    return df[~twice]


def missing_columns(df: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """The names among ``names`` that hold no value in any row (absent or all NaN)."""
    return [name for name in names if name not in df.columns or df[name].isna().all()]


def newest_first(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["datetime", "run"], ascending=False, na_position="last", kind="stable")


def latest(df: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """One row per ``by`` value: the one from the newest run; original row order kept."""
    keep = newest_first(df).drop_duplicates(list(by), keep="first").index
    return df.loc[df.index.isin(keep)]


def latest_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Only the rows of each machine's newest run."""
    newest = newest_first(df).drop_duplicates(["machine"], keep="first")
    keep = set(zip(newest["machine"], newest["run"], strict=True))
    # A boolean Series, not a list: an empty list would select no columns instead of no rows.
    return df[
        pd.Series(
            [pair in keep for pair in zip(df["machine"], df["run"], strict=True)], index=df.index, dtype=bool
        )
    ]


def baseline_rows(df: pd.DataFrame) -> pd.DataFrame:
    """For each row of ``df`` (same index), its baseline's row; all-NaN where there is none.

    The baseline row of a baseline variant is the row itself.
    """
    group = ["machine", "model", "workload", "profile"]
    base = df[df["variant"] == df["baseline_variant"]]
    same_run = _match(df, base, [*group, "run"])
    # Runs without their own baseline (e.g. --variants bf16): the newest baseline of the machine.
    newest = latest(base, [*group, "variant"])
    elsewhere = _match(df, newest, group)
    return same_run.combine_first(elsewhere).reindex(columns=df.columns)


def _match(df: pd.DataFrame, base: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    left = df[[*on, "baseline_variant"]].reset_index(names="_row")
    right = base.drop(columns=["baseline_variant"]).rename(columns={"variant": "baseline_variant"})
    right = right.drop_duplicates([*on, "baseline_variant"], keep="last")
    merged = left.merge(right, on=[*on, "baseline_variant"], how="inner").set_index("_row")
    merged["variant"] = merged["baseline_variant"]
    # Rows that found no baseline come back all-NaN from the reindex, never half-filled.
    return merged.reindex(index=df.index, columns=df.columns)


def order_variants(variants: Sequence[str], baselines: Sequence[str] = (DEFAULT_BASELINE,)) -> list[str]:
    """Baselines first, then the rest in the order they first appear."""
    seen = list(dict.fromkeys(variants))
    return [v for v in seen if v in baselines] + [v for v in seen if v not in baselines]
