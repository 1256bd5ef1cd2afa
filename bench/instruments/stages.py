"""Per-stage times of one generation: text encoder, each denoising step, VAE decode, GAN generator.

Which stages a pipeline runs is its model family's stage plan (models/families/): a stage
the plan does not name, or whose component the pipeline lacks (no text encoder or VAE in an
unconditional DDPM, no denoising steps in a VAE or a GAN), is reported as None, not as zero
seconds.

Hooks are installed for the duration of a `with` block and removed after, so the
pipeline is left as it was. Steps are timed from diffusers' `callback_on_step_end`:
step i lasts from the end of step i-1 (or the denoiser's first call) to the end of step i.
The plan's timed methods (the VAE's `decode`, a GAN's `GanPipeline.run_generator`) are
timed by wrapping the method for the block: a TorchScript generator takes no forward hooks.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers import DiffusionPipeline

from bench.instruments.clock import synced_now
from models.families import family_of
from models.families.base import TimedMethod

STAGE_FIELDS = ("text_encoder_s", "step_median_ms", "step_iqr_ms", "vae_decode_s", "generator_s")


@dataclass
class GenerationStages:
    text_encoder_s: float = 0.0
    step_s: list[float] = field(default_factory=list)
    vae_decode_s: float = 0.0
    generator_s: float = 0.0


class StageRecorder:
    def __init__(self, pipeline: DiffusionPipeline, device: torch.device) -> None:
        self.pipeline = pipeline
        self.device = device
        self.plan = family_of(pipeline).stage_plan
        self.generations: list[GenerationStages] = []
        self._handles: list[Any] = []
        self._text_started = 0.0
        self._last_mark: float | None = None
        # (object, method name) whose instance attribute is a timed wrapper while the block runs.
        self._wrapped: list[tuple[Any, str]] = []

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> StageRecorder:
        for name in self.plan.text_encoders:
            encoder = getattr(self.pipeline, name, None)
            if isinstance(encoder, torch.nn.Module):
                self._handles.append(encoder.register_forward_pre_hook(self._text_pre))
                self._handles.append(encoder.register_forward_hook(self._text_post))
        denoiser = getattr(self.pipeline, self.plan.denoiser, None) if self.plan.denoiser else None
        if isinstance(denoiser, torch.nn.Module):
            self._handles.append(denoiser.register_forward_pre_hook(self._denoiser_pre))
        for timed in self.plan.timed_methods:
            owner = self._owner(timed)
            if owner is not None:
                self._wrap(owner, timed.method, f"{timed.stage}_s")
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for owner, method in self._wrapped:
            # Drop the instance attribute so the class method is visible again.
            delattr(owner, method)
        self._wrapped.clear()

    def _owner(self, timed: TimedMethod) -> Any:
        """The object whose method is timed: the pipeline itself, or one of its components."""
        return self.pipeline if timed.component is None else getattr(self.pipeline, timed.component, None)

    def _wrap(self, owner: Any, method: str, stage: str) -> None:
        original: Callable[..., Any] = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = synced_now(self.device)
            result = original(*args, **kwargs)
            current = self._current
            setattr(current, stage, getattr(current, stage) + synced_now(self.device) - started)
            return result

        # object.__setattr__: diffusers' pipelines and models route attribute writes through their config.
        object.__setattr__(owner, method, timed)
        self._wrapped.append((owner, method))

    def start_generation(self) -> None:
        self.generations.append(GenerationStages())
        self._last_mark = None

    def clear(self) -> None:
        self.generations.clear()

    # -- hooks -----------------------------------------------------------------------
    @property
    def _current(self) -> GenerationStages:
        if not self.generations:
            self.start_generation()
        return self.generations[-1]

    def _text_pre(self, module: torch.nn.Module, args: Any) -> None:
        self._text_started = synced_now(self.device)

    def _text_post(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        self._current.text_encoder_s += synced_now(self.device) - self._text_started

    def _denoiser_pre(self, module: torch.nn.Module, args: Any) -> None:
        if self._last_mark is None:
            self._last_mark = synced_now(self.device)

    def step_callback(
        self, pipeline: DiffusionPipeline, step: int, timestep: Any, callback_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        now = synced_now(self.device)
        if self._last_mark is not None:
            self._current.step_s.append(now - self._last_mark)
        self._last_mark = now
        return callback_kwargs

    # -- summary ---------------------------------------------------------------------
    def summary(self) -> dict[str, float | None]:
        if not self.generations:
            return dict.fromkeys(STAGE_FIELDS)
        steps = [s for g in self.generations for s in g.step_s]
        has_text_encoder = any(
            getattr(self.pipeline, name, None) is not None for name in self.plan.text_encoders
        )
        timed = {f"{t.stage}_s" for t in self.plan.timed_methods if self._owner(t) is not None}
        return {
            "text_encoder_s": self._median("text_encoder_s") if has_text_encoder else None,
            "step_median_ms": statistics.median(steps) * 1e3 if steps else None,
            "step_iqr_ms": _iqr(steps) * 1e3 if len(steps) > 1 else None,
            "vae_decode_s": self._median("vae_decode_s") if "vae_decode_s" in timed else None,
            "generator_s": self._median("generator_s") if "generator_s" in timed else None,
        }

    def _median(self, stage: str) -> float:
        return statistics.median(getattr(g, stage) for g in self.generations)


def _iqr(values: list[float]) -> float:
    quartiles = statistics.quantiles(values, n=4, method="inclusive")
    return quartiles[2] - quartiles[0]
