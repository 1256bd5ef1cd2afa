"""Fine-tuning artefacts on a model (LoRA fused and unfused, textual inversion, UNet checkpoints),
checkpoints written by training, and the checkpoints report. Tiny offline models, seconds each."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.reports_runs import call, one_error_line, row, write_run
from safetensors.torch import save_file

from bench.checkpoint_options import adapters_of, checkpoint_options
from bench.generate import generate
from bench.instruments.quality import psnr
from bench.studies.checkpoints import find_checkpoints
from bench.studies.runner import StudyError
from bench.workload import make_workload
from models import ModelError, load_model
from models.adapters import Adapters, EmbeddingFile, LoraFile, apply_adapters, parse_lora
from optimize import PassUnsupported, VariantCache, build_variant, parse_recipe

CPU = torch.device("cpu")
WORKLOAD = make_workload("64", "2", "1", "7.5", "euler", "a photograph of a cat", 0)
TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def _image(pipeline) -> np.ndarray:
    pipeline.set_progress_bar_config(disable=True)
    return generate(pipeline, WORKLOAD, CPU)


@pytest.fixture(scope="module")
def lora_file(tmp_path_factory) -> Path:
    """A LoRA for tiny-sd's UNet attention projections, random A and B (so it changes the image)."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = copy.deepcopy(load_model("tiny-sd").pipeline.unet)
    torch.manual_seed(1)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=TARGETS, init_lora_weights=False))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    assert any("lora" in key and "up" in key for key in layers)
    folder = tmp_path_factory.mktemp("lora")
    StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=layers, safe_serialization=True)
    path = folder / "pytorch_lora_weights.safetensors"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def base_image() -> np.ndarray:
    return _image(load_model("tiny-sd").pipeline)


def test_lora_fused_gives_the_unfused_image_and_differs_from_no_lora(lora_file, base_image, tmp_path):
    model = apply_adapters(load_model("tiny-sd"), Adapters(loras=(LoraFile(lora_file, 0.8),)))
    unfused = _image(model.pipeline)
    assert psnr(unfused, base_image) < 40  # the LoRA really changes the image
    cache = VariantCache(tmp_path / "variants")
    baseline = build_variant(model, parse_recipe("fp32"), CPU, cache)
    assert psnr(_image(baseline.pipeline), unfused) == float("inf")  # the baseline is the unfused model
    fused = build_variant(model, parse_recipe("lora-fuse"), CPU, cache)
    assert not fused.cache_hit
    assert not any("lora" in key for key in fused.pipeline.unet.state_dict())  # plain layers again
    assert fused.manifest["checks"]["lora_fuse"]["fused_layers"] > 0
    fused_image = _image(fused.pipeline)
    assert psnr(fused_image, unfused) > 80, psnr(fused_image, unfused)
    # From the cache: restored onto the unfused source model without its adapter layers.
    again = build_variant(model, parse_recipe("lora-fuse"), CPU, cache)
    assert again.cache_hit
    assert psnr(_image(again.pipeline), fused_image) == float("inf")


def test_lora_scale_zero_is_the_base_model_and_the_scale_is_in_the_fingerprint(lora_file, base_image):
    base = load_model("tiny-sd")
    zero = apply_adapters(load_model("tiny-sd"), Adapters(loras=(LoraFile(lora_file, 0.0),)))
    assert psnr(_image(zero.pipeline), base_image) > 80
    one = apply_adapters(load_model("tiny-sd"), Adapters(loras=(LoraFile(lora_file, 1.0),)))
    again = apply_adapters(load_model("tiny-sd"), Adapters(loras=(LoraFile(lora_file, 1.0),)))
    assert len({base.fingerprint, zero.fingerprint, one.fingerprint}) == 3
    assert one.fingerprint == again.fingerprint


