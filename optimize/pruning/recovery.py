"""Gradients for Taylor importance, and recovery by distillation from the unpruned teacher.

Both run on random batches from the target's sampler (random latents, timesteps and text
embeddings for a UNet; random latents for the decoder; random token ids for a text
encoder), so they need no data set. With real data they would be better; that is future work.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import torch
from diffusers import DDPMScheduler, DiffusionPipeline
from torch import nn
from tqdm.auto import tqdm

from optimize.pruning.targets import Inputs, PruneTarget

TAYLOR_BATCHES = 4
BATCH_SIZE = 2
LEARNING_RATE = 1e-4


def _noised(inputs: Inputs, scheduler: Any, generator: torch.Generator) -> tuple[Inputs, torch.Tensor]:
    """Treat the random sample as a clean latent and noise it to its timestep (the denoising loss)."""
    clean = inputs["sample"]
    noise = torch.randn(clean.shape, generator=generator)
    timesteps = inputs["timestep"].clamp(max=scheduler.config.num_train_timesteps - 1)
    return {**inputs, "sample": scheduler.add_noise(clean, noise, timesteps)}, noise


def _training_scheduler(pipeline: DiffusionPipeline) -> Any:
    config = getattr(getattr(pipeline, "scheduler", None), "config", None)
    if config is None:
        return DDPMScheduler()
    return DDPMScheduler.from_config(config)


def accumulate_taylor_gradients(
    target: PruneTarget, pipeline: DiffusionPipeline, seed: int, batches: int | None = None
) -> None:
    """Leave d(loss)/d(weight) in `.grad` for torch-pruning's Taylor importance.

    UNets: the denoising loss (predict the added noise). Other targets: the output's mean
    square, so a channel's score is how much it moves the output.
    """
    batches = batches or TAYLOR_BATCHES
    module = target.module
    scheduler = _training_scheduler(pipeline)
    generator = torch.Generator().manual_seed(seed)
    module.requires_grad_(True)
    module.zero_grad(set_to_none=True)
    for _ in tqdm(range(batches), desc=f"taylor gradients {target.path}", leave=False):
        inputs = target.sample_inputs(BATCH_SIZE, generator)
        if target.predicts_noise:
            noisy, noise = _noised(inputs, scheduler, generator)
            loss = nn.functional.mse_loss(target.call(module, noisy).float(), noise)
        else:
            loss = target.call(module, inputs).float().pow(2).mean()
        (loss / batches).backward()
    module.requires_grad_(False)


def clear_gradients(module: nn.Module) -> None:
    module.zero_grad(set_to_none=True)


def distill(
    student: PruneTarget, teacher: nn.Module, steps: int, seed: int, learning_rate: float = LEARNING_RATE
) -> dict[str, Any]:
    """`steps` of AdamW on MSE(student(x), teacher(x)) over random batches; a summary of the loss curve."""
    generator = torch.Generator().manual_seed(seed)
    module = student.module
    module.requires_grad_(True)
    optimizer = torch.optim.AdamW(module.parameters(), lr=learning_rate, weight_decay=0.0)
    losses: list[float] = []
    progress = tqdm(range(steps), desc=f"recover {student.path}", leave=False)
    for _ in progress:
        inputs = student.sample_inputs(BATCH_SIZE, generator)
        with torch.no_grad():
            wanted = student.call(teacher, inputs).float()
        loss = nn.functional.mse_loss(student.call(module, inputs).float(), wanted)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        progress.set_postfix(loss=f"{losses[-1]:.4g}")
    module.requires_grad_(False)
    module.zero_grad(set_to_none=True)
    return loss_summary(losses)


def loss_summary(losses: list[float]) -> dict[str, Any]:
    """First and last tenth of the curve (single steps are noisy), and a few points along it."""
    tenth = max(1, len(losses) // 10)
    points = sorted({round(i * (len(losses) - 1) / 9) for i in range(10)}) if losses else []
    return {
        "steps": len(losses),
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "loss_mean_first_tenth": statistics.fmean(losses[:tenth]) if losses else None,
        "loss_mean_last_tenth": statistics.fmean(losses[-tenth:]) if losses else None,
        "loss_min": min(losses) if losses else None,
        "curve": {str(i): losses[i] for i in points},
        "finite": all(math.isfinite(value) for value in losses),
    }
