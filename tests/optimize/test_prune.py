"""The prune pass on tiny models: structure stays consistent, forward checked, bad input refused."""

from __future__ import annotations

import copy

import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import Attention
from diffusers.models.downsampling import Downsample2D
from diffusers.models.upsampling import Upsample2D

from optimize import PassError, RecipeError, parse_recipe
from optimize.passes import BuildContext
from optimize.pruning.channels import apply_cuts, build_graph, importance_criterion, plan_cuts
from optimize.pruning.structure import sync_cached_widths
from optimize.pruning.targets import PruneTarget, _attention_heads, _gated_projections

CPU = torch.device("cpu")


def pruned(pipeline, recipe: str, base=None):
    """Apply a recipe's passes to a copy, as build_variant does; returns (pipeline, checks)."""
    context = BuildContext(device=CPU, seed=0, base=base if base is not None else pipeline)
    built = copy.deepcopy(pipeline)
    for step in parse_recipe(recipe).passes:
        built = step.apply(built, context)
    return built, context.checks


@pytest.fixture(scope="module")
def tiny_pipeline():
    from models import load_model

    return load_model("tiny-sd").pipeline


@pytest.fixture(scope="module")
def pruned_unet(tiny_pipeline):
    return pruned(tiny_pipeline, "prune(0.3)")


def _head_width(module: Attention, original: Attention) -> int:
    return original.inner_dim // original.heads


def test_unet_heads_groups_and_cached_widths_stay_consistent(tiny_pipeline, pruned_unet):
    pipeline, checks = pruned_unet
    unet, original = pipeline.unet, tiny_pipeline.unet
    originals = dict(original.named_modules())
    attentions = [(n, m) for n, m in unet.named_modules() if isinstance(m, Attention)]
    assert attentions
    for name, attention in attentions:
        before = originals[name]
        head_width = _head_width(attention, before)
        # Whole heads only: the head width (and so SDPA's scale) is the original one.
        assert attention.to_q.out_features == attention.heads * head_width
        assert attention.to_k.out_features == attention.to_v.out_features == attention.heads * head_width
        assert attention.to_out[0].in_features == attention.heads * head_width
        assert 1 <= attention.heads < before.heads
        if attention.is_cross_attention:  # still reads the text encoder's full width
            assert attention.to_k.in_features == attention.to_v.in_features == before.to_k.in_features
    for module in unet.modules():
        if isinstance(module, torch.nn.GroupNorm):
            assert module.num_channels % module.num_groups == 0
            assert module.weight.shape[0] == module.num_channels
        if isinstance(module, Upsample2D | Downsample2D):
            assert module.channels == module.conv.in_channels
            assert module.out_channels == module.conv.out_channels
    (entry,) = checks["prune"]
    assert entry["forward_check"]["ok"] is True
    assert entry["params_after"] < 0.8 * entry["params_before"]
    assert entry["macs_after"] < 0.8 * entry["macs_before"]


def test_pruned_unet_runs_in_the_pipeline(pruned_unet):
    pipeline, _ = pruned_unet
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        images = pipeline(
            prompt="a cat", height=64, width=64, num_inference_steps=2, generator=generator, output_type="np"
        ).images
    assert images.shape == (1, 64, 64, 3)
    assert torch.isfinite(torch.from_numpy(images)).all()


def test_pruning_zeroed_heads_and_gated_channels_changes_nothing():
    """Heads and GEGLU channel pairs that contribute nothing are what magnitude pruning removes;
    if heads or (value, gate) pairs were cut inconsistently the output would change."""
    torch.manual_seed(0)
    block = BasicTransformerBlock(dim=32, num_attention_heads=4, attention_head_dim=8, cross_attention_dim=16)
    block.eval()
    with torch.no_grad():
        for attention in (block.attn1, block.attn2):
            for linear in (attention.to_q, attention.to_k, attention.to_v):
                linear.weight[8:16] = 0  # head 1
            attention.to_out[0].weight[:, 8:16] = 0
        projection = block.ff.net[0].proj
        half = projection.out_features // 2
        dead = torch.arange(0, half, 4)
        for rows in (dead, dead + half):
            projection.weight[rows] = 0
            projection.bias[rows] = 0
        block.ff.net[2].weight[:, dead] = 0

    def sample(batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {
            "hidden_states": torch.randn(batch, 16, 32, generator=generator),
            "encoder_hidden_states": torch.randn(batch, 7, 16, generator=generator),
        }

    heads, frozen = _attention_heads(block)
    target = PruneTarget(
        path="block",
        module=block,
        example_inputs=sample(1, torch.Generator().manual_seed(1)),
        sample_inputs=sample,
        keep_width=[block.ff.net[2]],  # the residual width is the block's interface
        heads=heads,
        frozen_heads=frozen,
        paired_halves=_gated_projections(block),
        call=lambda module, inputs: module(**inputs),
    )
    with torch.no_grad():
        reference = target.call(block, target.example_inputs)
    graph = build_graph(target)
    apply_cuts(graph, plan_cuts(target, graph, 0.25, importance_criterion("magnitude"), 8, seed=0))
    sync_cached_widths(block)
    assert block.attn1.heads == block.attn2.heads == 3
    assert block.ff.net[0].proj.out_features == 2 * 96
    with torch.no_grad():
        output = target.call(block, target.example_inputs)
    torch.testing.assert_close(output, reference, rtol=1e-5, atol=1e-5)


def test_unet2dmodel_with_attention_blocks_prunes_whole_heads():
    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=16,
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        norm_num_groups=8,
        attention_head_dim=8,
    ).eval()
    pipeline = DDPMPipeline(unet=unet, scheduler=DDPMScheduler())
    built, checks = pruned(pipeline, "prune(0.4)")
    heads_after = [m.heads for m in built.unet.modules() if isinstance(m, Attention)]
    heads_before = [m.heads for m in unet.modules() if isinstance(m, Attention)]
    assert heads_after and all(a < b for a, b in zip(heads_after, heads_before, strict=True))
    for module in built.unet.modules():
        if isinstance(module, Attention):
            assert module.to_q.out_features == module.heads * 8
        if isinstance(module, torch.nn.GroupNorm):
            assert module.num_channels % module.num_groups == 0
    assert checks["prune"][0]["forward_check"]["ok"]
    with torch.inference_mode():
        out = built.unet(torch.randn(1, 3, 16, 16), 10).sample
    assert out.shape == (1, 3, 16, 16)


