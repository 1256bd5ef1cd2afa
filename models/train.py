"""Train `tiny-ddpm-ihc`: a small UNet2DModel DDPM on 32x32 crops of the IHC image.

    python -m models.train --out models/weights/tiny-ddpm-ihc --steps 500 --seed 0 --threads 1
    python -m models.train --steps 300 --save-every 50 --checkpoint-dir runs/ihc   # + checkpoints

Reproducible from the seed: one torch generator draws the initial weights, another the noise
and timesteps, a numpy generator the crops and their flips/rotations; the same seed, steps and
thread count give the same weights. The output is a diffusers folder (DDPMPipeline: the EMA
UNet as safetensors + the scheduler config) plus `training.json` (seed, steps, losses, time),
written to a temporary folder and renamed into place.

With `--save-every K --checkpoint-dir DIR`, the EMA weights are also saved every K steps as
`DIR/step-000050/` (the same diffusers folder layout: `unet/` safetensors, scheduler, and a
`training.json` with the step and its loss), each written atomically, for the `checkpoints`
study: `python -m bench.studies checkpoints DIR --model tiny-ddpm-ihc`.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from tqdm import tqdm

from models.configs import Config
from models.ddpm import TINY_DDPM_IHC
from models.ihc import CROP, random_crops, train_region


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 500
    batch: int = 32
    learning_rate: float = 2e-3
    warmup_steps: int = 50
    ema_decay: float = 0.99
    seed: int = 0


def augment(crops: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The 8 flips/rotations of the square: tissue has no preferred orientation."""
    out = np.empty_like(crops)
    for index, crop in enumerate(crops):
        turned = np.rot90(crop, k=int(rng.integers(4)))
        out[index] = turned[:, ::-1] if rng.integers(2) else turned
    return out


def to_model_range(crops: np.ndarray) -> torch.Tensor:
    """uint8 NHWC -> float32 NCHW in [-1, 1], the range DDPMPipeline decodes from."""
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1.0


# Called every `save_every` steps with (step count so far, the EMA UNet, the losses so far).
CheckpointHook = Callable[[int, UNet2DModel, list[float]], None]


