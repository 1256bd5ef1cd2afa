"""Single-file (original LDM / A1111 layout) checkpoints load offline, through diffusers' own conversion."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers.loaders.single_file_utils import (
    CHECKPOINT_KEY_NAMES,
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
)
from helpers.ldm_format import pipeline_to_ldm
from safetensors.torch import save_file

from models import ModelError, load_model
from models.local_load import load_single_file
from models.registry import get_spec

COMPONENTS = ("unet", "vae", "text_encoder")


@pytest.fixture(scope="module")
def ldm_state(tiny_model) -> dict[str, torch.Tensor]:
    return pipeline_to_ldm(tiny_model.pipeline)


@pytest.fixture(scope="module")
def ldm_file(ldm_state, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("single-file") / "tiny.safetensors"
    save_file(ldm_state, str(path))
    return path


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to reach the hub (or anywhere else) fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _assert_same_weights(expected, actual) -> None:
    for name in COMPONENTS:
        want = getattr(expected, name).state_dict()
        got = getattr(actual, name).state_dict()
        assert sorted(got) == sorted(want), name
        for key, tensor in want.items():
            assert got[key].dtype == tensor.dtype, f"{name}.{key}"
            assert torch.equal(got[key], tensor), f"{name}.{key} differs"


def _image(pipe) -> np.ndarray:
    generator = torch.Generator().manual_seed(0)
    return pipe(
        "a cat", num_inference_steps=1, height=64, width=64, output_type="np", generator=generator
    ).images


def _public(config) -> dict:
    return {key: value for key, value in config.items() if not key.startswith("_")}


def _one_line_error(excinfo, path: Path) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message
    assert len(message) < 300, message
    return message


def test_helper_writes_the_ldm_layout_diffusers_reads(tiny_model, ldm_state):
    pipe = tiny_model.pipeline
    prefixes = ("model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer.text_model.")
    assert all(key.startswith(prefixes) for key in ldm_state)
    assert CHECKPOINT_KEY_NAMES["clip"] in ldm_state
    # The VAE's mid-block attention is 1x1 convs in LDM files.
    assert ldm_state["first_stage_model.decoder.mid.attn_1.q.weight"].ndim == 4
    # Feeding our output to diffusers' converters gives back every tensor exactly.
    unet = convert_ldm_unet_checkpoint(ldm_state, dict(pipe.unet.config))
    vae = convert_ldm_vae_checkpoint(ldm_state, dict(pipe.vae.config))
    clip = {k.removeprefix("text_model."): v for k, v in convert_ldm_clip_checkpoint(ldm_state).items()}
    for module, converted in ((pipe.unet, unet), (pipe.vae, vae), (pipe.text_encoder, clip)):
        want = module.state_dict()
        assert sorted(converted) == sorted(want)
        assert all(torch.equal(converted[key], tensor) for key, tensor in want.items())


def test_single_file_round_trips_exactly_offline(tiny_model, ldm_file, no_network):
    pipe = load_single_file(get_spec("tiny-sd"), ldm_file, allow_pickle=False)
    original = tiny_model.pipeline
    assert type(pipe) is type(original)
    _assert_same_weights(original, pipe)
    assert _public(pipe.scheduler.config) == _public(original.scheduler.config)
    assert pipe.tokenizer.get_vocab() == original.tokenizer.get_vocab()
    assert pipe.safety_checker is None
    # Same weights, scheduler and tokenizer: the same image, bit for bit.
    assert np.array_equal(_image(pipe), _image(original))


def test_original_extras_and_fp16_are_accepted(tiny_model, ldm_state, tmp_path):
    # Real LDM/A1111 files carry training leftovers, and many store fp16 weights.
    state = {key: tensor.half() for key, tensor in ldm_state.items()}
    state["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    state["alphas_cumprod"] = torch.linspace(1, 0, 1000)
    state["model_ema.decay"] = torch.tensor(0.9999)
    path = tmp_path / "extras-fp16.safetensors"
    save_file(state, str(path))
    pipe = load_single_file(get_spec("tiny-sd"), path, allow_pickle=False)
    for name in COMPONENTS:
        got = getattr(pipe, name).state_dict()
        for key, tensor in getattr(tiny_model.pipeline, name).state_dict().items():
            assert got[key].dtype == torch.float32, f"{name}.{key}"
            assert torch.equal(got[key], tensor.half().float()), f"{name}.{key}"


def test_ckpt_is_refused_without_allow_pickle(tmp_path):
    for name in ("tiny.ckpt", "tiny.CKPT", "tiny.pt"):
        path = tmp_path / name
        path.write_bytes(b"never read")
        with pytest.raises(ModelError, match="pickle") as excinfo:
            load_single_file(get_spec("tiny-sd"), path, allow_pickle=False)
        _one_line_error(excinfo, path)
    # Any other name is read by diffusers with torch.load, so it is refused too.
    path = tmp_path / "tiny.weights"
    path.write_bytes(b"never read")
    with pytest.raises(ModelError, match=r"must be a \.safetensors file.*pickle"):
        load_single_file(get_spec("tiny-sd"), path, allow_pickle=False)


def test_ckpt_loads_with_allow_pickle(tiny_model, ldm_state, tmp_path):
    path = tmp_path / "tiny.ckpt"
    torch.save({"state_dict": ldm_state}, path)
    pipe = load_single_file(get_spec("tiny-sd"), path, allow_pickle=True)
    _assert_same_weights(tiny_model.pipeline, pipe)


def test_missing_weights_file_is_one_line_error(tmp_path):
    path = tmp_path / "missing.safetensors"
    with pytest.raises(ModelError, match=r"weights path .* does not exist") as excinfo:
        load_model("sd15", weights=str(path))
    _one_line_error(excinfo, path)


def test_garbage_keys_give_one_line_error_naming_the_file(tmp_path):
    path = tmp_path / "garbage.safetensors"
    save_file({"not.a.model.weight": torch.zeros(3), "neither.is.this": torch.ones(2, 2)}, str(path))
    with pytest.raises(ModelError, match=r"cannot load .* as a tiny-sd checkpoint") as excinfo:
        load_single_file(get_spec("tiny-sd"), path, allow_pickle=False)
    message = _one_line_error(excinfo, path)
    assert "Weights for this component appear to be missing" in message


def test_not_a_safetensors_file_gives_one_line_error(tmp_path):
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="cannot load") as excinfo:
        load_single_file(get_spec("tiny-sd"), path, allow_pickle=False)
    _one_line_error(excinfo, path)


def test_partial_checkpoint_names_the_gap(ldm_state, tmp_path):
    path = tmp_path / "partial.safetensors"
    save_file({k: v for k, v in ldm_state.items() if ".output_blocks.3." not in k}, str(path))
    needs = "lacks some of the weights the tiny-sd architecture needs"
    with pytest.raises(ModelError, match=needs) as excinfo:
        load_single_file(get_spec("tiny-sd"), path, allow_pickle=False)
    _one_line_error(excinfo, path)


def test_checkpoint_of_another_architecture_gives_one_line_error(ldm_file):
    with pytest.raises(ModelError, match=r"as a sd15 checkpoint: .*shape") as excinfo:
        load_single_file(get_spec("sd15"), ldm_file, allow_pickle=False)
    _one_line_error(excinfo, ldm_file)