def test_vae_decoder_and_text_encoder_scopes(tiny_pipeline):
    vae_built, vae_checks = pruned(tiny_pipeline, "prune(0.3,scope=vae)")
    assert vae_checks["prune"][0]["module"] == "vae.decoder"
    assert vae_checks["prune"][0]["params_after"] < vae_checks["prune"][0]["params_before"]
    # The encoder is untouched; the decoder still returns RGB at full size.
    assert sum(p.numel() for p in vae_built.vae.encoder.parameters()) == sum(
        p.numel() for p in tiny_pipeline.vae.encoder.parameters()
    )
    with torch.inference_mode():
        decoded = vae_built.vae.decode(torch.randn(1, 4, 8, 8)).sample
    assert decoded.shape == (1, 3, 64, 64)

    text_built, text_checks = pruned(tiny_pipeline, "prune(0.5,scope=text)")
    assert text_checks["prune"][0]["params_after"] < text_checks["prune"][0]["params_before"]
    ids = torch.zeros(1, 77, dtype=torch.long)
    with torch.inference_mode():
        hidden = text_built.text_encoder(ids).last_hidden_state
    # The width the UNet's cross-attention reads is intact.
    assert hidden.shape[-1] == tiny_pipeline.text_encoder.config.hidden_size


def test_taylor_importance_and_recovery_record_their_curve(tiny_pipeline, monkeypatch):
    monkeypatch.setattr("optimize.pruning.recovery.TAYLOR_BATCHES", 1)  # the path, not the statistics
    _, checks = pruned(tiny_pipeline, "prune(0.3,importance=taylor,recover=2)")
    recovery = checks["prune"][0]["recovery"]
    assert recovery["steps"] == 2 and recovery["finite"]
    assert recovery["loss_first"] > 0
    assert checks["prune"][0]["forward_check_after_recovery"]["ok"]


def test_a_pruning_that_breaks_the_forward_is_a_build_error(tiny_pipeline, monkeypatch):
    # Without re-syncing cached widths, diffusers' Downsample2D asserts on its input width.
    monkeypatch.setattr("optimize.passes.prune.sync_cached_widths", lambda module: None)
    with pytest.raises(PassError, match="fails its forward check"):
        pruned(tiny_pipeline, "prune(0.3)")


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ("prune(1.5)", r"ratio=1.5 is outside \(0.0, 1.0\)"),
        ("prune(0)", r"ratio=0.0 is outside \(0.0, 1.0\)"),
        ("prune(-0.2)", r"ratio=-0.2 is outside"),
        ("prune(0.3,importance=l1)", r"importance='l1' is not one of magnitude, taylor, random"),
        ("prune(0.3,scope=controlnet)", r"scope='controlnet' is not one of unet, vae, text"),
        ("prune(0.3,recover=-1)", r"recover=-1 must be 0 or more"),
        ("prune(0.3,round_to=0)", r"round_to=0 must be 1 or more"),
        ("prune", r"missing required argument 'ratio'"),
    ],
)
def test_bad_arguments_are_one_line_errors(recipe, message):
    with pytest.raises(RecipeError, match=message) as caught:
        parse_recipe(recipe)
    assert "\n" not in str(caught.value)


def test_a_ratio_that_empties_a_layer_names_the_accepted_range(tiny_pipeline):
    with pytest.raises(
        PassError, match=r"ratio=0.95 would leave .* with 0 of .*accepted for unet: a ratio in \(0, "
    ) as caught:
        pruned(tiny_pipeline, "prune(0.95)")
    assert "\n" not in str(caught.value)


def test_nothing_prunable_and_wrong_order_are_refused():
    unet = UNet2DModel(
        sample_size=8,
        block_out_channels=(32, 32),
        norm_num_groups=8,
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    pipeline = DDPMPipeline(unet=unet, scheduler=DDPMScheduler())
    with pytest.raises(PassError, match=r"nothing prunable for scope='vae'.*accepted scopes"):
        pruned(pipeline, "prune(0.3,scope=vae)")
    reason = parse_recipe("bf16+prune(0.3)").unsupported_reason(CPU)
    assert reason is not None and "prune(0.3)+bf16" in reason
    assert parse_recipe("prune(0.3)+bf16").unsupported_reason(CPU) is None
