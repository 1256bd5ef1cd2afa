import json

import pytest
import torch

from models import ModelError, get_spec, load_model, model_names
from models.tokenizer import build_clip_tokenizer


def test_registry_has_the_default_and_real_architectures():
    assert {"tiny-sd", "sd15", "sd21", "sdxl"} <= set(model_names())
    assert get_spec("sdxl").xl


def test_tiny_sd_is_deterministic_for_a_seed(tiny_model):
    again = load_model("tiny-sd", seed=0)
    other = load_model("tiny-sd", seed=1)
    a = tiny_model.pipeline.unet.state_dict()
    assert all(torch.equal(a[k], v) for k, v in again.pipeline.unet.state_dict().items())
    assert not all(torch.equal(a[k], v) for k, v in other.pipeline.unet.state_dict().items())
    assert again.fingerprint == tiny_model.fingerprint != other.fingerprint


def test_tiny_sd_has_the_stable_diffusion_components(tiny_model):
    pipe = tiny_model.pipeline
    assert type(pipe).__name__ == "StableDiffusionPipeline"
    assert type(pipe.unet).__name__ == "UNet2DConditionModel"
    assert type(pipe.vae).__name__ == "AutoencoderKL"
    assert type(pipe.text_encoder).__name__ == "CLIPTextModel"
    assert pipe.vae_scale_factor == 8


def test_tokenizer_is_offline_and_reversible():
    tokenizer = build_clip_tokenizer()
    ids = tokenizer("a cat, 3 dogs!").input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    # CLIP splits punctuation into its own words, so only the spaces may differ.
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    assert decoded.replace(" ", "") == "acat,3dogs!"


@pytest.mark.parametrize(
    ("model", "weights", "message"),
    [
        ("sd99", "random", "unknown model 'sd99': known models are tiny-sd, sd15, sd21, sdxl"),
        ("./no/such/folder", "random", "model path './no/such/folder' does not exist"),
        (
            "sd15",
            "/no/such/weights.safetensors",
            "weights path '/no/such/weights.safetensors' does not exist",
        ),
        ("tiny-sd", "/tmp", "has no real weights"),
    ],
)
def test_bad_model_inputs_name_the_value(model, weights, message):
    with pytest.raises(ModelError) as error:
        load_model(model, weights)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_local_folder_round_trip(tiny_model, tmp_path):
    tiny_model.pipeline.save_pretrained(tmp_path / "tiny")
    loaded = load_model(str(tmp_path / "tiny"))
    assert loaded.weights == str((tmp_path / "tiny").resolve())
    # A folder's family comes from the pipeline it holds.
    assert (loaded.family, loaded.model_family.name) == ("stable-diffusion", "stable-diffusion")
    original = tiny_model.pipeline.unet.state_dict()
    assert all(torch.equal(original[k], v) for k, v in loaded.pipeline.unet.state_dict().items())


def test_folder_with_only_pickle_weights_is_refused(tiny_model, tmp_path):
    folder = tmp_path / "pickled"
    tiny_model.pipeline.save_pretrained(folder, safe_serialization=False)
    assert list(folder.rglob("*.bin")), "diffusers should have written pickle weights"
    with pytest.raises(ModelError, match=r"refusing .*\.bin: pickle-based weights"):
        load_model(str(folder))
    assert load_model(str(folder), allow_pickle=True).pipeline.unet is not None


def test_folder_without_model_index_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text(json.dumps({}))
    with pytest.raises(ModelError, match=r"no model_index\.json"):
        load_model(str(tmp_path / "empty"))


@pytest.mark.slow
def test_sd15_random_has_the_published_unet_size():
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(**get_spec("sd15").components["unet"])
    assert sum(p.numel() for p in unet.parameters()) == 859_520_964


def test_model_folder_cannot_reach_outside_itself(tiny_model, tmp_path):
    folder = tmp_path / "tiny"
    tiny_model.pipeline.save_pretrained(folder)
    secret = tmp_path / "outside.safetensors"
    secret.write_bytes(b"not yours")
    (folder / "unet" / "extra.safetensors").symlink_to(secret)
    with pytest.raises(ModelError, match="points outside the model folder"):
        load_model(str(folder))


def test_model_index_cannot_name_a_parent_folder(tiny_model, tmp_path):
    folder = tmp_path / "tiny"
    tiny_model.pipeline.save_pretrained(folder)
    index = json.loads((folder / "model_index.json").read_text())
    index["../unet"] = index.pop("unet")
    (folder / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelError, match=r"names component '\.\./unet'"):
        load_model(str(folder))