def train(
    settings: TrainSettings,
    components: dict[str, Config] = TINY_DDPM_IHC,
    progress: bool = True,
    save_every: int | None = None,
    on_checkpoint: CheckpointHook | None = None,
) -> tuple[DDPMPipeline, list[float]]:
    """Returns the pipeline with the EMA weights, and the loss of every step.

    Checkpoints do not change the training: the hook only reads the EMA weights.
    """
    region = train_region()
    rng = np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)
    unet = UNet2DModel(**components["unet"])
    scheduler = DDPMScheduler(**components["scheduler"])
    ema = copy.deepcopy(unet).requires_grad_(False)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=settings.learning_rate, weight_decay=0.0)
    noise_generator = torch.Generator().manual_seed(settings.seed + 1)
    alphas = scheduler.alphas_cumprod
    losses: list[float] = []
    unet.train()
    for step in tqdm(range(settings.steps), desc="training tiny-ddpm-ihc", disable=not progress):
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate * min(1.0, (step + 1) / settings.warmup_steps)
        clean = to_model_range(augment(random_crops(region, settings.batch, rng, CROP), rng))
        noise = torch.randn(clean.shape, generator=noise_generator)
        timesteps = torch.randint(0, len(alphas), (settings.batch,), generator=noise_generator)
        scale = alphas[timesteps].sqrt().view(-1, 1, 1, 1)
        noisy = scale * clean + (1 - scale**2).sqrt() * noise
        loss = torch.nn.functional.mse_loss(unet(noisy, timesteps).sample, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        # EMA weights sample far better than the last step's at this training length.
        decay = min(settings.ema_decay, (step + 1) / (step + 10))
        with torch.no_grad():
            for averaged, current in zip(ema.parameters(), unet.parameters(), strict=True):
                averaged.lerp_(current, 1 - decay)
        losses.append(loss.item())
        if save_every and on_checkpoint is not None and (step + 1) % save_every == 0:
            on_checkpoint(step + 1, ema, losses)
    ema.eval()
    return DDPMPipeline(unet=ema, scheduler=scheduler), losses


def save(pipeline: DDPMPipeline, out: Path, record: dict) -> None:
    """Write into a temporary sibling folder, then swap it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the weights are for everyone to read
    try:
        pipeline.save_pretrained(staging, safe_serialization=True)
        (staging / "training.json").write_text(json.dumps(record, indent=2) + "\n")
        if out.exists():
            retired = out.with_name(f".{out.name}-old")
            shutil.rmtree(retired, ignore_errors=True)
            out.rename(retired)
            staging.rename(out)
            shutil.rmtree(retired)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def checkpoint_folder(root: Path, step: int) -> Path:
    """`root/step-000050`: zero-padded so the folders sort in training order."""
    return root / f"step-{step:06d}"


def checkpoint_writer(root: Path, settings: TrainSettings, scheduler: DDPMScheduler) -> CheckpointHook:
    """A hook that saves the EMA UNet at that step as a diffusers folder, atomically."""

    def write(step: int, ema: UNet2DModel, losses: list[float]) -> None:
        window = losses[-min(len(losses), 10) :]
        record = {
            "model": "tiny-ddpm-ihc",
            "step": step,
            "settings": asdict(settings),
            "loss_last_10_steps": float(np.mean(window)),
        }
        save(DDPMPipeline(unet=ema, scheduler=scheduler), checkpoint_folder(root, step), record)

    return write


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="output diffusers folder (the final EMA weights)")
    parser.add_argument("--steps", type=_positive, default=TrainSettings.steps)
    parser.add_argument("--batch", type=_positive, default=TrainSettings.batch)
    parser.add_argument("--lr", type=float, default=TrainSettings.learning_rate)
    parser.add_argument("--seed", type=int, default=TrainSettings.seed)
    parser.add_argument(
        "--threads", type=_positive, default=1, help="torch threads (results depend on it; default 1)"
    )
    parser.add_argument(
        "--save-every", type=_positive, default=None, help="also save a checkpoint every K steps"
    )
    parser.add_argument(
        "--checkpoint-dir", type=Path, default=None, help="folder of the checkpoints (DIR/step-000050/...)"
    )
    args = parser.parse_args(argv)
    if args.out is None and args.save_every is None:
        parser.error("give --out DIR (the trained model), --save-every K --checkpoint-dir DIR, or both")
    if (args.save_every is None) != (args.checkpoint_dir is None):
        parser.error("--save-every K and --checkpoint-dir DIR go together")
    if args.save_every is not None and args.save_every > args.steps:
        parser.error(f"--save-every {args.save_every} is more than --steps {args.steps}: no checkpoint")
    torch.set_num_threads(args.threads)
    if not args.lr > 0:
        parser.error(f"--lr {args.lr} must be positive")
    settings = TrainSettings(steps=args.steps, batch=args.batch, learning_rate=args.lr, seed=args.seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    hook = None
    if args.save_every is not None:
        scheduler = DDPMScheduler(**TINY_DDPM_IHC["scheduler"])
        hook = checkpoint_writer(args.checkpoint_dir, settings, scheduler)
    pipeline, losses = train(settings, save_every=args.save_every, on_checkpoint=hook)
    elapsed, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    window = max(1, len(losses) // 10)
    record = {
        "model": "tiny-ddpm-ihc",
        "command": "python -m models.train " + " ".join(sys.argv[1:] if argv is None else argv),
        "settings": asdict(settings),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "train_seconds": round(elapsed, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "loss_first_10pct": float(np.mean(losses[:window])),
        "loss_last_10pct": float(np.mean(losses[-window:])),
        "data": "skimage.data.immunohistochemistry(), rows 0-383 (rows 384-511 held out for FID)",
    }
    print(f"trained {settings.steps} steps in {elapsed:.0f} s; final loss {record['loss_last_10pct']:.4f}")
    if args.out is not None:
        save(pipeline, args.out, record)
        print(f"wrote {args.out}")
    if args.checkpoint_dir is not None:
        count = settings.steps // args.save_every
        print(f"wrote {count} checkpoints under {args.checkpoint_dir} (every {args.save_every} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
