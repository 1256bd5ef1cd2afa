"""Moving a built variant to its device moves every tensor it computes with, library state included.

bitsandbytes' Linear8bitLt keeps its int8 rows in `state.CB`/`state.SCB` after its first forward
and moves them only in its own `.to`; the first GPU run found a CPU-built bnb8 variant failing on
CUDA with "Expected a cuda device, but got: cpu" because a parent's `.to` leaves them behind.
"""

from __future__ import annotations

import pytest
import torch

from optimize.components import to_device

bnb = pytest.importorskip("bitsandbytes")
from bitsandbytes.autograd._functions import MatmulLtState  # noqa: E402


class _Pipeline:
    """The part of a DiffusionPipeline that to_device reads."""

    def __init__(self, **components: torch.nn.Module) -> None:
        self.components = components


class _LayerWithInt8State(torch.nn.Linear):
    """A layer carrying bitsandbytes' real state object, as Linear8bitLt does after a forward."""

    def __init__(self) -> None:
        super().__init__(32, 16)
        self.state = MatmulLtState()
        self.state.CB = torch.zeros(16, 32, dtype=torch.int8)
        self.state.SCB = torch.ones(16)


def test_library_state_follows_the_component() -> None:
    unet = torch.nn.Sequential(_LayerWithInt8State())
    to_device(_Pipeline(unet=unet), torch.device("meta"))
    layer = unet[0]
    assert layer.weight.device.type == "meta"
    assert layer.state.CB.device.type == "meta"
    assert layer.state.SCB.device.type == "meta"


def _int8_module() -> torch.nn.Module:
    layer = torch.nn.Linear(32, 16)
    swapped = bnb.nn.Linear8bitLt(32, 16, has_fp16_weights=False, threshold=6.0, device="meta")
    swapped.weight = bnb.nn.Int8Params(layer.weight.data, requires_grad=False, has_fp16_weights=False)
    swapped.bias = torch.nn.Parameter(layer.bias.data, requires_grad=False)
    return torch.nn.Sequential(swapped.to("cpu"))


NEEDS_CUDA = "needs a CUDA device (bitsandbytes' int8 CUDA kernels)"


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NEEDS_CUDA)
def test_a_cpu_checked_int8_layer_runs_on_cuda_after_to_device() -> None:
    unet = _int8_module()
    unet(torch.randn(2, 32))  # the first forward moves the int8 rows from the weight into `state`
    assert unet[0].state.CB is not None and unet[0].weight.CB is None
    device = torch.device("cuda")
    to_device(_Pipeline(unet=unet), device)
    assert unet[0].state.CB.device.type == "cuda"
    out = unet(torch.randn(2, 32, device=device, dtype=torch.float16))
    assert out.device.type == "cuda" and torch.isfinite(out).all()
