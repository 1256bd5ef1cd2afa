"""`python -m bench.studies checkpoints DIR`: FID/KID (and IS, where available) per training checkpoint.

    python -m bench.studies checkpoints runs/ihc --model tiny-ddpm-ihc --reference ihc-heldout \\
        --fid-samples 64 --fid-dims 64 --scheduler ddim --steps 20 --output-dir OUT

DIR holds the checkpoints, one each:

- a folder with a `unet/` folder (what `python -m models.train --save-every K --checkpoint-dir DIR`
  writes: `DIR/step-000050/unet/...`) or a `unet/`-style folder itself: applied with
  `--unet-checkpoint`;
- a `.safetensors` file: a LoRA (`--lora`; a Stable Diffusion family model such as `tiny-sd`),
  or with `--kind unet` a UNet state dict.

For each checkpoint the suite runs once (`pytest bench/ --variants fp32 --quality fid ...`,
its own subprocess) into OUT/runs/, then `python -m reports checkpoints` writes
OUT/checkpoints.md and OUT/checkpoints.png from exactly those runs. A checkpoint's step is the
last number in its name (`step-000300` -> 300), else its order.

`--reference baseline` means the model *without* the checkpoint: the study samples it once
(the same workload and seeds) into OUT/base-samples/ and measures every checkpoint against
those images (the suite's own `baseline` would be the checkpoint itself, an FID of 0).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.options import add_study_arguments, suite_arguments
from bench.studies.runner import StudyError, run_report, run_suite

UNET = "unet"
LORA = "lora"
KINDS = ("auto", UNET, LORA)
UNET_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json")
BASELINE = "baseline"
# The suite options this study declares and passes on (bench/options: same names, help and, but
# for the model, the sample count and the rounds, defaults), passed explicitly so that the base
# samples match the runs.
SUITE_OPTIONS = (
    "--model",
    "--weights",
    "--fid-samples",
    "--fid-dims",
    "--steps",
    "--scheduler",
    "--resolution",
    "--prompt",
    "--guidance",
    "--seed",
    "--rounds",
    "--device",
    "--cache-dir",
)


@dataclass(frozen=True)
class Checkpoint:
    name: str
    path: Path
    kind: str  # unet or lora

    @property
    def step(self) -> int | None:
        digits = re.findall(r"\d+", self.name)
        return int(digits[-1]) if digits else None

    def suite_options(self) -> list[str]:
        flag = "--unet-checkpoint" if self.kind == UNET else "--lora"
        return [flag, str(self.path)]


def _is_unet_folder(folder: Path) -> bool:
    return any((folder / name).is_file() for name in UNET_WEIGHTS)


def find_checkpoints(folder: Path, kind: str = "auto") -> list[Checkpoint]:
    """The checkpoints in `folder`, by step (then name); StudyError when there are none."""
    if not folder.is_dir():
        raise StudyError(f"{folder} is not a folder of checkpoints")
    found: list[Checkpoint] = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue  # a half-written checkpoint (models.train stages into .step-...-XXXX)
        if child.is_dir() and kind in ("auto", UNET):
            if (child / UNET).is_dir() and _is_unet_folder(child / UNET):
                found.append(Checkpoint(child.name, child / UNET, UNET))
            elif _is_unet_folder(child):
                found.append(Checkpoint(child.name, child, UNET))
        elif child.is_file() and child.suffix == ".safetensors":
            found.append(Checkpoint(child.stem, child, UNET if kind == UNET else LORA))
    if not found:
        raise StudyError(
            f"no checkpoints in {folder}: expected folders holding unet/ (python -m models.train "
            "--save-every K --checkpoint-dir DIR) or .safetensors files (LoRA, or --kind unet)"
        )
    kinds = {c.kind for c in found}
    if len(kinds) > 1:
        raise StudyError(
            f"{folder} mixes UNet checkpoint folders and LoRA files; give --kind unet or --kind lora"
        )
    return sorted(found, key=lambda c: (c.step is None, c.step or 0, c.name))


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "checkpoint"


def write_base_samples(args: argparse.Namespace, folder: Path) -> Path:
    """N samples of the model without any checkpoint, as PNG files, written atomically."""
    # Imported here: only this reference needs torch in the study's own process.
    from PIL import Image

    from bench.devices import resolve_device
    from bench.instruments.fid import sample_images
    from bench.model_defaults import default_resolution, default_weights
    from bench.schedulers import set_scheduler
    from bench.workload import make_workload
    from models import load_model

    workload = make_workload(
        default_resolution(args.model, args.resolution),
        args.steps,
        "1",
        args.guidance,
        args.scheduler,
        args.prompt,
        args.seed,
    )
    model = load_model(args.model, default_weights(args.model, args.weights), seed=0)
    set_scheduler(model.pipeline, workload.scheduler)
    device = resolve_device(args.device)
    model.pipeline.to(device)
    images = sample_images(model.pipeline, workload, device, args.fid_samples, "base model")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for index, image in enumerate(images):
            Image.fromarray(image).save(staging / f"{index:05d}.png")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def run(args: argparse.Namespace) -> int:
    if args.fid_samples < 2:
        raise StudyError(f"--fid-samples {args.fid_samples}: FID needs at least 2 samples")
    checkpoints = find_checkpoints(args.checkpoints, args.kind)
    out: Path = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    reference = args.reference
    if reference is None:
        from bench.quality.options import MODEL_REFERENCES

        # The suite's own default for most models is `baseline`, which here must mean the base model.
        reference = MODEL_REFERENCES.get(args.model, BASELINE)
    if reference == BASELINE:
        print(f"[study] sampling the model without checkpoints: {args.fid_samples} images", file=sys.stderr)
        reference = str(write_base_samples(args, out / "base-samples"))
    common = [*suite_arguments(args, SUITE_OPTIONS), "--variants", "fp32", "--quality", "fid"]
    common += ["--fid-reference", reference]
    saved: list[Path] = []
    for index, checkpoint in enumerate(checkpoints, 1):
        print(
            f"[study] checkpoint {index}/{len(checkpoints)}: {checkpoint.name}", file=sys.stderr, flush=True
        )
        saved.append(
            run_suite([*common, *checkpoint.suite_options()], out / "runs", _safe_name(checkpoint.name))
        )
    return run_report(["checkpoints", *map(str, saved), "--output-dir", str(out)])


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "checkpoints",
        help="FID/KID per training checkpoint (UNet folders or LoRA files): a table and a plot vs step",
        description=(__doc__ or "").splitlines()[0],
    )
    parser.add_argument("checkpoints", type=Path, metavar="CHECKPOINT_DIR", help="folder of checkpoints")
    add_study_arguments(
        parser,
        *SUITE_OPTIONS,
        defaults={"--model": "tiny-ddpm-ihc", "--fid-samples": 64, "--fid-dims": 64, "--rounds": 3},
        changes={
            "--fid-samples": {"type": int},
            "--fid-dims": {"type": int},
            "--seed": {"type": int},
            "--rounds": {"type": int},
            "--cache-dir": {"type": Path},
        },
    )
    parser.add_argument(
        "--kind", default="auto", choices=KINDS, help="what .safetensors files are (auto: LoRA)"
    )
    parser.add_argument(
        "--reference",
        default=None,
        help="FID reference: a folder of images, a built-in set (ihc-heldout, ihc-train), or "
        "'baseline' (the model without checkpoints); default: ihc-heldout for tiny-ddpm-ihc, "
        "else baseline",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=Path("checkpoints-study"), help="default ./checkpoints-study"
    )
    parser.set_defaults(run=run)
