"""The product's timing source: the real suite, interleaved, in a subprocess.

One `measure` is one `pytest bench/ --variants BASELINE,R1,R2,... --interleave --rounds N
--benchmark-save=tune-LABEL` (the command a user would type, built by the studies' runner), so
the rows, the variant cache and the saved run are the ordinary ones. Its saved JSON is read back
into one Measurement per recipe: rounds are interleaved (round k of every variant ran side by
side), so round k of the baseline over round k of a candidate is one paired speed-up.

The child runs in its own process group: Ctrl-C here, or the search's deadline passing, stops
it and whatever it started (SIGTERM, 10 s to go, then SIGKILL) before KeyboardInterrupt /
BudgetExpired reaches the race.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.studies.runner import suite_command
from bench.suite_process import STOP_GRACE_S, start_suite, stop_process_group
from bench.tune.candidates import Measurement
from bench.tune.errors import BudgetExpired, TuneError

# bench/interleave.py's SET_SUFFIX (a test keeps them equal): that module brings torch with it.
SET_SUFFIX = "/set"

PROGRESS_PREFIX = "[diffbench] "  # bench/progress.py's lines
INTERLEAVE_FLAGS = {"resident": "--interleave", "reload": "--interleave-reload"}
LOG_TAIL_LINES = 3  # of the suite's output, in the error of a run that saved nothing


# The suite refused its options: the plugin exits 2 on a bad suite option, pytest 4 on a usage error.
EXIT_BAD_OPTIONS = (2, 4)


def interleaved_units(rounds: int, interleave: str, warmup: int) -> int:
    """One variant's work in an interleaved run (bench/interleave.py), a load counted as one
    generation. Resident: one load, the first call, the warm-up, then the rounds. Reloaded: a load
    per round; the first call shares round 1's load, and every later round follows a re-warm."""
    if interleave == "reload":
        return rounds + 1 + (rounds - 1) + rounds
    return 1 + 1 + warmup + rounds


