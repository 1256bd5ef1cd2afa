"""The quantisation passes on tiny-sd: what they replace, how they persist, what they refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("torchao", reason="the int8/int8wo passes need torchao (the cpu extra)")
pytest.importorskip("bitsandbytes", reason="the bnb8/nf4 passes need bitsandbytes (the cpu extra)")

from bitsandbytes.nn import Linear4bit, Linear8bitLt
from torchao.quantization import Int8Tensor

from optimize import PassUnsupported, RecipeError, VariantCache, build_variant, parse_recipe
from optimize.quantisation import libraries
from optimize.quantisation.apply import QuantisationMismatch, quantise_component
from optimize.quantisation.footprint import pipeline_parameter_bytes
from optimize.quantisation.selection import is_plain_float_linear

CPU = torch.device("cpu")
PASSES = ("int8", "int8wo", "bnb8", "nf4")
# Bytes of the quantised layers (everything they are saved as) over their fp32 bytes.
BYTE_TARGETS = {"int8": 0.30, "int8wo": 0.30, "bnb8": 0.30, "nf4": 0.17}


def unet_output(pipeline) -> torch.Tensor:
    unet = pipeline.unet
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(1, unet.config.in_channels, 8, 8, generator=generator)
    context = torch.randn(1, 77, unet.config.cross_attention_dim, generator=generator)
    dtype = next(p for p in unet.parameters() if p.dtype.is_floating_point).dtype
    with torch.inference_mode():
        return unet(sample.to(dtype), torch.tensor([10]), context.to(dtype)).sample.float()


def linear_count(module: torch.nn.Module) -> int:
    return sum(isinstance(layer, torch.nn.Linear) for layer in module.modules())


@pytest.fixture(scope="module")
def quantised(tiny_model, tmp_path_factory):
    """Each pass built once, then loaded back from the cache; with the fp32 reference output."""
    cache = VariantCache(tmp_path_factory.mktemp("quantised-cache"))
    built = {}
    for name in PASSES:
        variant = build_variant(tiny_model, parse_recipe(name), CPU, cache)
        built[name] = (variant, unet_output(variant.pipeline))
    return cache, built


def _expected_type(name: str, layer: torch.nn.Module) -> bool:
    if name in ("int8", "int8wo"):
        weight = layer.weight
        return (
            type(layer) is torch.nn.Linear
            and isinstance(weight, Int8Tensor)
            and weight.qdata.dtype == torch.int8
            and (weight.act_quant_kwargs is not None) == (name == "int8")
        )
    if name == "bnb8":
        return isinstance(layer, Linear8bitLt) and layer.weight.dtype == torch.int8
    return (
        isinstance(layer, Linear4bit)
        and layer.weight.dtype == torch.uint8
        and layer.weight.quant_type == "nf4"
    )


@pytest.mark.parametrize("name", PASSES)
def test_every_unet_linear_is_replaced_and_counted(quantised, tiny_model, name):
    variant, _ = quantised[1][name]
    unet = variant.pipeline.unet
    linears = [layer for layer in unet.modules() if isinstance(layer, torch.nn.Linear)]
    assert len(linears) == linear_count(tiny_model.pipeline.unet) > 50
    assert all(_expected_type(name, layer) for layer in linears)
    assert not any(is_plain_float_linear(layer) for layer in linears)
    # The text encoder (not chosen) stays float.
    assert all(
        is_plain_float_linear(m)
        for m in variant.pipeline.text_encoder.modules()
        if type(m) is torch.nn.Linear
    )
    check = variant.manifest["checks"][name]
    assert check["quantised_layers"] == len(linears) and check["skipped_layers"] == 0
    assert check["components"]["unet"]["float_linear_layers"] == 0
    assert check["quantised_bytes_ratio"] <= BYTE_TARGETS[name]


@pytest.mark.parametrize("name", PASSES)
def test_output_stays_close_to_fp32(quantised, tiny_model, name):
    _, output = quantised[1][name]
    reference = unet_output(tiny_model.pipeline)
    error = (output - reference).abs().max().item()
    assert 0 < error < 0.25 * reference.abs().max().item()


@pytest.mark.parametrize("name", PASSES)
def test_reload_is_bit_exact_and_does_not_requantise(quantised, tiny_model, name, monkeypatch):
    cache, built = quantised
    output = built[name][1]

    def refuse(*args, **kwargs):
        raise AssertionError("restoring a cached variant must not quantise")

    import bitsandbytes.functional
    import torchao.quantization

    monkeypatch.setattr(bitsandbytes.functional, "quantize_4bit", refuse)
    monkeypatch.setattr(bitsandbytes.functional, "int8_vectorwise_quant", refuse)
    monkeypatch.setattr(torchao.quantization, "quantize_", refuse)
    monkeypatch.setattr(Int8Tensor, "from_hp", refuse)
    reloaded = build_variant(tiny_model, parse_recipe(name), CPU, cache)
    monkeypatch.undo()  # int8's forward quantises activations with Int8Tensor.from_hp
    assert reloaded.cache_hit
    assert torch.equal(unet_output(reloaded.pipeline), output)
    files = sorted(path.name for path in reloaded_folder(cache, reloaded).iterdir())
    assert files == ["manifest.json", "text_encoder.safetensors", "unet.safetensors", "vae.safetensors"]


def reloaded_folder(cache: VariantCache, variant) -> Path:
    return cache.folder(variant.manifest["key"])


def test_size_on_disk_and_parameter_bytes_shrink(quantised, tiny_model, tmp_path):
    baseline = build_variant(tiny_model, parse_recipe("fp32"), CPU, VariantCache(tmp_path))
    built = quantised[1]
    fp32_param_bytes = pipeline_parameter_bytes(baseline.pipeline)
    for name, (variant, _) in built.items():
        check = variant.manifest["checks"][name]
        saved = check["fp32_bytes"] - check["quantised_bytes"]
        assert variant.size_bytes < baseline.size_bytes - 0.9 * saved, name
        assert pipeline_parameter_bytes(variant.pipeline) == pytest.approx(fp32_param_bytes - saved, rel=1e-6)
        assert variant.params == baseline.params  # nf4's packed weights count as their real shape


def test_manifest_and_file_metadata_describe_the_layers(quantised):
    cache, built = quantised
    variant, _ = built["nf4"]
    assert variant.manifest["format"] == "quantised/1"
    assert variant.manifest["quantised_layer_kinds"] == {
        "unet": {"nf4": variant.manifest["checks"]["nf4"]["quantised_layers"]}
    }
    from safetensors import safe_open

    with safe_open(str(reloaded_folder(cache, variant) / "unet.safetensors"), framework="pt") as handle:
        layers = json.loads(handle.metadata()["diffbench_quantised_layers"])
    assert {entry["kind"] for entry in layers.values()} == {"nf4"}


def test_components_and_layer_groups(tiny_model, cache):
    variant = build_variant(
        tiny_model, parse_recipe("int8wo(components=text_encoder-unet, layers=attention)"), CPU, cache
    )
    check = variant.manifest["checks"]["int8wo(components=unet-text_encoder,layers=attention)"]
    per = check["components"]
    # tiny-sd: 14 attention blocks x 4 projections in the UNet, 2 CLIP layers x 4 in the text encoder.
    assert per["unet"]["quantised_layers"] == 56 and per["text_encoder"]["quantised_layers"] == 8
    # The feed-forward and time-embedding Linears stay float, and are reported as such.
    assert per["unet"]["float_linear_layers"] == linear_count(tiny_model.pipeline.unet) - 56
    assert all(is_plain_float_linear(m) for m in variant.pipeline.vae.modules() if type(m) is torch.nn.Linear)


def test_bf16_then_int8_keeps_bf16_around_int8_layers(tiny_model, cache):
    variant = build_variant(tiny_model, parse_recipe("bf16+int8"), CPU, cache)
    unet = variant.pipeline.unet
    assert unet.conv_in.weight.dtype == torch.bfloat16
    weight = unet.time_embedding.linear_1.weight
    # The int8 weight reports (and dequantises to) bf16; torchao keeps its row scales in fp32.
    assert (
        isinstance(weight, Int8Tensor) and weight.dtype == torch.bfloat16 and weight.qdata.dtype == torch.int8
    )
    assert torch.isfinite(unet_output(variant.pipeline)).all()


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("int8(components=unet)", "int8"),
        ("INT8(components=vae-unet)", "int8(components=unet-vae)"),
        ("nf4(layers=ff-attention)", "nf4(layers=attention-ff)"),
        ("nf4(layers=attention-linear)", "nf4"),
        ("bnb8(threshold=0)", "bnb8(threshold=0)"),
        ("int8wo(components=all)", "int8wo(components=all)"),
    ],
)
def test_canonical_text(text, canonical):
    assert parse_recipe(text).canonical == canonical


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("int8(components=unett)", "components='unett' is not one of unet, transformer"),
        ("int8(components=all-vae)", "mixes 'all'"),
        ("nf4(layers=conv)", "layers='conv' is not one of linear, attention, ff"),
        ("bnb8(threshold=-1)", "threshold=-1.0 must be 0"),
        ("int8(bits=4)", "unknown argument 'bits'"),
    ],
)
def test_bad_arguments_are_one_line_errors(text, named):
    with pytest.raises(RecipeError) as error:
        parse_recipe(text)
    assert named in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("nf4+nf4", "unet is already 4-bit"),
        ("nf4+int8(components=all)", "unet is already 4-bit"),
        ("int8+int8wo", "unet is already 8-bit"),
        ("nf4+fp16", "fp16 after nf4: cast before quantising (fp16+nf4)"),
        ("int8+bf16", "bf16 after int8"),
    ],
)
def test_contradictory_recipes_are_refused_before_building(text, named, tiny_model, cache):
    recipe = parse_recipe(text)
    assert named in (recipe.unsupported_reason(CPU) or "")
    with pytest.raises(PassUnsupported):
        build_variant(tiny_model, recipe, CPU, cache)
    assert not list(cache.root.glob("*/manifest.json"))


def test_two_components_two_passes_are_allowed(tiny_model):
    assert parse_recipe("nf4+int8(components=text_encoder)").unsupported_reason(CPU) is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("int8(components=vae, layers=ff)", "no ff layer to quantise in vae"),
        ("nf4(components=text_encoder_2)", "this model has no component 'text_encoder_2'"),
    ],
)
def test_nothing_to_quantise_is_unsupported(text, named, tiny_model, cache):
    with pytest.raises(PassUnsupported, match=named):
        build_variant(tiny_model, parse_recipe(text), CPU, cache)
    assert not list(cache.root.glob("*/manifest.json"))


def test_missing_or_old_library_is_a_reason(monkeypatch):
    def version(package):
        if package == "torchao":
            raise libraries.metadata.PackageNotFoundError(package)
        return "0.40.0"

    monkeypatch.setattr(libraries.metadata, "version", version)
    missing = libraries.missing_feature.__wrapped__
    assert "torchao is not installed (pip install -c constraints.txt torchao==0.18.0)" in missing("torchao")
    assert "bitsandbytes 0.40.0 is older than 0.48.0" in missing("bitsandbytes")
    monkeypatch.setattr("optimize.quantisation.pass_base.missing_feature", lambda package: "gone")
    assert parse_recipe("int8").unsupported_reason(CPU) == "int8: gone"


def test_refused_layers_are_reported_not_hidden(tiny_model):
    import copy

    unet = copy.deepcopy(tiny_model.pipeline.unet)
    from bitsandbytes.nn import Int8Params

    def quantise_some(name: str, layer: torch.nn.Linear):
        if "ff." in name:
            raise ValueError("shape not supported")
        swapped = Linear8bitLt(
            layer.in_features, layer.out_features, bias=layer.bias is not None, has_fp16_weights=False
        )
        swapped.weight = Int8Params(layer.weight.data, requires_grad=False, has_fp16_weights=False)
        swapped.bias = layer.bias
        return swapped.to("cpu")

    report = quantise_component(unet, "linear", quantise_some)
    assert len(report.skipped_layers) == 14 and all(
        "shape not supported" in v for v in report.skipped_layers.values()
    )
    assert (
        report.quantised_layers == linear_count(unet) - 14 == linear_count(unet) - report.float_linear_layers
    )

    with pytest.raises(QuantisationMismatch, match="quantised 1 layer"):
        quantise_component(torch.nn.Sequential(torch.nn.Linear(4, 4)), "linear", lambda name, layer: None)
