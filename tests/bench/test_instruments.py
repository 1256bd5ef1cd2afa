import math

import numpy as np
import pytest
import torch

from bench.generate import generate
from bench.instruments.memory import RssSampler
from bench.instruments.quality import has_non_finite, psnr
from bench.instruments.stages import StageRecorder
from bench.workload import Workload


def test_psnr_of_a_known_error():
    reference = np.zeros((1, 4, 4, 3), dtype=np.float32)
    image = np.full_like(reference, 0.1)  # mse = 0.01 -> 20 dB
    assert psnr(image, reference) == pytest.approx(20.0)
    assert psnr(reference, reference) == math.inf


def test_psnr_refuses_what_cannot_be_compared():
    image = np.zeros((1, 4, 4, 3), dtype=np.float32)
    assert math.isnan(psnr(np.full_like(image, np.nan), image))
    assert has_non_finite(np.array([0.0, np.inf]))
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(image, np.zeros((1, 8, 8, 3)))


def test_rss_sampler_sees_a_peak_that_is_gone_by_the_end():
    with RssSampler(interval=0.001) as rss:
        block = np.ones(300 * (1 << 20), dtype=np.uint8)  # touched, so resident
        block.sum()
        del block
    assert rss.peak_bytes - rss.start_bytes > 200 * (1 << 20)


def test_stage_recorder_times_each_step_and_leaves_the_pipeline_as_it_was(tiny_model):
    pipeline = tiny_model.pipeline
    pipeline.set_progress_bar_config(disable=True)
    workload = Workload(steps=3)
    cpu = torch.device("cpu")
    with StageRecorder(pipeline, cpu) as stages:
        generate(pipeline, workload, cpu, stages)
        generate(pipeline, workload, cpu, stages)
    assert len(stages.generations) == 2
    for generation in stages.generations:
        assert len(generation.step_s) == 3
        assert generation.text_encoder_s > 0 and generation.vae_decode_s > 0
    summary = stages.summary()
    assert summary["step_median_ms"] > 0 and summary["step_iqr_ms"] >= 0
    assert "decode" not in vars(pipeline.vae)
    assert not pipeline.unet._forward_pre_hooks and not pipeline.text_encoder._forward_hooks


def test_same_seed_same_image_different_seed_different_image(tiny_model):
    pipeline = tiny_model.pipeline
    pipeline.set_progress_bar_config(disable=True)
    cpu = torch.device("cpu")
    a = generate(pipeline, Workload(steps=2, seed=3), cpu)
    b = generate(pipeline, Workload(steps=2, seed=3), cpu)
    c = generate(pipeline, Workload(steps=2, seed=4), cpu)
    assert a.shape == (1, 64, 64, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
