"""Model families as objects (models/families/); VAE-alone and GAN generator adapters, benchmarked
like pipelines; the `family` report and study."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers.reports_runs import call

from bench.generate import generate, generate_seeds
from bench.instruments.flops import image_macs
from bench.instruments.quality import psnr
from bench.instruments.stages import StageRecorder
from bench.workload import Workload
from models import REGISTRY, ModelError, load_model
from models import families as family_registry
from models.families import ModelFamily, family_for_spec, family_of, register
from models.families.base import REGISTERED
from models.gan_load import GAN_CONFIG, save_gan_folder
from models.tracing import unet_example_inputs
from optimize import PassUnsupported, VariantCache, build_variant, parse_recipe
from tests.bench.test_suite_e2e import run_suite, saved_runs

CPU = torch.device("cpu")
WORKLOAD = Workload(width=64, height=64)


@pytest.fixture(scope="module")
def dcgan():
    return load_model("tiny-dcgan")


@pytest.fixture(scope="module")
def vae():
    return load_model("tiny-vae")


def seeded(pipeline, seed: int, **kwargs) -> np.ndarray:
    return pipeline(generator=torch.Generator().manual_seed(seed), **kwargs).images


# -- the family objects ---------------------------------------------------------------------------


def _stub(*components: str) -> SimpleNamespace:
    """What family_of reads of a pipeline built elsewhere: its component names."""
    return SimpleNamespace(components=dict.fromkeys(components))


def test_every_registry_model_has_one_family_whose_row_name_is_its_spec_family() -> None:
    names = {family.name for family in family_registry.families()}
    assert names == {"stable-diffusion", "sdxl", "ddpm", "vae", "gan"}
    assert [family.name for family in family_registry.families() if family.fallback] == ["stable-diffusion"]
    for spec in REGISTRY.values():
        family = family_for_spec(spec)
        assert family.row_family == spec.family, spec.name
    assert family_for_spec(REGISTRY["sdxl"]).name == "sdxl"
    assert family_for_spec(REGISTRY["sd15"]).name == "stable-diffusion"


def test_family_of_a_pipeline_from_its_components() -> None:
    assert family_of(_stub("unet", "scheduler")).name == "ddpm"
    assert family_of(_stub("unet", "scheduler", "vae", "text_encoder")).name == "stable-diffusion"
    assert family_of(_stub("unet", "scheduler", "vae", "text_encoder", "text_encoder_2")).name == "sdxl"
    # Anything no family claims is run as text-to-image, the fallback.
    assert family_of(_stub("transformer", "vae")).name == "stable-diffusion"


def test_a_new_family_is_one_registered_class() -> None:
    class Toy(ModelFamily):
        name = row_family = "toy"

        def claims(self, pipeline) -> bool:
            return "toy" in pipeline.components

    register(Toy)
    try:
        assert isinstance(family_of(_stub("toy")), Toy)
        with pytest.raises(ValueError, match="'toy' is registered twice"):
            register(Toy)
        with pytest.raises(ModelError, match=r"unknown model family 'nope': known families are .*toy"):
            family_registry.family_named("nope")
    finally:
        REGISTERED.pop("toy")
    assert family_of(_stub("toy")).name == "stable-diffusion"


def test_each_family_plans_its_own_stages_and_traced_calls(dcgan, vae, tiny_model) -> None:
    ddpm = load_model("tiny-ddpm-ihc")
    encode_decode = load_model("tiny-vae-ihc")
    expected = [
        (tiny_model, "unet", ["text_encoder", "unet", "vae_decode"]),
        (ddpm, "unet", ["unet"]),
        (vae, None, ["vae_decode"]),
        (encode_decode, None, ["vae_decode", "vae_encode"]),
        (dcgan, None, ["generator"]),
    ]
    for model, denoiser, stages in expected:
        family = family_of(model.pipeline)
        assert family.row_family == model.family
        assert family.stage_plan.denoiser == denoiser
        assert set(family.export_components) <= set(model.pipeline.components)
        calls = family.traced_calls(model.pipeline, WORKLOAD)
        assert [call.stage for call in calls] == stages, model.name
    sd = family_of(tiny_model.pipeline)
    assert sd.stage_plan.text_encoders == ("text_encoder",)
    assert [(t.component, t.method) for t in family_of(dcgan.pipeline).stage_plan.timed_methods] == [
        (None, "run_generator")
    ]
    # CFG: the UNet twice per step, the text encoder twice per prompt.
    unet_call = next(call for call in sd.traced_calls(tiny_model.pipeline, WORKLOAD) if call.stage == "unet")
    assert unet_call.per_image == 2 * WORKLOAD.steps


@pytest.mark.parametrize("model", ["tiny-sd", "tiny-ddpm-ihc", "tiny-vae", "tiny-dcgan"])
def test_prune_scopes_are_what_pruning_finds(model: str) -> None:
    from optimize.pruning.targets import SCOPES, targets_for

    pipeline = load_model(model).pipeline
    family = family_of(pipeline)
    for scope in SCOPES:
        if scope in family.prune_scopes:
            paths = [target.path.split(".")[0] for target in targets_for(pipeline, scope)]
            assert paths == list(family.prune_scopes[scope]), (model, scope)
        else:
            with pytest.raises(PassUnsupported):
                targets_for(pipeline, scope)


def test_unet_example_inputs_zeros_for_tracing_and_seeded_draws(tiny_model) -> None:
    unet = tiny_model.pipeline.unet
    zeros = unet_example_inputs(unet, 1, 8, 8, dtype=torch.bfloat16)
    assert zeros["sample"].shape == (1, 4, 8, 8) and zeros["sample"].dtype == torch.bfloat16
    assert not zeros["encoder_hidden_states"].any()
    assert zeros["encoder_hidden_states"].shape == (1, 77, unet.config.cross_attention_dim)
    first, again = (
        unet_example_inputs(unet, 2, 4, 4, generator=torch.Generator().manual_seed(3)) for _ in "ab"
    )
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert first["sample"].std() > 0.5 and first["timestep"].shape == (2,)
    ddpm_unet = load_model("tiny-ddpm-ihc").pipeline.unet
    assert set(unet_example_inputs(ddpm_unet, 1, 8, 8)) == {"sample", "timestep"}


def test_negative_prompt_conditions_text_to_image_only(dcgan, tiny_model) -> None:
    small = Workload(width=32, height=32, steps=1)
    plain = generate(tiny_model.pipeline, small, CPU)
    assert not np.array_equal(plain, generate(tiny_model.pipeline, small, CPU, negative_prompt="blurry"))
    workload = Workload(width=64, height=64)
    gan = generate(dcgan.pipeline, workload, CPU)
    assert np.array_equal(gan, generate(dcgan.pipeline, workload, CPU, negative_prompt="blurry"))


@pytest.mark.parametrize(
    ("model", "kind"), [("tiny-ddpm-ihc", "a diffusers"), ("sd-vae", "an AutoencoderKL")]
)
def test_folder_only_families_refuse_a_weights_file(model: str, kind: str, tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    with pytest.raises(ModelError, match=f"a {model} model loads from {kind} folder, not a file"):
        load_model(model, weights=str(weights))


# -- the adapters -------------------------------------------------------------------------------


def test_families_and_components(dcgan, vae) -> None:
    assert (dcgan.family, list(dcgan.pipeline.components)) == ("gan", ["generator"])
    assert (vae.family, list(vae.pipeline.components)) == ("vae", ["vae"])
    assert load_model("tiny-sd").family == "stable-diffusion"


def test_dcgan_images_shape_range_and_seed(dcgan) -> None:
    pipe = dcgan.pipeline
    first, again, other = seeded(pipe, 3), seeded(pipe, 3), seeded(pipe, 4)
    assert first.shape == (1, 64, 64, 3) and first.dtype == np.float32
    assert first.min() >= 0.0 and first.max() <= 1.0
    assert first.std() > 0.01  # batch-norm statistics calibrated: not a flat grey image
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)
    # One generator per image: image i depends on seeds[i] only, whatever the batch.
    batch = generate_seeds(pipe, WORKLOAD, CPU, [4, 3])
    assert np.allclose(batch[1], first, atol=1e-5) and np.allclose(batch[0], other, atol=1e-5)


def test_dcgan_refuses_another_resolution(dcgan) -> None:
    with pytest.raises(ValueError, match=r"64x64 images only \(use --resolution 64\)"):
        generate(dcgan.pipeline, Workload(width=32, height=32), CPU)


def test_vae_decodes_random_latents_at_the_workload_size(vae) -> None:
    pipe = vae.pipeline
    image = generate(pipe, Workload(width=48, height=32, seed=5), CPU)
    assert image.shape == (1, 32, 48, 3) and image.dtype == np.float32
    assert np.array_equal(image, generate(pipe, Workload(width=48, height=32, seed=5), CPU))
    assert not np.allclose(image, generate(pipe, Workload(width=48, height=32, seed=6), CPU))
    with pytest.raises(ValueError, match="multiples of 8"):
        seeded(pipe, 0, height=60, width=64)


def test_vae_encode_decode_of_ihc_crops_and_of_given_images() -> None:
    pipe = load_model("tiny-vae-ihc").pipeline
    crops = seeded(pipe, 1, batch_size=1, height=32, width=32)
    assert crops.shape == (1, 32, 32, 3)
    assert np.array_equal(crops, seeded(pipe, 1, batch_size=1, height=32, width=32))
    assert not np.allclose(crops, seeded(pipe, 2, batch_size=1, height=32, width=32))
    given = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)  # NHWC in [0, 1]
    out = pipe(image=given).images
    assert out.shape == (2, 32, 32, 3)
    # The reconstruction really depends on the input image.
    assert not np.allclose(out[0], out[1])


def test_sd_vae_loads_real_weights_from_a_vae_folder(vae, tmp_path: Path) -> None:
    vae.pipeline.vae.save_pretrained(tmp_path / "vae", safe_serialization=True)
    loaded = load_model("sd-vae", weights=str(tmp_path / "vae"))
    assert loaded.family == "vae" and loaded.weights == str((tmp_path / "vae").resolve())
    assert np.array_equal(generate(loaded.pipeline, WORKLOAD, CPU), generate(vae.pipeline, WORKLOAD, CPU))
    # Pickle-only weights are refused (diffusers is told to use safetensors only).
    (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").rename(
        tmp_path / "vae" / "diffusion_pytorch_model.bin"
    )
    with pytest.raises(ModelError, match=r"cannot load the VAE folder .*safetensors weights only"):
        load_model("sd-vae", weights=str(tmp_path / "vae"))


@pytest.mark.parametrize("model", ["tiny-dcgan", "tiny-vae"])
@pytest.mark.parametrize("recipe", ["fp16", "bf16"])
def test_dtype_passes_cast_the_adapters(model: str, recipe: str, tmp_path: Path) -> None:
    loaded = load_model(model)
    cache = VariantCache(tmp_path)
    base = build_variant(loaded, parse_recipe("fp32"), CPU, cache)
    variant = build_variant(loaded, parse_recipe(recipe), CPU, cache)
    dtype = getattr(torch, {"fp16": "float16", "bf16": "bfloat16"}[recipe])
    (module,) = variant.pipeline.components.values()
    assert {p.dtype for p in module.parameters()} == {dtype}
    reference, image = generate(base.pipeline, WORKLOAD, CPU), generate(variant.pipeline, WORKLOAD, CPU)
    assert image.dtype == np.float32
    value = psnr(image, reference)
    assert 20 < value < math.inf  # drift from the cast, measurable against the same z / latents
    # A reloaded cache entry keeps the dtype and gives the same image.
    again = build_variant(loaded, parse_recipe(recipe), CPU, cache)
    assert again.cache_hit and np.array_equal(generate(again.pipeline, WORKLOAD, CPU), image)


@pytest.mark.parametrize(
    ("model", "recipe", "reason"),
    [
        ("tiny-dcgan", "prune(0.3)", "nothing prunable for scope='unet'"),
        ("tiny-dcgan", "onnx", "no torch text_encoder, unet, vae to export"),
        ("tiny-dcgan", "int8", "no component 'unet'"),
        ("tiny-vae", "compile", "compile covers a diffusion pipeline's UNet and VAE decoder"),
    ],
)
def test_passes_that_do_not_apply_are_unsupported(
    model: str, recipe: str, reason: str, tmp_path: Path
) -> None:
    if recipe == "onnx":
        pytest.importorskip("onnxruntime")
    with pytest.raises(PassUnsupported, match=reason.replace("(", r"\(")):
        build_variant(load_model(model), parse_recipe(recipe), CPU, VariantCache(tmp_path))


def test_stage_times_and_macs(dcgan, vae) -> None:
    with StageRecorder(dcgan.pipeline, CPU) as stages:
        generate(dcgan.pipeline, WORKLOAD, CPU, stages)
    gan = stages.summary()
    assert gan["generator_s"] > 0
    assert gan["vae_decode_s"] is gan["step_median_ms"] is gan["text_encoder_s"] is None
    with StageRecorder(vae.pipeline, CPU) as stages:
        generate(vae.pipeline, WORKLOAD, CPU, stages)
    summary = stages.summary()
    assert summary["vae_decode_s"] > 0 and summary["generator_s"] is None
    assert summary["step_median_ms"] is None
    assert "run_generator" not in vars(dcgan.pipeline)  # the timing wrapper is gone after the block
    # DCGAN MACs by hand: a transposed conv costs C_in x C_out x k^2 x H_in x W_in.
    layers = [(100, 256, 1), (256, 128, 4), (128, 64, 8), (64, 32, 16), (32, 3, 32)]
    counted = image_macs(dcgan.pipeline, WORKLOAD)
    assert counted.per_image == sum(i * o * 16 * side * side for i, o, side in layers)
    assert not counted.has_unet


# -- a user's GAN from a folder -------------------------------------------------------------------


def _traced(module: torch.nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.trace(module, torch.zeros(1, 100, 1, 1))


def _init_kwargs(model) -> dict:
    return {k: v for k, v in model.pipeline.generator.config.items() if not k.startswith("_")}


def test_gan_folder_from_safetensors_and_class(dcgan, tmp_path: Path) -> None:
    folder = save_gan_folder(
        dcgan.pipeline, tmp_path / "my-gan", "models.dcgan:DCGANGenerator", _init_kwargs(dcgan)
    )
    loaded = load_model(str(folder))
    assert loaded.family == "gan" and loaded.weights == str(folder.resolve())
    assert np.array_equal(seeded(loaded.pipeline, 7), seeded(dcgan.pipeline, 7))
    # Weights that don't fit the class named in gan.json: one line naming the file.
    config = json.loads((folder / GAN_CONFIG).read_text())
    config["kwargs"]["base_channels"] = 16
    (folder / GAN_CONFIG).write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"generator\.safetensors does not fit models\.dcgan:DCGANGenerator"):
        load_model(str(folder))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"class": "models.dcgan:Nope"}, "has no torch.nn.Module subclass 'Nope'"),
        (
            {"class": "models.dcgan:DCGANGenerator", "weights": "../x.safetensors"},
            "must be a plain file name",
        ),
        ({"class": "models.dcgan:DCGANGenerator", "colour": 1}, "unknown key 'colour'"),
        ({"class": "models.dcgan:DCGANGenerator", "torchscript": "g.pt"}, "either 'class'"),
        ({"class": "models.dcgan:DCGANGenerator", "weights": "generator.pt"}, "pickled data"),
    ],
)
def test_gan_folder_bad_configs_are_one_line(config: dict, message: str, tmp_path: Path) -> None:
    (tmp_path / "generator.pt").write_bytes(b"not read")
    (tmp_path / GAN_CONFIG).write_text(json.dumps(config))
    with pytest.raises(ModelError, match=message) as caught:
        load_model(str(tmp_path))
    assert "\n" not in str(caught.value)


def test_torchscript_gan_needs_allow_pickle(dcgan, tmp_path: Path) -> None:
    _traced(dcgan.pipeline.generator).save(str(tmp_path / "generator.pt"))
    (tmp_path / GAN_CONFIG).write_text(json.dumps({"torchscript": "generator.pt", "z_shape": [100, 1, 1]}))
    with pytest.raises(ModelError, match=r"TorchScript archives hold pickled data.*--allow-pickle"):
        load_model(str(tmp_path))
    scripted = load_model(str(tmp_path), allow_pickle=True)
    assert scripted.family == "gan"
    assert np.allclose(seeded(scripted.pipeline, 2), seeded(dcgan.pipeline, 2), atol=1e-6)
    # A TorchScript generator takes the dtype passes and the stage timer like any other module.
    variant = build_variant(scripted, parse_recipe("bf16"), CPU, VariantCache(tmp_path / "cache"))
    with StageRecorder(variant.pipeline, CPU) as stages:
        image = generate(variant.pipeline, WORKLOAD, CPU, stages)
    assert stages.summary()["generator_s"] > 0 and np.isfinite(image).all()


# -- the suite, the report and the study ------------------------------------------------------------


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("gan-suite")
    result = run_suite(
        tmp_path, "--benchmark-save=gan", "--model=tiny-dcgan", "--variants=fp32,bf16,fp16,prune(0.3),onnx"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (path,) = saved_runs(tmp_path)
    return path


def test_suite_rows_for_a_gan(gan_run: Path) -> None:
    run = json.loads(gan_run.read_text())
    rows = {b["extra_info"]["variant"]: b for b in run["benchmarks"]}
    assert set(rows) == {"fp32", "bf16", "fp16"}
    for entry in rows.values():
        info = entry["extra_info"]
        assert info["status"] == "ok" and info["family"] == "gan"
        assert entry["stats"]["median"] > 0 and info["generator_s"] > 0
        assert info["peak_ram_mib"] > 100 and info["params"] == 1_100_224
        assert info["step_median_ms"] is None and info["vae_decode_s"] is None and info["unet_macs_g"] is None
        assert info["macs_g"] == pytest.approx(0.027148288)
    assert rows["fp32"]["extra_info"]["psnr_vs_baseline"] is None
    for name in ("bf16", "fp16"):
        assert 20 < rows[name]["extra_info"]["psnr_vs_baseline"] < math.inf
    failures = {r["extra_info"]["variant"]: r["extra_info"] for r in run["diffbench"]["rows"]}
    assert {name: row["status"] for name, row in failures.items()} == {
        "prune(0.3)": "unsupported",
        "onnx": "unsupported",
    }
    assert "nothing prunable" in failures["prune(0.3)"]["reason"]


def test_family_report_on_the_suite_run(gan_run: Path, tmp_path: Path) -> None:
    result = call("family", gan_run, "--output-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "family.md").read_text()
    main_table, context = table.split("## Context")
    lines = [line for line in main_table.splitlines() if line.startswith("| tiny-dcgan")]
    assert [line.split("|")[3].strip() for line in lines] == ["fp32", "bf16", "fp16", "prune(0.3)", "onnx"]
    assert all(line.split("|")[2].strip() == "gan" for line in lines)  # failure rows get the family too
    assert "nothing prunable" in main_table and "64x64" in context and "0001_gan" in context
    assert (tmp_path / "family.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_family_report_and_study_bad_input_are_one_line(tmp_path: Path, capsys) -> None:
    result = call("family", tmp_path / "missing", "--output-dir", tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: no such file or folder")
    from bench.studies.cli import main

    assert main(["family", "--models", "tiny-dcgan,nope", "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'nope' is neither a known model" in err[0]
