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

A quantised Linear (torchao int8, bitsandbytes LLM.int8 and NF4) does the same multiply-
accumulates as the float layer it replaced, but through kernels the counter has no formula for
(`_int_mm`, bitsandbytes' ops) or that cannot run on meta at all. While counting, each one is
swapped for a float Linear of the same shape on meta, so a recipe's MACs match its baseline's;
what quantisation changes is the bytes moved, reported apart (`param_mb`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from optimize.quantisation.layers import kind_of

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


class _DenseStandIn(torch.nn.Linear):
    """A float Linear on meta in a quantised layer's place: same shape, so the same MACs."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(input.dtype)
        return torch.nn.functional.linear(input, self.weight.to(input.dtype), bias)


def maybe_quantised_linear(layer: torch.nn.Module) -> bool:
    """A cheap filter before asking the quantisation kinds (which import their libraries)."""
    if not isinstance(layer, torch.nn.Linear):
        return False
    return type(layer) is not torch.nn.Linear or type(layer.weight) not in (torch.Tensor, torch.nn.Parameter)


@contextlib.contextmanager
def dense_stand_ins(module: torch.nn.Module) -> Iterator[int]:
    """Swap every quantised Linear inside `module` for a meta float one while the block runs."""
    swaps: list[tuple[torch.nn.Module, str, torch.nn.Module]] = []
    for name, layer in list(module.named_modules()):
        if not name or not maybe_quantised_linear(layer) or kind_of(layer) is None:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name)
        stand_in = _DenseStandIn(
            layer.in_features, layer.out_features, bias=layer.bias is not None, device="meta"
        )
        swaps.append((parent, child, layer))
        setattr(parent, child, stand_in)
    try:
        yield len(swaps)
    finally:
        for parent, child, layer in reversed(swaps):
            setattr(parent, child, layer)


def count_macs(
    module: torch.nn.Module, make_inputs: Callable[[], dict[str, Any]], call: Callable[..., Any]
) -> int:
    """MACs of `call(module, **make_inputs())`, traced without real arithmetic.

    `make_inputs` builds plain tensors (torch.zeros(...)); they are created on the meta device
    (or as fake tensors), so their values never matter, only their shapes and dtypes.
    """
    with dense_stand_ins(module):
        try:
            return _count_on_meta(module, make_inputs, call)
        except (RuntimeError, NotImplementedError, TypeError):
            return _count_on_fake(module, make_inputs, call)
