"""The session's work: one model, its variants built one at a time, baseline images for PSNR,
and the rows of variants that could not be timed.

The Suite measures; what a row that cannot be timed becomes (out of memory, offload, timeout,
error) is decided by bench/runner.py. With `--interleave` the rounds of a workload's variants are
timed together, in alternation, by bench/interleave.py; each case's run() then replays its own."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from bench import progress
from bench.collectors import FinishedRun, collect
from bench.generate import generate
from bench.instruments.memory import RssSampler
from bench.instruments.quality import has_non_finite, psnr, ssim
from bench.interleave import Clock, InterleavedSession, LaneResult, replay
from bench.measure import Measurement, OutOfMemory, measure, variant_fields  # the last two: shared
from bench.profiles.offload import is_oom, measure_offloaded, oom_fields
from bench.profiles.rows import refuse_unsupported, row_fields
from bench.schedulers import set_scheduler
from bench.source_model import SourceModel, return_freed_memory
from bench.suite_config import SuiteConfig
from bench.warmups import warmups_for
from bench.workload import Workload
from models import LoadedModel, load_model
from optimize import BASELINE, Recipe, Variant, VariantCache, build_variant, parse_recipe
from reports.record import SCHEMA


@dataclass(frozen=True)
class Case:
    """One row of the run: a recipe, parsed once where the cases are made, on one workload."""

    recipe: Recipe
    workload: Workload

    @classmethod
    def of(cls, variant: str, workload: Workload) -> Case:
        """Raises RecipeError for recipe text that does not parse."""
        return cls(parse_recipe(variant), workload)

    @property
    def variant(self) -> str:
        """The recipe's canonical text: the row's `variant` and the start of its test id."""
        return self.recipe.canonical

    @property
    def test_id(self) -> str:
        return f"{self.variant}-{self.workload.test_id}"


class ContendedMachine(UserWarning):
    """Other processes took a large share of the CPU while a variant was timed."""


class Suite:
    def __init__(self, config: SuiteConfig) -> None:
        self.config = config
        self.cache = VariantCache(config.cache_root)
        self.failure_rows: list[dict[str, Any]] = []
        self._source = SourceModel(self._load_source)
        self._variant: Variant | None = None
        self._baseline = parse_recipe(BASELINE)
        self._cases: list[Case] | None = None
        self._references: dict[str, np.ndarray | None] = {}
        self._warned_contended = False
        # --interleave: the workloads whose session ran, and each case's result by test id.
        self._interleaved_workloads: set[str] = set()
        self._interleaved: dict[str, LaneResult] = {}

    def cases(self) -> list[Case]:
        """Every variant x workload; each recipe parsed once per session (the parametrisation
        and each --interleave session ask for them)."""
        if self._cases is None:
            recipes = [parse_recipe(variant) for variant in self.config.variants]
            self._cases = [Case(recipe, workload) for recipe in recipes for workload in self.config.workloads]
        return list(self._cases)

    @property
    def model(self) -> LoadedModel:
        return self._source.get()

    def _load_source(self) -> LoadedModel:
        # Here, not at the top: this is the only place the suite applies adapters.
        from bench.checkpoint_options import adapters_of
        from models.adapters import apply_adapters

        loaded = load_model(
            self.config.model, self.config.weights, seed=0, allow_pickle=self.config.allow_pickle
        )
        # --unet-checkpoint / --lora / --textual-inversion, with the fingerprint extended by their hashes.
        return apply_adapters(loaded, adapters_of(self.config), self.config.allow_pickle)

    def row(self, case: Case) -> dict[str, Any]:
        """The extra_info skeleton: context first, every measured field null until measured."""
        source = self._source.view()
        return {
            "schema": SCHEMA,
            "model": source.name,
            "weights": source.weights,
            "variant": case.variant,
            "baseline_variant": BASELINE,
            "device": str(self.config.device),
            **row_fields(self.config),  # profile, device_name, emulated, emulation, offload
            "dtype": str(case.recipe.dtype).removeprefix("torch."),
            "workload": case.workload.label,
            "workload_detail": case.workload.detail(),
            "status": None,
            "reason": "",
            "rounds": None,
            "first_call_s": None,
            "build_s": None,
            "first_build_s": None,
            "cache_hit": None,
            "build_peak_ram_mib": None,
            "text_encoder_s": None,
            "step_median_ms": None,
            "step_iqr_ms": None,
            "vae_decode_s": None,
            "peak_vram_allocated_mib": None,
            "peak_vram_reserved_mib": None,
            "peak_vram_nvml_mib": None,
            "peak_vram_nvml_basis": None,
            "gpu_util_pct": None,
            "peak_ram_mib": None,
            "ram_start_mib": None,
            "ram_source": None,
            "other_cpu_pct": None,
            "load_avg_1m": None,
            "torch_threads": None,
            "contended": None,
            "energy_j": None,
            "images_per_kwh": None,
            "energy_counters": None,
            "energy_reason": None,
            "params": None,
            "size_mb": None,
            "psnr_vs_baseline": None,
            "ssim_vs_baseline": None,
            "fid": None,
            "macs_g": None,
            "interleaved": False,  # true once bench/interleave.py timed the row
        }

    # -- variants ------------------------------------------------------------------------
    def release_variant(self) -> None:
        self._variant = None
        return_freed_memory()
        if self.config.device.type == "cuda":
            torch.cuda.empty_cache()

    def variant(self, recipe: Recipe, place_on_device: bool = True) -> Variant:
        """One variant in memory at a time, so RAM and VRAM peaks belong to the variant measured."""
        name = recipe.canonical
        if self._variant is not None and self._variant.name == name:
            return self._variant
        self.release_variant()
        self._variant = self.build(recipe, place_on_device)
        return self._variant

    def build(self, recipe: Recipe, place_on_device: bool = True) -> Variant:
        """The variant built, or loaded from the variant cache; the caller keeps it (or not)."""
        name = recipe.canonical
        progress.phase(f"building {name} (or loading it from the variant cache)")
        variant = build_variant(
            self.model,
            recipe,
            self.config.device,
            self.cache,
            place_on_device=place_on_device,
            peak_meter=RssSampler,
            warmups=warmups_for(self.config.workloads, self.config.device),
        )
        progress.phase(f"{name} {'loaded from the variant cache' if variant.cache_hit else 'built'}")
        return variant

    def park_source(self) -> None:
        """The source model out of memory while variants run (loaded again by the next build)."""
        self._source.park()

    def reference(self, workload: Workload) -> np.ndarray | None:
        """The baseline's image for this workload's seed, generated once per session."""
        if workload.label not in self._references:
            baseline = self.variant(self._baseline)
            set_scheduler(baseline.pipeline, workload.scheduler)
            baseline.pipeline.set_progress_bar_config(disable=True)
            progress.phase(f"{BASELINE} image of this seed, for PSNR")
            self._references[workload.label] = generate(baseline.pipeline, workload, self.config.device)
        return self._references.get(workload.label)

    # -- one benchmark -------------------------------------------------------------------
    def run(self, case: Case, benchmark: Any, info: dict[str, Any]) -> None:
        """Measures the case on the device and fills `info`. Raises PassUnsupported, or OutOfMemory
        (with `info` holding the peak it reached and the reason) when the variant did not fit; the
        failed variant stays loaded until release_variant()."""
        progress.begin(case.test_id)
        if self.config.interleave is not None:
            self.interleave(case.workload)  # already run by bench/runner.py, outside the case's time limit
            result = self._interleaved.get(case.test_id)
            if result is None:  # the session itself stopped (its error is the first case's)
                raise RuntimeError(f"the interleaved session of {case.workload.label} did not finish")
            replay(result, benchmark, info)
            return
        refuse_unsupported(self.config, info["dtype"])  # a dtype the emulated card cannot run
        if case.variant != BASELINE:
            self.prepare_reference(case.workload)
        result = self._measure_in_place(case, benchmark, info)
        if result is None:
            # Raised here, outside the handler of the device's error: that error's traceback holds
            # the failed variant's tensors, and this exception must not carry it as its context.
            raise OutOfMemory(info["reason"])
        self.finish(case, result, info)

    def interleave(self, workload: Workload, timer: Clock = time.perf_counter) -> None:
        """`--interleave`: the rounds of every variant of `workload`, in alternation, once per session
        (at its first case); each case's run() then reports its own. `timer` is the clock the
        rounds are read with (pytest-benchmark's `--benchmark-timer`)."""
        if workload.label in self._interleaved_workloads:
            return
        self._interleaved_workloads.add(workload.label)
        self.release_variant()
        cases = [case for case in self.cases() if case.workload == workload]
        results = InterleavedSession(self, cases, timer).run()
        self._interleaved.update((case.test_id, result) for case, result in zip(cases, results, strict=True))

    def interleaved_rounds(self, case: Case) -> list[float]:
        """The seconds of each round `--interleave` recorded for the case, in the order they ran."""
        return list(self._interleaved[case.test_id].durations)

    def run_offloaded(self, case: Case, benchmark: Any, info: dict[str, Any]) -> None:
        """`--offload auto`'s retry of a case that ran out of memory in run(), its variant released:
        fills `info` like run(). Raises OffloadFailed when no offload mode made it fit."""
        info["interleaved"] = False  # the retry is timed alone, with --interleave too
        self.finish(case, self._measure_offloaded(case, benchmark, info), info)

    def finish(
        self, case: Case, result: Measurement, info: dict[str, Any], variant: Variant | None = None
    ) -> None:
        """The measured row: PSNR and SSIM against the baseline, ok or nan, then the collectors' fields.
        `variant`: the one measured (by default the suite's current one)."""
        config = self.config
        variant = variant or self._variant
        assert variant is not None
        if case.variant == BASELINE:
            self._references.setdefault(case.workload.label, result.images)
        info.update(result.row_fields())
        info.update(rounds=config.rounds)
        reference = self._references.get(case.workload.label)
        if case.variant != BASELINE and reference is not None:
            value = psnr(result.images, reference)
            info["psnr_vs_baseline"] = None if math.isnan(value) else value
            similarity = ssim(result.images, reference)
            info["ssim_vs_baseline"] = None if math.isnan(similarity) else similarity
        if has_non_finite(result.images):
            info.update(status="nan", reason="the generated image has NaN or inf pixels")
        else:
            info.update(status="ok")
        self._warn_if_contended(info)
        # The view, not self.model: reading the source's name must not load its weights back.
        source = cast(LoadedModel, self._source.view())
        progress.phase("rounds done; the figures after them (PSNR, quality, profile fit)")
        info.update(collect(FinishedRun(config, source, variant, case.workload, result, dict(info))))

    def keep_reference(self, workload: Workload, images: np.ndarray) -> None:
        """The baseline's own first-call images as the reference, when it ran first (no extra generation)."""
        self._references.setdefault(workload.label, images)

    def prepare_reference(self, workload: Workload) -> None:
        """The baseline image, made before the variant is built: the two must not share memory."""
        if self._reference_out_of_memory(workload):
            self.release_variant()  # the baseline does not fit here: no PSNR, the variant still runs
            self._references[workload.label] = None

    def _reference_out_of_memory(self, workload: Workload) -> bool:
        try:
            self.reference(workload)
        except Exception as error:
            if not is_oom(error):
                raise
            return True
        return False

    def _measure_in_place(self, case: Case, benchmark: Any, info: dict[str, Any]) -> Measurement | None:
        """The variant built (or loaded) and measured on the device; None when it ran out of memory."""
        try:
            variant = self.variant(case.recipe)
            info.update(variant_fields(variant))
            # The source model is not resident while the variant runs: peak RAM is the variant's.
            self._source.park()
            return measure(
                variant.pipeline,
                case.workload,
                self.config.device,
                benchmark,
                self.config.rounds,
                self.config.warmup,
                label=case.variant,
            )
        except Exception as error:
            if not is_oom(error):
                raise
            info.update(oom_fields(self.config, error))  # the peak it reached
        return None

    def _measure_offloaded(self, case: Case, benchmark: Any, info: dict[str, Any]) -> Measurement:
        def build() -> Variant:
            self.release_variant()
            self._variant = self.variant(case.recipe, place_on_device=False)
            self._source.park()
            return self._variant

        variant, result = measure_offloaded(build, self.config, case.variant, case.workload, benchmark, info)
        self._variant = variant
        return result

    def _warn_if_contended(self, info: dict[str, Any]) -> None:
        if info.get("contended") and not self._warned_contended:
            self._warned_contended = True
            warnings.warn(
                ContendedMachine(
                    f"other processes took {info['other_cpu_pct']:.0f}% of this machine's CPU while "
                    f"{info['variant']} was timed (load {info['load_avg_1m']:.1f}, "
                    f"{info['torch_threads']} torch threads): its latency is not comparable with a quiet "
                    "run; the row says contended=true (warned once per session)"
                ),
                stacklevel=1,
            )

    def record_failure(
        self, item_name: str, fullname: str, info: dict[str, Any], status: str, reason: str
    ) -> None:
        info.update(status=status, reason=reason)
        self.failure_rows.append({"name": item_name, "fullname": fullname, "extra_info": dict(info)})
