"""Multiply-accumulates of one module call, counted by torch.utils.flop_counter.

Counting runs the call on the meta device (shapes only, no arithmetic): the module's weights
are swapped for meta stand-ins with torch.func.functional_call, never copied. A module that
cannot run on meta (one that builds CPU tensors of its own mid-forward) is counted on fake
tensors instead, which is slower but equally exact. FlopCounterMode counts matmuls,
convolutions and attention (on meta, SDPA decomposes into the two matmuls); on CPU,
scaled_dot_product_attention dispatches to `_scaled_dot_product_flash_attention_for_cpu`,
which torch 2.13's counter has no formula for (it counts 0), so the standard SDPA formula
(two batched matmuls: QK^T and AV) is mapped onto it here. Element-wise work (norms,
activations, softmax) is not counted: by convention MACs are the dense products only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

_aten = torch.ops.aten


def _cpu_sdpa_flops(
    query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    return sdpa_flop_count(query, key, value)


_EXTRA_FORMULAS = {_aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops}


def count_flops(run: Callable[[], Any]) -> int:
    """FLOPs of everything `run` does (2 FLOPs per multiply-accumulate), on real tensors."""
    with FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS) as counter, torch.inference_mode():
        run()
    return int(counter.get_total_flops())


class _Call(torch.nn.Module):
    """`call(module, **inputs)` as a forward, so functional_call can swap the module's tensors."""

    def __init__(self, module: torch.nn.Module, call: Callable[..., Any]) -> None:
        super().__init__()
        self.inner = module
        self.call = call

    def forward(self, **inputs: Any) -> Any:
        return self.call(self.inner, **inputs)


def _count_on_meta(
    module: torch.nn.Module, make_inputs: Callable[[], dict[str, Any]], call: Callable[..., Any]
) -> int:
    wrapper = _Call(module, call)
    stand_ins = {
        name: torch.empty_like(tensor, device="meta")
        for name, tensor in [*wrapper.named_parameters(), *wrapper.named_buffers()]
    }
    with torch.device("meta"):
        inputs = make_inputs()
    return count_flops(lambda: functional_call(wrapper, stand_ins, (), inputs)) // 2


def _count_on_fake(
    module: torch.nn.Module, make_inputs: Callable[[], dict[str, Any]], call: Callable[..., Any]
) -> int:
    with FakeTensorMode(allow_non_fake_inputs=True):
        inputs = make_inputs()
        return count_flops(lambda: call(module, **inputs)) // 2


def count_macs(
    module: torch.nn.Module, make_inputs: Callable[[], dict[str, Any]], call: Callable[..., Any]
) -> int:
    """MACs of `call(module, **make_inputs())`, traced without real arithmetic.

    `make_inputs` builds plain tensors (torch.zeros(...)); they are created on the meta device
    (or as fake tensors), so their values never matter, only their shapes and dtypes.
    """
    try:
        return _count_on_meta(module, make_inputs, call)
    except (RuntimeError, NotImplementedError, TypeError):
        return _count_on_fake(module, make_inputs, call)
