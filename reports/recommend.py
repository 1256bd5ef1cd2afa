"""``recommend``: the fastest variant that fits a profile and meets the quality bounds.

The profile is one the runs' rows were run on (``--profile``, a built-in class or a card of the
run's ``--profile-file``). A profile the rows only recorded a memory fit for (every GPU class a CPU
run estimates) has no latency of its own to rank by: the refusal names ``fits --profile NAME``,
which shows those fits (the long form of reports/fits.py).

For each model x workload with rows on the profile (newest run per variant):

- **runs**: status ``ok``; anything else is excluded with its status and reason.
- **fits**: the row's ``fits`` figure when the run recorded one (hardware-profile runs);
  otherwise a variant that ran on the profile's own device fits by having run; otherwise
  the fit is unknown, shown as such (not excluded: nothing says it does not fit).
- **latency**: measured when the row was measured on the profile's own kind of device
  (``cpu`` on a CPU, a GPU class on CUDA and not emulated, ``host`` anywhere), else the
  run's ``projected_latency_s`` for the profile; a row with neither is excluded.
- **quality**: ``--min-psnr`` against ``psnr_vs_baseline`` and ``--min-ssim`` (0 to 1) against
  ``ssim_vs_baseline`` (the baseline itself counts as identical); ``--max-fid-increase``
  against the FID of the baseline of the same run. A bound that cannot be checked (the figure
  was not measured, as in runs saved before SSIM was) excludes the variant.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reports import fits, frames, output
from reports.errors import ReportError


@dataclass
class Candidate:
    variant: str
    latency_s: float
    basis: str  # "measured" or "projected"
    fits: str  # "yes", "no", "unknown", "yes (ran on it)"
    memory: str  # peak memory and which: "544.9 MiB RAM"
    psnr: float
    fid_increase: float
    ssim: float = math.nan


@dataclass
class Recommendation:
    model: str
    workload: str
    profile: str
    machine: str
    ranked: list[Candidate] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (variant, why)

    @property
    def best(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None


@dataclass
class Recommendations:
    profile: str
    groups: list[Recommendation]
    notes: list[str]


def recommend(
    df: pd.DataFrame,
    profile: str,
    max_fid_increase: float | None = None,
    min_psnr: float | None = None,
    min_ssim: float | None = None,
) -> Recommendations:
    df = frames.normalised(df)
    df = df[df["model"] != ""]  # plain pytest-benchmark rows have no variant to recommend
    run_on = sorted({p for p in df["profile"] if p})
    if profile not in run_on:
        fitted_only = profile in fits.profiles(fits.fits_long(df))
        raise ReportError(no_rows_message(profile, run_on, fitted_only))
    # Per machine: two CPUs (or two cards of one class) are not one set of timings.
    rows = frames.latest(df[df["profile"] == profile], [*frames.KEY, "machine"])
    notes = _notes(rows)
    base = frames.baseline_rows(df)
    groups: list[Recommendation] = []
    for (model, workload, machine), group in rows.groupby(["model", "workload", "machine"], sort=False):
        result = Recommendation(model, workload, profile, machine)
        order = frames.order_variants(list(group["variant"]), list(group["baseline_variant"]))
        for index in sorted(group.index, key=lambda i: order.index(group.at[i, "variant"])):
            candidate, why = _judge(group.loc[index], base.loc[index], max_fid_increase, min_psnr, min_ssim)
            if candidate is None:
                result.excluded.append((group.at[index, "variant"], why))
            else:
                result.ranked.append(candidate)
        result.ranked.sort(key=lambda c: c.latency_s)
        groups.append(result)
    return Recommendations(profile, groups, notes)


def no_rows_message(profile: str, known: list[str], fitted_only: bool = False) -> str:
    """Why there is nothing to recommend, and the run that would make rows for the profile."""
    recorded = (
        f"; the rows recorded only its memory fit, which `fits --profile {profile}` shows"
        if fitted_only
        else ""
    )
    there = ", ".join(known) or "none"
    return (
        f"no rows for profile {profile!r} in these runs (profiles there: {there}{recorded}); "
        f"make them with `pytest bench/ --profile {profile} --benchmark-save=NAME` where {profile!r} is "
        "a built-in profile (`diffbench profiles` lists them), adding `--profile-file FILE` that defines "
        "it where it is a card of your own: without that card the rows are measured on this machine "
        "and carry the card's memory fit and projected latency (docs/profiles.md)"
    )


def measured_on_profile(row: pd.Series) -> bool:
    """Whether the row's measured latency is a latency of its profile (not of another device)."""
    emulated = row.get("emulated")
    if pd.notna(emulated) and bool(emulated):
        return False  # capped memory on a bigger card: its speed is the bigger card's
    device = row["device"] if isinstance(row["device"], str) else ""
    if row["profile"] == "host":
        return True
    if row["profile"] == "cpu":
        return device == "cpu"
    return device.startswith("cuda")