def test_lora_fuse_without_a_lora_is_unsupported_with_the_reason(tmp_path):
    with pytest.raises(PassUnsupported, match="no LoRA loaded"):
        build_variant(load_model("tiny-sd"), parse_recipe("lora-fuse"), CPU, VariantCache(tmp_path))
    assert "fuse the LoRA first" in parse_recipe("int8+lora-fuse").unsupported_reason(CPU)
    assert parse_recipe("lora-fuse+int8").unsupported_reason(CPU) is not None
    fuse, int8 = parse_recipe("lora-fuse+int8").passes
    assert "only dtype passes may follow" in fuse.refuses_later(int8)
    assert parse_recipe("bf16+lora-fuse").unsupported_reason(CPU) is None


def _prompt_embedding(pipeline, prompt: str) -> torch.Tensor:
    embeds, _ = pipeline.encode_prompt(prompt, CPU, 1, False)
    return embeds


def test_textual_inversion_adds_its_token_and_changes_the_prompt_embedding(tmp_path):
    hidden = load_model("tiny-sd").pipeline.text_encoder.config.hidden_size
    vector = torch.randn(1, hidden, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "cat-toy.safetensors"
    save_file({"<cat-toy>": vector}, str(path))
    other = tmp_path / "other.safetensors"
    save_file({"<cat-toy>": -vector}, str(other))
    model = apply_adapters(load_model("tiny-sd"), Adapters(embeddings=(EmbeddingFile(path),)))
    pipeline = model.pipeline
    token_id = pipeline.tokenizer.convert_tokens_to_ids("<cat-toy>")
    assert token_id != pipeline.tokenizer.unk_token_id
    row_ = pipeline.text_encoder.get_input_embeddings().weight[token_id]
    assert torch.allclose(row_, vector[0])
    flipped = apply_adapters(load_model("tiny-sd"), Adapters(embeddings=(EmbeddingFile(other),))).pipeline
    prompt = "a photo of <cat-toy>"
    assert not torch.allclose(_prompt_embedding(pipeline, prompt), _prompt_embedding(flipped, prompt))
    # The same embedding under a token given on the command line (FILE:TOKEN).
    renamed = apply_adapters(load_model("tiny-sd"), Adapters(embeddings=(EmbeddingFile(path, "<toy>"),)))
    assert "<toy>" in renamed.pipeline.tokenizer.get_vocab()
    assert renamed.fingerprint != model.fingerprint


def _ddpm_state(seed: int) -> dict[str, torch.Tensor]:
    unet = load_model("tiny-ddpm-ihc", "random", seed=seed).pipeline.unet
    return {key: value.clone() for key, value in unet.state_dict().items()}


def test_unet_checkpoint_replaces_the_weights_from_a_file_or_a_folder(tmp_path):
    state = _ddpm_state(seed=7)
    path = tmp_path / "step-500.safetensors"
    save_file(state, str(path))
    base = load_model("tiny-ddpm-ihc", "random")
    model = apply_adapters(load_model("tiny-ddpm-ihc", "random"), Adapters(unet_checkpoint=path))
    key = next(iter(state))
    assert torch.equal(model.pipeline.unet.state_dict()[key], state[key])
    assert not torch.equal(base.pipeline.unet.state_dict()[key], state[key])
    assert model.fingerprint != base.fingerprint
    # A diffusers unet/ folder, given itself or by the checkpoint folder that holds it.
    unet = load_model("tiny-ddpm-ihc", "random", seed=7).pipeline.unet
    unet.save_pretrained(tmp_path / "step-000500" / "unet", safe_serialization=True)
    for given in (tmp_path / "step-000500", tmp_path / "step-000500" / "unet"):
        loaded = apply_adapters(load_model("tiny-ddpm-ihc", "random"), Adapters(unet_checkpoint=given))
        assert torch.equal(loaded.pipeline.unet.state_dict()[key], state[key])


def test_unet_checkpoint_of_another_shape_or_missing_a_key_names_the_key(tmp_path):
    state = _ddpm_state(seed=1)
    key = "conv_in.weight"
    wrong = dict(state, **{key: torch.zeros(1, 1, 3, 3)})
    save_file(wrong, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(ModelError, match=r"UNet key 'conv_in.weight' has shape \(1, 1, 3, 3\)") as error:
        apply_adapters(
            load_model("tiny-ddpm-ihc", "random"), Adapters(unet_checkpoint=tmp_path / "wrong.safetensors")
        )
    assert "\n" not in str(error.value)
    missing = {k: v for k, v in state.items() if k != key}
    save_file(missing, str(tmp_path / "missing.safetensors"))
    with pytest.raises(ModelError, match=r"UNet key 'conv_in\.weight' is missing"):
        apply_adapters(
            load_model("tiny-ddpm-ihc", "random"), Adapters(unet_checkpoint=tmp_path / "missing.safetensors")
        )


def test_pickle_files_are_refused_unless_allowed(tmp_path, lora_file):
    state = _ddpm_state(seed=2)
    pickled = tmp_path / "unet.pt"
    torch.save(state, pickled)
    adapters = Adapters(unet_checkpoint=pickled)
    with pytest.raises(ModelError, match=r"refusing .*unet\.pt: pickle-based .*--allow-pickle"):
        apply_adapters(load_model("tiny-ddpm-ihc", "random"), adapters)
    loaded = apply_adapters(load_model("tiny-ddpm-ihc", "random"), adapters, allow_pickle=True)
    key = next(iter(state))
    assert torch.equal(loaded.pipeline.unet.state_dict()[key], state[key])
    bin_lora = tmp_path / "lora.bin"
    bin_lora.write_bytes(lora_file.read_bytes())
    with pytest.raises(ModelError, match=r"refusing .*lora\.bin"):
        Adapters(loras=(LoraFile(bin_lora),)).check(allow_pickle=False)


def _suite_defaults() -> dict[str, object]:
    """Every suite option at its default, from the option groups (bench/options)."""
    from bench.options import option_defaults

    return option_defaults()


def test_suite_options_parse_validate_and_reach_the_suite_model(lora_file, tmp_path):
    from bench.suite import Suite
    from bench.suite_config import config_from_options

    values = _suite_defaults()
    values.update(
        {
            "--variants": "fp32,lora-fuse",
            "--steps": "2",
            "--device": "cpu",
            "--cache-dir": str(tmp_path / "cache"),
            "--lora": [f"{lora_file}:0.5"],
        }
    )
    config = config_from_options(values.__getitem__)
    assert config.lora == ((str(lora_file), 0.5),)
    assert adapters_of(config).describe() == f"lora={lora_file}@0.5"
    suite = Suite(config)
    assert suite.model.fingerprint != load_model("tiny-sd").fingerprint
    assert suite.model.pipeline.get_list_adapters() == {"unet": ["lora0"]}
    # Repeatable and comma-separated; a bad scale or a missing file is one line.
    both = checkpoint_options(lambda n: {"--lora": [f"{lora_file},{lora_file}:2"]}.get(n))
    assert both["lora"] == ((str(lora_file), 1.0), (str(lora_file), 2.0))
    with pytest.raises(ModelError, match="'high' is not a scale"):
        parse_lora(f"{tmp_path}/x.safetensors:high")
    with pytest.raises(ModelError, match=r"nope\.safetensors is not a file"):
        checkpoint_options(lambda n: {"--lora": [str(tmp_path / "nope.safetensors")]}.get(n))


def test_training_writes_a_checkpoint_every_k_steps(tmp_path):
    from models.train import main

    root = tmp_path / "ckpts"
    assert main(["--steps", "2", "--batch", "2", "--save-every", "1", "--checkpoint-dir", str(root)]) == 0
    folders = sorted(p.name for p in root.iterdir())
    assert folders == ["step-000001", "step-000002"]  # nothing half-written left behind
    weights = root / "step-000002" / "unet" / "diffusion_pytorch_model.safetensors"
    assert weights.is_file()
    assert json.loads((root / "step-000002" / "training.json").read_text())["step"] == 2
    found = find_checkpoints(root)
    assert [(c.name, c.step, c.kind) for c in found] == [
        ("step-000001", 1, "unet"),
        ("step-000002", 2, "unet"),
    ]
    first, second = (
        apply_adapters(load_model("tiny-ddpm-ihc"), Adapters(unet_checkpoint=c.path)) for c in found
    )
    assert first.fingerprint != second.fingerprint
    a, b = (dict(m.pipeline.unet.named_parameters())["conv_in.weight"] for m in (first, second))
    assert not torch.equal(a, b)  # a training step changed the EMA weights


def test_study_finds_lora_files_and_refuses_an_empty_folder(tmp_path, lora_file):
    for name in ("lora-step-1000.safetensors", "lora-step-200.safetensors"):
        (tmp_path / name).write_bytes(lora_file.read_bytes())
    assert [c.step for c in find_checkpoints(tmp_path)] == [200, 1000]
    assert {c.kind for c in find_checkpoints(tmp_path)} == {"lora"}
    assert {c.kind for c in find_checkpoints(tmp_path, "unet")} == {"unet"}
    (tmp_path / "empty").mkdir()
    with pytest.raises(StudyError, match="no checkpoints in"):
        find_checkpoints(tmp_path / "empty")
    with pytest.raises(StudyError, match="is not a folder of checkpoints"):
        find_checkpoints(tmp_path / "nothing")


def _checkpoint_run(folder: Path, name: str, fid: float, kid: float, when: str) -> Path:
    extra = {
        "checkpoint": name,
        "fid": fid,
        "kid": kid,
        "fid_n": 64,
        "fid_ref": "ihc-heldout",
        "fid_dims": 64,
    }
    extra["quality_note"] = (
        "IS unavailable: the FID Inception file has pool features only, no classifier logits"
    )
    return write_run(folder / f"0001_{name}.json", [row("fp32", median=0.5, **extra)], when=when)


def test_checkpoints_report_table_plot_and_best(tmp_path):
    runs = tmp_path / "runs"
    _checkpoint_run(runs, "step-000300", 40.0, 10.0, "2026-12-01T10:03:00+00:00")
    _checkpoint_run(runs, "step-000050", 90.0, 30.0, "2026-12-01T10:01:00+00:00")
    _checkpoint_run(runs, "step-000150", 35.0, 12.0, "2026-12-01T10:02:00+00:00")
    out = tmp_path / "out"
    out.mkdir()
    result = call("checkpoints", runs, "--output-dir", out)
    assert result.returncode == 0, result.stderr
    table = (out / "checkpoints.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| step-")]
    assert [line.split("|")[1].strip() for line in lines] == ["step-000050", "step-000150", "step-000300"]
    assert [line.split("|")[2].strip() for line in lines] == ["50", "150", "300"]
    assert "**Best checkpoint by FID: `step-000150`**" in table
    assert "IS unavailable" in table
    assert (out / "checkpoints.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Names without a step number: the order of the runs stands in for it.
    other = tmp_path / "named"
    _checkpoint_run(other, "final", 20.0, 5.0, "2026-12-01T11:02:00+00:00")
    _checkpoint_run(other, "early", 50.0, 9.0, "2026-12-01T11:01:00+00:00")
    assert call("checkpoints", other, "--output-dir", out).returncode == 0
    text = (out / "checkpoints.md").read_text()
    assert "| early " in text.split("| final ")[0] and "checkpoints' order" in text


def test_checkpoints_report_refuses_runs_without_checkpoints_or_mixed_references(tmp_path):
    plain = write_run(tmp_path / "plain" / "0001_x.json", [row("fp32")])
    assert "no row of these runs names a checkpoint" in one_error_line(
        call("checkpoints", plain, "--output-dir", tmp_path)
    )
    mixed = tmp_path / "mixed"
    _checkpoint_run(mixed, "step-1", 1.0, 1.0, "2026-12-01T10:01:00+00:00")
    doc = json.loads((mixed / "0001_step-1.json").read_text())
    doc["benchmarks"][0]["extra_info"].update(checkpoint="step-2", fid_ref="baseline")
    doc["datetime"] = "2026-12-01T10:02:00+00:00"
    (mixed / "0002_step-2.json").write_text(json.dumps(doc))
    assert "mix fid_ref: baseline, ihc-heldout" in one_error_line(
        call("checkpoints", mixed, "--output-dir", tmp_path)
    )
