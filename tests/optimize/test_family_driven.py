"""optimize (and the memory estimate) read what a pipeline's family declares, not what the
pipeline looks like: a family registered here with other declarations changes what prune,
the ONNX export, compile and the estimate do with the same tiny-sd pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest
import torch

from bench.profiles.estimate import estimate_pipeline
from models import load_model
from models.families import family_of, register
from models.families.base import REGISTERED, StagePlan
from models.families.stable_diffusion import VAE_DECODE, StableDiffusion
from optimize import PassError, PassUnsupported, parse_recipe
from optimize.export.build import refuse_unexportable
from optimize.export.compiled import compiled_modules
from optimize.passes import BuildContext
from optimize.pruning.targets import targets_for

CPU = torch.device("cpu")


class _Narrow(StableDiffusion):
    """A text-to-image family that prunes only its UNet and text encoder, plus a scope of its own
    for the VAE decoder; exports nothing, compiles the UNet alone and plans no text stage."""

    name = row_family = "narrow-test-family"
    fallback = False
    export_components = ()
    prune_scopes: ClassVar[dict[str, tuple[str, ...]]] = {
        "unet": ("unet",),
        "text": ("text_encoder",),
        "decoder": ("vae",),
    }
    compile_modules = ("unet",)
    stage_plan = StagePlan(denoiser="unet", timed_methods=(VAE_DECODE,))
    claimed: ClassVar[list[torch.nn.Module]] = []

    def claims(self, pipeline) -> bool:
        return any(pipeline.components.get("unet") is unet for unet in self.claimed)


@pytest.fixture(scope="module")
def pipelines() -> Iterator[tuple[object, object]]:
    """(tiny-sd as Stable Diffusion, a second tiny-sd that the narrow family claims)."""
    narrow = load_model("tiny-sd").pipeline
    _Narrow.claimed.append(narrow.unet)
    register(_Narrow)
    try:
        yield load_model("tiny-sd").pipeline, narrow
    finally:
        REGISTERED.pop(_Narrow.name)
        _Narrow.claimed.clear()


def test_the_family_decides_what_each_prune_scope_covers(pipelines) -> None:
    plain, narrow = pipelines
    assert family_of(narrow).name == _Narrow.name and family_of(plain).name == "stable-diffusion"
    assert [target.path for target in targets_for(plain, "vae")] == ["vae.decoder"]
    # The same recipe is refused on the narrow family's pipeline: its family has no vae scope.
    step = parse_recipe("prune(0.3,scope=vae)").passes[0]
    with pytest.raises(PassUnsupported, match=r"nothing prunable for scope='vae'.*accepted scopes: unet"):
        step.apply(narrow, BuildContext(device=CPU))
    # Its own scope names the VAE decoder, which Stable Diffusion does not know.
    assert [target.path for target in targets_for(narrow, "decoder")] == ["vae.decoder"]
    with pytest.raises(PassError, match=r"scope='decoder' is unknown; accepted by the stable-diffusion"):
        targets_for(plain, "decoder")
    accepted = r"accepted by the narrow-test-family family: unet, text, decoder$"
    with pytest.raises(PassError, match=r"scope='bogus' is unknown; " + accepted):
        targets_for(narrow, "bogus")


def test_export_compile_and_estimate_follow_the_family(pipelines) -> None:
    plain, narrow = pipelines
    refuse_unexportable(plain)  # Stable Diffusion exports its three components
    with pytest.raises(PassUnsupported, match=r"has no torch text_encoder, unet, vae to export"):
        refuse_unexportable(narrow)
    assert list(compiled_modules(plain)) == ["unet", "vae.decoder"]
    assert compiled_modules(plain)["vae.decoder"] is plain.vae.decoder
    assert compiled_modules(narrow) == {"unet": narrow.unet}
    stages = {
        name: [stage.name for stage in estimate_pipeline(pipeline.components, 64, 64, 2).stages]
        for name, pipeline in (("plain", plain), ("narrow", narrow))
    }
    assert stages == {"plain": ["text_encoder", "unet", "vae_decode"], "narrow": ["unet", "vae_decode"]}