def _judge(
    row: pd.Series,
    base: pd.Series,
    max_fid_increase: float | None,
    min_psnr: float | None,
    min_ssim: float | None = None,
) -> tuple[Candidate | None, str]:
    """The row as a candidate, or why not."""
    if row["status"] != "ok":
        reason = row["reason"] if isinstance(row["reason"], str) and row["reason"] else "no reason given"
        return None, f"{row['status']}: {reason}"
    measured = measured_on_profile(row)
    fit = _fits(row, measured)
    if fit == "no":
        estimate = row["est_peak_mem_mib"]
        detail = f" (estimated peak {output.number(estimate)} MiB)" if pd.notna(estimate) else ""
        return None, f"does not fit the profile{detail}"
    latency = row["latency_median_s"] if measured else row["projected_latency_s"]
    if pd.isna(latency):
        return None, f"no latency for this profile: measured on {row['device']}, and no projected latency"
    if not math.isfinite(latency) or latency < 0:
        # A saved run may hold any float; -inf would otherwise be "the fastest".
        return None, f"its latency {output.number(latency)} s is not a time"
    is_baseline = row["variant"] == row["baseline_variant"]
    psnr = math.inf if is_baseline else row["psnr_vs_baseline"]
    if min_psnr is not None:
        if pd.isna(psnr):
            return None, "PSNR against the baseline was not measured"
        if psnr < min_psnr:
            return None, f"PSNR {output.number(psnr)} dB is below {min_psnr:g} dB"
    # Older saved runs have no ssim_vs_baseline column: NaN, so "not measured", never a crash.
    ssim = 1.0 if is_baseline else row.get("ssim_vs_baseline", math.nan)
    if min_ssim is not None:
        if pd.isna(ssim):
            return None, "SSIM against the baseline was not measured"
        if ssim < min_ssim:
            return None, f"SSIM {output.figure('ssim_vs_baseline', ssim)} is below {min_ssim:g}"
    fid_increase = row["fid"] - base["fid"] if pd.notna(row["fid"]) and pd.notna(base["fid"]) else math.nan
    if is_baseline and pd.notna(row["fid"]):
        fid_increase = 0.0
    if max_fid_increase is not None:
        if pd.isna(fid_increase):
            return None, "FID (of it or of its baseline) was not measured"
        if fid_increase > max_fid_increase:
            return None, f"FID +{output.number(fid_increase)} over the baseline exceeds +{max_fid_increase:g}"
    basis = "measured" if measured else "projected"
    candidate = Candidate(row["variant"], float(latency), basis, fit, _memory(row), psnr, fid_increase, ssim)
    return candidate, ""


def _fits(row: pd.Series, measured: bool) -> str:
    recorded = row["fits"]
    if pd.notna(recorded):
        return "yes" if bool(recorded) else "no"
    if measured:
        return "yes (ran on it)"
    return "unknown"


def _memory(row: pd.Series) -> str:
    for column, which in (
        ("peak_vram_mib", "VRAM"),
        ("est_peak_mem_mib", "est. device"),
        ("peak_ram_mib", "RAM"),
    ):
        if pd.notna(row[column]):
            return f"{output.number(row[column])} MiB {which}"
    return ""


def _notes(rows: pd.DataFrame) -> list[str]:
    notes: list[str] = []
    missing = frames.missing_columns(rows, ["fits", "est_peak_mem_mib", "projected_latency_s"])
    if missing:
        notes.append(
            f"these runs carry no {', '.join(missing)} (the hardware-profile figures): a variant that ran "
            "on the profile's own device fits by having run; elsewhere its fit is unknown"
        )
    return notes


