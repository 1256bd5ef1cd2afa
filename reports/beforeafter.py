"""``beforeafter``: an optimisation's before/after per machine or profile, and a recommendation per profile.

For one recipe (the *after*) against its baseline variant (the *before*, fp32 unless the rows
say otherwise), per model x workload and per profile (or machine), newest run of each:

- generation time: measured where the row ran on the profile's own kind of device, otherwise
  the run's projected latency for the profile (the ``basis`` column says which);
- GPU utilisation (NVML, mean over the generations), peak RAM, peak VRAM (allocated; the
  meta-device estimate where nothing was measured on a GPU), FID and PSNR vs the baseline;
- time for 100 prompts: 100 x the generation time (one generation per prompt, ``--batch``
  images each). It is derived from the median of the timed rounds, not a separate run of
  100 prompts, and is labelled so;
- the change in percent for each figure.

Then ``recommend`` for every profile in the runs, in one table: the fastest variant that fits
and meets the quality bounds, and the runner-up.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports import frames, output
from reports.errors import ReportError
from reports.loader import load
from reports.plots import finite, new_figure, to_png
from reports.recommend import measured_on_profile, non_negative, recommend, unit_interval

PROMPTS = 100
BY = ("profile", "machine")
FIGURES: tuple[tuple[str, str], ...] = (
    ("generation_s", "generation time (s)"),
    ("gpu_util_pct", "GPU utilisation (%)"),
    ("peak_ram_mib", "peak RAM (MiB)"),
    ("vram_mib", "peak VRAM (MiB)"),
    ("fid", "FID"),
    ("psnr_vs_baseline", "PSNR vs baseline (dB)"),
    ("ssim_vs_baseline", "SSIM vs baseline"),
    ("prompts_s", f"time for {PROMPTS} prompts (s)"),
)

_COLUMN_OF = {title: column for column, title in FIGURES}


@dataclass
class Pair:
    """One model x workload x profile x machine: the baseline's row and the recipe's."""

    model: str
    workload: str
    profile: str
    machine: str
    baseline: str
    before: pd.Series
    after: pd.Series | None  # None: the recipe has no row here


def figures(row: pd.Series) -> dict[str, object]:
    """The before/after figures of one row, with where its time and memory come from."""
    measured = measured_on_profile(row)
    time_s = row["latency_median_s"] if measured else row.get("projected_latency_s")
    vram = row["peak_vram_mib"]
    vram_basis = "measured"
    if pd.isna(vram) and pd.notna(row.get("est_peak_mem_mib")):
        vram, vram_basis = row["est_peak_mem_mib"], "estimated"
    basis = "measured" if measured else "projected"
    if pd.isna(time_s) and isinstance(row.get("projection"), str) and row["projection"]:
        basis = row["projection"]  # e.g. "not projected: gtx1650 (sm_75) has no bf16: ..."
    return {
        "generation_s": time_s,
        "basis": basis,
        "gpu_util_pct": row.get("gpu_util_pct"),
        "peak_ram_mib": row["peak_ram_mib"],
        "vram_mib": vram,
        "vram_basis": vram_basis if pd.notna(vram) else "",
        "fid": row["fid"],
        "psnr_vs_baseline": row["psnr_vs_baseline"],
        "ssim_vs_baseline": row.get("ssim_vs_baseline"),
        "prompts_s": PROMPTS * time_s if pd.notna(time_s) else float("nan"),
    }


def pairs(df: pd.DataFrame, recipe: str) -> list[Pair]:
    df = frames.normalised(df)
    df = df[df["model"] != ""]
    if recipe not in set(df["variant"]):
        known = frames.order_variants(sorted(set(df["variant"])))
        raise ReportError(f"no rows of recipe {recipe!r} in these runs; variants there: {', '.join(known)}")
    latest = frames.latest(df, ["machine", "model", "variant", "workload", "profile"])
    found: list[Pair] = []
    keys = ["model", "workload", "profile", "machine"]
    for (model, workload, profile, machine), group in latest.groupby(keys, sort=False):
        if recipe not in set(group["variant"]):
            continue
        after = group[group["variant"] == recipe].iloc[0]
        baseline = after["baseline_variant"]
        before = group[group["variant"] == baseline]
        if before.empty:
            continue  # no baseline on this machine: nothing to compare against (said below)
        found.append(Pair(model, workload, profile, machine, baseline, before.iloc[0], after))
    if not found:
        raise ReportError(
            f"recipe {recipe!r} has no baseline row (same model, workload, profile and machine) to compare "
            "with; run the suite with --variants fp32,RECIPE"
        )
    return found


def table(found: list[Pair], by: str) -> pd.DataFrame:
    """Long form: one line per pair and figure, before, after and the change in percent."""
    lines: list[dict[str, object]] = []
    for pair in found:
        before = figures(pair.before)
        after = figures(pair.after) if pair.after is not None else {}
        status = pair.after["status"] if pair.after is not None else "absent"
        for figure, title in FIGURES:
            b, a = before.get(figure), after.get(figure)
            if pd.isna(b) and pd.isna(a):
                continue
            change = 100.0 * (a - b) / b if pd.notna(a) and pd.notna(b) and b else float("nan")
            basis = ""
            if figure in ("generation_s", "prompts_s"):
                basis = str(before["basis"] if pd.notna(b) or not after else after["basis"])
                if pd.notna(b) and after and pd.isna(a):
                    basis = f"{before['basis']}; after: {after['basis']}"
            if figure == "vram_mib":
                basis = before["vram_basis"] or after.get("vram_basis", "")
            lines.append(
                {
                    "model": pair.model,
                    "workload": pair.workload,
                    by: pair.profile if by == "profile" else pair.machine,
                    "baseline": pair.baseline,
                    "status": status,
                    "figure": title,
                    "before": b,
                    "after": a,
                    "delta_pct": change,
                    "basis": basis,
                }
            )
    columns = ["model", "workload", by, "baseline", "status", "figure", "before", "after", "delta_pct"]
    return pd.DataFrame(lines, columns=[*columns, "basis"])  # the columns even when no figure was measured


def recommendations(
    df: pd.DataFrame,
    max_fid_increase: float | None,
    min_psnr: float | None,
    min_ssim: float | None = None,
) -> pd.DataFrame:
    """The best and runner-up variant per profile (model x workload x machine), every profile in the runs."""
    df = frames.normalised(df)
    lines: list[dict[str, object]] = []
    for profile in sorted({p for p in df.loc[df["model"] != "", "profile"] if p}):
        for group in recommend(df, profile, max_fid_increase, min_psnr, min_ssim).groups:
            best = group.best
            runner = group.ranked[1] if len(group.ranked) > 1 else None
            lines.append(
                {
                    "profile": profile,
                    "model": group.model,
                    "workload": group.workload,
                    "recommended": best.variant if best else "none",
                    "latency (s)": output.number(best.latency_s) if best else "",
                    "basis": best.basis if best else "",
                    "fits": best.fits if best else "",
                    "runner-up": f"{runner.variant} ({output.number(runner.latency_s)} s)" if runner else "",
                    "excluded": len(group.excluded),
                }
            )
    return pd.DataFrame(lines)


def to_markdown(long: pd.DataFrame, recipe: str, by: str, recs: pd.DataFrame) -> str:
    parts = [f"# Before / after: {recipe}\n"]
    for (model, workload, where), group in long.groupby(["model", "workload", by], sort=False):
        baseline, status = group["baseline"].iloc[0], group["status"].iloc[0]
        parts.append(f"\n## {model} · {workload} · {by} {where or '(none)'}\n\n")
        if status != "ok":
            parts.append(f"The recipe's row has status **{status}**.\n\n")
        columns = group["figure"].map(_COLUMN_OF)
        shown = pd.DataFrame(
            {
                "figure": group["figure"],
                f"before ({baseline})": [
                    output.figure(c, v) for c, v in zip(columns, group["before"], strict=True)
                ],
                f"after ({recipe})": [
                    output.figure(c, v) for c, v in zip(columns, group["after"], strict=True)
                ],
                "Δ%": group["delta_pct"].map(output.percent),
                "basis": group["basis"],
            }
        )
        parts.append(output.markdown(shown, right=[f"before ({baseline})", f"after ({recipe})", "Δ%"]))
    parts.append(
        f"\nTime for {PROMPTS} prompts is {PROMPTS} x the generation time (the median of the timed "
        "rounds, one generation per prompt), not a separate run. *projected*: not measured on that "
        "profile's device; a roofline projection from the run (see docs/profiles.md). "
        "*estimated* VRAM: the meta-device estimate, where no GPU measured it.\n"
    )
    if not recs.empty:
        parts.append("\n## Recommendation per profile\n\n")
        parts.append(output.markdown(recs, right=["latency (s)", "excluded"]))
    return "".join(parts)


def plot(long: pd.DataFrame, recipe: str, by: str) -> bytes:
    """Per model x workload: generation time before and after (log scale: a CPU's seconds and a
    projected GPU's milliseconds share an axis) and the speed-up, grouped by profile or machine."""
    times = long[long["figure"] == dict(FIGURES)["generation_s"]].copy()
    # A log axis has no place for zero, negative or non-finite times: those bars are left out.
    for side in ("before", "after"):
        times[side] = finite(times[side]).where(lambda seconds: seconds > 0)
    times = times[times["before"].notna() | times["after"].notna()]
    if times.empty:
        raise ReportError("no generation time (measured or projected) before or after: nothing to plot")
    groups = list(times.groupby(["model", "workload"], sort=False))
    width = max(4.0, 1.3 * times[by].nunique() + 1.5)
    figure = new_figure(2 * width, 3.4 * len(groups))
    panels = figure.subplots(len(groups), 2, squeeze=False)
    for (left, right), ((model, workload), group) in zip(panels, groups, strict=True):
        positions = list(range(len(group)))
        # "projected; after: not projected: ..." -> "projected": the table has the full reason.
        labels = [
            f"{where}\n{str(basis).split(';')[0].split(':')[0]}"
            for where, basis in zip(group[by], group["basis"], strict=True)
        ]
        baseline = group["baseline"].iloc[0]
        left.bar([p - 0.2 for p in positions], group["before"], width=0.4, label=f"before ({baseline})")
        left.bar([p + 0.2 for p in positions], group["after"], width=0.4, label=f"after ({recipe})")
        left.set_yscale("log")
        left.set_ylabel("generation time (s, log)")
        left.set_title(f"{model} · {workload}", fontsize=9)
        left.legend(fontsize=8)
        speedup = group["before"] / group["after"]
        right.bar(positions, speedup.fillna(0.0), width=0.5, color="tab:green")
        right.axhline(1.0, color="black", linewidth=0.8)
        right.set_ylabel(f"speed-up of {recipe} (x)")
        right.set_title("before / after (missing: not measured or projected)", fontsize=9)
        for axis in (left, right):
            axis.set_xticks(positions, labels, fontsize=8)
    return to_png(figure)


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "beforeafter",
        parents=parents,
        help="an optimisation's before/after per profile or machine, and a recommendation per profile",
        description="Generation time, GPU utilisation, RAM, VRAM, quality and time for 100 prompts, before "
        "and after RECIPE, with the change in percent; then the recommended variant for every profile.",
    )
    parser.add_argument("--recipe", required=True, help="the optimised variant, as the report names it")
    parser.add_argument(
        "--by", default="profile", choices=BY, help="one table per profile (default) or machine"
    )
    parser.add_argument("--max-fid-increase", type=non_negative, help="quality bound for the recommendations")
    parser.add_argument("--min-psnr", type=non_negative, help="quality bound for the recommendations, dB")
    parser.add_argument(
        "--min-ssim",
        type=unit_interval,
        metavar="S",
        help="quality bound for the recommendations, SSIM 0 to 1",
    )
    parser.add_argument(
        "--output-dir", type=Path, help="write beforeafter.md and beforeafter.png there (default: print)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    folder = None if args.output_dir is None else output.output_folder(args.output_dir)  # before reading
    df = load(args.paths or None)
    long = table(pairs(df, args.recipe), args.by)
    text = to_markdown(
        long, args.recipe, args.by, recommendations(df, args.max_fid_increase, args.min_psnr, args.min_ssim)
    )
    if folder is None:
        output.emit(text, None)
        return 0
    text += "\n![generation time before and after](beforeafter.png)\n"
    output.write_report(folder, "beforeafter", text, lambda: plot(long, args.recipe, args.by))
    return 0
