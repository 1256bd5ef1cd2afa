"""tiny-ddpm-ihc: its data split, reproducible training, the registry entry, unconditional generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDPMPipeline

from bench.generate import generate, generate_seeds
from bench.instruments.stages import StageRecorder
from bench.workload import Workload
from models import load_model
from models.families import family_of
from models.ihc import CROP, TRAIN_ROWS, heldout_crops, ihc_image
from models.registry import get_spec
from models.train import TrainSettings, train

CPU = torch.device("cpu")
TOY_UNET = {
    "sample_size": 32,
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D"],
    "up_block_types": ["AttnUpBlock2D", "UpBlock2D"],
    "block_out_channels": [8, 16],
    "layers_per_block": 1,
    "norm_num_groups": 4,
    "attention_head_dim": 8,
}


def test_heldout_crops_come_only_from_the_heldout_rows():
    crops = heldout_crops()
    assert crops.shape == (217, CROP, CROP, 3) and crops.dtype == np.uint8
    image = ihc_image()
    np.testing.assert_array_equal(crops[0], image[TRAIN_ROWS : TRAIN_ROWS + CROP, :CROP])
    np.testing.assert_array_equal(crops[-1], image[-CROP:, -CROP:])


def _toy_training(seed: int) -> dict[str, torch.Tensor]:
    components = {"unet": TOY_UNET, "scheduler": get_spec("tiny-ddpm-ihc").components["scheduler"]}
    pipeline, losses = train(TrainSettings(steps=2, batch=2, seed=seed), components, progress=False)
    assert len(losses) == 2 and all(np.isfinite(losses))
    return pipeline.unet.state_dict()


def test_training_is_reproducible_from_the_seed():
    first, again, other = _toy_training(0), _toy_training(0), _toy_training(1)
    assert first.keys() == again.keys()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not all(torch.equal(first[key], other[key]) for key in first)


def test_registry_builds_random_and_loads_the_shipped_weights():
    spec = get_spec("tiny-ddpm-ihc")
    random = load_model("tiny-ddpm-ihc")
    assert isinstance(random.pipeline, DDPMPipeline) and random.weights == "random"
    assert set(random.pipeline.components) == {"unet", "scheduler"}
    shipped = load_model("tiny-ddpm-ihc", weights=None)
    assert shipped.weights == spec.default_weights
    assert (shipped.fingerprint != random.fingerprint) and family_of(shipped.pipeline).name == "ddpm"
    weights_file = next((Path(spec.default_weights) / "unet").glob("*.safetensors"))
    assert weights_file.stat().st_size < 10e6
    trained = shipped.pipeline.unet.state_dict()
    untrained = random.pipeline.unet.state_dict()
    assert not torch.equal(trained["conv_in.weight"], untrained["conv_in.weight"])


@pytest.mark.parametrize("scheduler", ["default", "euler", "ddim"])
def test_unconditional_generation_gives_one_image_per_seed(scheduler):
    from bench.schedulers import set_scheduler

    pipeline = load_model("tiny-ddpm-ihc", weights=None).pipeline
    set_scheduler(pipeline, scheduler)
    workload = Workload(width=32, height=32, steps=3, scheduler=scheduler, seed=4)
    single = generate(pipeline, workload, CPU)
    assert single.shape == (1, 32, 32, 3) and np.isfinite(single).all()
    assert single.min() >= 0 and single.max() <= 1 and single.std() > 0.02
    batch = generate_seeds(pipeline, workload, CPU, [3, 4])
    np.testing.assert_allclose(batch[1], single[0], atol=1e-4)  # seed 4 is seed 4, in a batch or not
    assert not np.allclose(batch[0], batch[1])


def test_stages_of_a_pipeline_without_text_encoder_or_vae_are_null():
    pipeline = load_model("tiny-ddpm-ihc").pipeline
    workload = Workload(width=32, height=32, steps=3, scheduler="ddim")
    with StageRecorder(pipeline, CPU) as stages:
        generate(pipeline, workload, CPU, stages)
    summary = stages.summary()
    assert summary["text_encoder_s"] is None and summary["vae_decode_s"] is None
    assert summary["step_median_ms"] > 0
    assert len(stages.generations[0].step_s) == 3