# --- rendering ----------------------------------------------------------------------------------


def to_markdown(
    result: Recommendations,
    max_fid_increase: float | None,
    min_psnr: float | None,
    min_ssim: float | None = None,
) -> str:
    bounds = []
    if min_psnr is not None:
        bounds.append(f"PSNR at least {min_psnr:g} dB")
    if min_ssim is not None:
        bounds.append(f"SSIM at least {min_ssim:g}")
    if max_fid_increase is not None:
        bounds.append(f"FID at most +{max_fid_increase:g} over the baseline")
    parts = [
        f"# Recommendation for profile {result.profile}\n\n",
        f"Quality bounds: {' and '.join(bounds) or 'none'}.\n",
    ]
    parts.extend(f"\nNote: {note}.\n" for note in result.notes)
    for group in result.groups:
        parts.append(f"\n## {group.model} · {group.workload} · {group.machine}\n\n")
        best = group.best
        if best is None:
            parts.append("No variant qualifies.\n")
        else:
            parts.append(
                f"**Recommended: {best.variant}**, {output.number(best.latency_s)} s ({best.basis}), "
                f"fits: {best.fits}.\n\n"
            )
            parts.append(_ranked_table(group.ranked))
        if group.excluded:
            parts.append("\nExcluded:\n\n")
            parts.append(output.markdown(pd.DataFrame(group.excluded, columns=["variant", "why"])))
    return "".join(parts)


def _ranked_table(ranked: list[Candidate]) -> str:
    frame = pd.DataFrame(
        [
            {
                "rank": str(rank),
                "variant": c.variant,
                "latency (s)": output.number(c.latency_s),
                "latency is": c.basis,
                "fits": c.fits,
                "peak memory": c.memory,
                "PSNR (dB)": output.number(c.psnr),
                "SSIM": output.figure("ssim_vs_baseline", c.ssim),
                "FID increase": output.number(c.fid_increase),
            }
            for rank, c in enumerate(ranked, start=1)
        ]
    )
    # A quality figure no candidate has (FID on a run without --quality fid) is a column of blanks.
    empty = [name for name in ("PSNR (dB)", "SSIM", "FID increase") if (frame[name] == "").all()]
    frame = frame.drop(columns=empty)
    numbers = [
        name
        for name in ("rank", "latency (s)", "peak memory", "PSNR (dB)", "SSIM", "FID increase")
        if name in frame
    ]
    return output.markdown(frame, right=numbers)


# --- the command ------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "recommend",
        parents=parents,
        help="the fastest variant that fits a profile and meets quality bounds",
        description=(
            "The fastest variant that fits the profile and meets the quality bounds, per model and "
            "workload, with the runners-up and why the others were excluded."
        ),
    )
    parser.add_argument(
        "--profile",
        required=True,
        metavar="NAME",
        help="hardware profile: one the runs were run on, or one they recorded fits for (--profile-file)",
    )
    parser.add_argument(
        "--max-fid-increase", type=non_negative, metavar="X", help="FID points over the baseline"
    )
    parser.add_argument("--min-psnr", type=non_negative, metavar="Y", help="dB against the baseline image")
    parser.add_argument(
        "--min-ssim", type=unit_interval, metavar="S", help="SSIM against the baseline image, 0 to 1"
    )
    parser.add_argument("--output", type=Path, help="write to FILE instead of stdout")
    parser.set_defaults(run=run)


def non_negative(text: str) -> float:
    """An option's finite number >= 0 (argparse type): NaN would pass every comparison unnoticed."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def unit_interval(text: str) -> float:
    """An option's number from 0 to 1 (argparse type): an SSIM bound above 1 would exclude everything."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{text!r} must be a number from 0 to 1")
    return value


def run(args: argparse.Namespace) -> int:
    bounds = (args.max_fid_increase, args.min_psnr, args.min_ssim)
    result = recommend(fits.load(args.paths), args.profile, *bounds)
    output.emit(to_markdown(result, *bounds), args.output)
    return 0