@dataclass
class SuiteTimingSource:
    """`suite_options`: the model, weights, workload, profile and quality options as the user gave
    them to tune (they go first; the options this source sets come after them and win)."""

    suite_options: list[str]
    storage: Path  # where the saved runs go (and, when quiet without `log`, their output)
    baseline: str = "fp32"
    interleave: str = "resident"  # or "reload": each variant reloaded before its round
    timeout_s: float | None = None  # per benchmark (the suite's --timeout)
    # Each of the suite's progress lines ("[diffbench] bf16-256x256-...: round 1 of 2 (8.1 s)"), as
    # it is printed: the search's live line within a stage.
    on_progress: Callable[[str], None] | None = None
    warmup: int = 1
    deadline: float | None = None  # a time.monotonic() value; past it the run is stopped
    quiet: bool = True  # the suite's output to a log file instead of the terminal
    log: Path | None = None  # that file (default: STORAGE/tune-LABEL.log); appended to

    def measure(self, recipes: Sequence[str], rounds: int, label: str) -> dict[str, Measurement]:
        """Every recipe and the baseline timed in one interleaved run of `rounds` rounds."""
        if self.interleave not in INTERLEAVE_FLAGS:
            accepted = ", ".join(INTERLEAVE_FLAGS)
            raise TuneError(f"interleave {self.interleave!r} is not one of {accepted}")
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise BudgetExpired(f"the budget ran out before the {label} run started")
        variants = self.variants(recipes)
        name = run_name(label)
        self.storage.mkdir(parents=True, exist_ok=True)
        before = set(self.storage.rglob(f"*_{name}.json"))
        log = self._log_path(name)
        log_start = log.stat().st_size if log is not None and log.exists() else 0
        returncode = self._run(suite_command(self.options(variants, rounds), self.storage, name), log, label)
        saved = set(self.storage.rglob(f"*_{name}.json")) - before
        if not saved and returncode in EXIT_BAD_OPTIONS:
            raise TuneError(
                f"the suite run {name!r} saved no results (pytest exit status {returncode})"
                + _log_tail(log, log_start)
            )
        if not saved:
            # The run died (the kernel's OOM killer, a crash in a library): every variant of it
            # is a failed row with the reason, and the search goes on without them.
            reason = f"the suite run {name!r} ended without saving (exit status {returncode})" + _log_tail(
                log, log_start
            )
            return {recipe: Measurement(status="error", reason=reason) for recipe in variants}
        newest = max(saved, key=lambda path: (path.stat().st_mtime, path.name))
        return read_measurements(newest, variants, self.baseline)

    def work_units(self, recipes: Sequence[str], rounds: int) -> float:
        return len(self.variants(recipes)) * interleaved_units(rounds, self.interleave, self.warmup)

    def variants(self, recipes: Sequence[str]) -> list[str]:
        """What one run times: the baseline first, then each other recipe once."""
        return [self.baseline, *dict.fromkeys(r for r in recipes if r != self.baseline)]

    def options(self, variants: Sequence[str], rounds: int) -> list[str]:
        """The suite options of one interleaved run of `variants` (the fleet's tasks run them too)."""
        # Recipes hold commas only inside parentheses (`prune(0.3,round_to=4)`), and --variants
        # splits on top-level commas only (bench/options/model.py), so joining is unambiguous.
        options = [
            *self.suite_options,
            f"--variants={','.join(variants)}",
            INTERLEAVE_FLAGS[self.interleave],
            f"--rounds={rounds}",
            f"--warmup={self.warmup}",
            "--benchmark-save-data",  # per-round times: the pairs of the speed-ups
        ]
        if self.timeout_s is not None:
            options.append(f"--timeout={self.timeout_s:g}")
        return options

    def _log_path(self, name: str) -> Path | None:
        if not self.quiet:
            return None
        return self.log if self.log is not None else self.storage / f"{name}.log"

    def _run(self, command: list[str], log: Path | None, label: str) -> int:
        # Not quiet (-q): the suite prints a line per phase of each variant, which goes to the log
        # and, through on_progress, to the search's live line.
        command = [part for part in command if part != "-q"]
        output: IO[str] | None = None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            output = log.open("a")
        try:
            process = start_suite(command)
            relay = threading.Thread(target=self._relay, args=(process, output), daemon=True)
            relay.start()
            try:
                return self._wait(process, label)
            except BaseException:  # BudgetExpired, KeyboardInterrupt: the child must not outlive us
                stop_process_group(process)
                raise
            finally:
                relay.join(timeout=STOP_GRACE_S)
        finally:
            if output is not None:
                output.close()

    def _relay(self, process: subprocess.Popen[str], output: IO[str] | None) -> None:
        """The child's output line by line: to the log (or our own stdout when not quiet), and its
        progress lines to on_progress."""
        assert process.stdout is not None
        for line in process.stdout:
            if output is not None:
                output.write(line)
                output.flush()
            else:
                sys.stdout.write(line)
            if self.on_progress is not None and line.startswith(PROGRESS_PREFIX):
                self.on_progress(line.strip())

    def _wait(self, process: subprocess.Popen[str], label: str) -> int:
        if self.deadline is None:
            return process.wait()
        try:
            return process.wait(timeout=max(self.deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            raise BudgetExpired(f"the budget ran out during the {label} run; it was stopped") from None


def run_name(label: str) -> str:
    """The saved run's name of the stage `label` (`round 1` -> `tune-round-1`)."""
    return f"tune-{_safe_label(label)}"


def _safe_label(label: str) -> str:
    """A label fit for a saved run's file name (`round 1` -> `round-1`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-") or "run"


def _log_tail(log: Path | None, start: int) -> str:
    """`: LAST | LINES (log: PATH)` of this run's part of the log, on one line."""
    if log is None or not log.exists():
        return "; its output is above"
    with log.open(errors="replace") as handle:
        handle.seek(start)
        lines = [line.strip() for line in handle.read().splitlines() if line.strip()]
    tail = " | ".join(lines[-LOG_TAIL_LINES:])
    return f": {tail} (log: {log})" if tail else f" (log: {log})"


# -- the saved run, read back ------------------------------------------------------------------


def read_measurements(path: Path, variants: Sequence[str], baseline: str) -> dict[str, Measurement]:
    """One Measurement per variant (the baseline's included) from a saved interleaved run."""
    rows = _rows(path)
    workloads = sorted({str(row["extra_info"].get("workload")) for row in rows.values()})
    if len(workloads) > 1:
        raise TuneError(
            f"the tune run {str(path)!r} timed {len(workloads)} workloads ({', '.join(workloads)}); "
            "tune times one: give one resolution, step count, batch, prompt and seed"
        )
    base = rows.get(baseline)
    base_data = _round_times(base) if base is not None and _status(base) == "ok" else None
    base_fid = None if base is None else base["extra_info"].get("fid")
    unpaired = _unpaired_reason(base, baseline)
    measurements: dict[str, Measurement] = {}
    for variant in variants:
        row = rows.get(variant)
        if row is None:
            measurements[variant] = Measurement(
                status="error", reason=f"the suite run saved no row for {variant}", run=str(path)
            )
        elif variant != baseline and _status(row) == "ok" and base_data is None:
            measurements[variant] = Measurement(status="error", reason=unpaired, run=str(path))
        else:
            pairs = base_data if variant != baseline else None
            measurements[variant] = _measurement(row, pairs, base_fid, path)
    return measurements


def _rows(path: Path) -> dict[str, dict[str, Any]]:
    """Variant -> {"extra_info", "stats"} for every row: timed ones (`benchmarks`) and failure
    rows (`diffbench.rows`, no stats)."""
    try:
        document = json.loads(path.read_text())
        entries = [*document.get("benchmarks", []), *document.get("diffbench", {}).get("rows", [])]
        rows = {
            str(entry["extra_info"]["variant"]): {
                "extra_info": entry["extra_info"],
                "stats": entry.get("stats") or {},
            }
            for entry in entries
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise TuneError(
            f"the tune run {str(path)!r} cannot be read: {type(error).__name__}: {error}"
        ) from None
    return rows


def _status(row: Mapping[str, Any]) -> str:
    return str(row["extra_info"].get("status") or "error")


def _round_times(row: Mapping[str, Any]) -> list[float]:
    """The timed rounds in the order they ran (pytest-benchmark's `stats.data`, saved with
    --benchmark-save-data); round k of each variant of an interleaved run ran side by side."""
    return [float(seconds) for seconds in row["stats"].get("data") or []]


def _unpaired_reason(base: Mapping[str, Any] | None, baseline: str) -> str:
    if base is None:
        return f"no paired rounds: the run has no {baseline} row to compare against"
    info = base["extra_info"]
    why = f"{info.get('status')}: {info.get('reason') or 'no reason given'}"
    return f"no paired rounds: the baseline {baseline} did not run in this run ({why})"


def _measurement(
    row: Mapping[str, Any], base_data: list[float] | None, base_fid: float | None, path: Path
) -> Measurement:
    """`base_data` None: this row is the baseline (its speed-ups are 1.0 by definition)."""
    info, stats = row["extra_info"], row["stats"]
    status = _status(row)
    data = _round_times(row) if status == "ok" else []
    if base_data is None:
        speedups = tuple(1.0 for _ in data)
    else:
        speedups = tuple(base / own for base, own in zip(base_data, data, strict=False) if own > 0)
    return Measurement(
        status=status,
        reason=str(info.get("reason") or ""),
        rounds=len(data),
        median_s=stats.get("median") if status == "ok" else None,
        speedups=speedups,
        step_median_ms=info.get("step_median_ms"),
        psnr_db=info.get("psnr_vs_baseline"),
        fid=info.get("fid"),
        baseline_fid=base_fid,
        peak_ram_mib=info.get("peak_ram_mib"),
        peak_vram_mib=_peak_vram(info),
        peak_is_set=_peak_is_set(info),
        fits=_fits(info),
        build_s=info.get("build_s"),
        first_build_s=info.get("first_build_s"),
        cache_hit=info.get("cache_hit"),
        run=str(path),
    )


def _peak_is_set(info: Mapping[str, Any]) -> bool | None:
    source = info.get("ram_source")
    return source.endswith(SET_SUFFIX) if isinstance(source, str) else None


def _peak_vram(info: Mapping[str, Any]) -> float | None:
    """The allocator's peak (the report's `peak_vram_mib`), or NVML's where the row says the
    allocator cannot see the memory (ONNX Runtime's arena: `vram_source` nvml-device-delta)."""
    if info.get("vram_source") == "nvml-device-delta":
        return info.get("peak_vram_nvml_mib")
    return info.get("peak_vram_allocated_mib")


def _fits(info: Mapping[str, Any]) -> bool | None:
    """The row's fit on its own profile (`profile`: --profile, or the detected class):
    `fits_profiles[profile]` where recorded, else the row's `fits`."""
    by_profile = info.get("fits_profiles") or {}
    profile = info.get("profile")
    if profile in by_profile:
        return by_profile[profile]
    return info.get("fits")
