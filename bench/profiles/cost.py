"""FLOPs, bytes moved and peak live memory of one forward pass, traced on the meta device.

The module runs with its parameters swapped for meta tensors (shapes and dtypes, no data), so
tracing an SDXL UNet at 1024x1024 costs seconds and no memory. A TorchDispatchMode sees every
aten op that runs:

- FLOPs: torch.utils.flop_counter's formulas (the registry FlopCounterMode uses), per op, so
  that each op can be put on a roofline of its own (matrix ops are compute-bound, norms and
  elementwise ops bandwidth-bound). Their sum / 2 is the call's MACs, the same figure
  FlopCounterMode gives (optimize/macs.py), so one trace serves the row's MAC count too
  (bench/instruments/meta_trace.py).
- bytes: every op reads its tensor inputs and writes its new outputs once (eager PyTorch, no
  fusion); views move nothing.
- live memory: an op output whose storage is new is an allocation (rounded up to the CUDA
  caching allocator's 512-byte blocks); a finalizer on its storage frees it when the last
  tensor using it dies, exactly when the allocator would get it back. The running sum's
  maximum is the activation peak. Weights are not counted here (they exist before the trace).
- attention: `F.scaled_dot_product_attention` on meta would take the math path and
  materialise the full attention matrix, which no GPU does in PyTorch 2 (flash or
  memory-efficient kernels on sm_75+, flash on CPU). A TorchFunctionMode routes it to the
  fused memory-efficient kernel's meta implementation, whose FLOPs the registry counts.

Kernel workspaces (cuBLAS, cuDNN) are not tensors and are not seen; the estimate adds an
allowance for them (estimate.py).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

ALLOCATION_BLOCK = 512  # bytes; the CUDA caching allocator rounds every allocation up to this


def _rounded(nbytes: int) -> int:
    return -(-nbytes // ALLOCATION_BLOCK) * ALLOCATION_BLOCK


def tensor_bytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def tensor_shapes(tree: Any) -> tuple[tuple[int, ...], ...]:
    """The shape of every tensor in a call's arguments (nested tuples, lists and dicts)."""
    return tuple(tuple(leaf.shape) for leaf in pytree.tree_leaves(tree) if isinstance(leaf, torch.Tensor))


@dataclass
class OpCost:
    flops: float
    bytes: float
    dtype: str  # compute dtype of a matrix op (its first input), e.g. "float16"


@dataclass
class Trace:
    """Everything one traced call cost."""

    ops: list[OpCost] = field(default_factory=list)
    peak_bytes: int = 0  # peak of live activation bytes during the call (allocator-rounded)
    live_bytes: int = 0  # activation bytes still alive when the trace ended (the outputs)

    @property
    def flops(self) -> float:
        return sum(op.flops for op in self.ops)

    @property
    def bytes(self) -> float:
        return sum(op.bytes for op in self.ops)

    @property
    def matrix_ops(self) -> int:
        return sum(1 for op in self.ops if op.flops > 0)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the call: the counter's FLOPs / 2, summed as integers so that
        the figure is exactly FlopCounterMode's (each op's count is an integer held in a float)."""
        return sum(int(op.flops) for op in self.ops) // 2


def _is_inplace(func: torch._ops.OpOverload) -> bool:
    return any(arg.alias_info is not None and arg.alias_info.is_write for arg in func._schema.arguments)


class _CostMode(TorchDispatchMode):
    def __init__(self, trace: Trace) -> None:
        super().__init__()
        self.trace = trace
        self._live: dict[int, int] = {}  # id(storage) -> rounded bytes, while the storage lives

    def _free(self, key: int) -> None:
        self.trace.live_bytes -= self._live.pop(key, 0)

    def _allocate(self, storage: torch.UntypedStorage) -> None:
        key = id(storage)
        if key in self._live:
            return
        size = _rounded(storage.nbytes())
        self._live[key] = size
        # Storage objects are preserved while the storage lives, so this fires at its real death.
        weakref.finalize(storage, self._free, key)
        self.trace.live_bytes += size
        self.trace.peak_bytes = max(self.trace.peak_bytes, self.trace.live_bytes)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func._overloadpacket not in flop_registry:
            # As FlopCounterMode does: a composite op (aten.linear under inference mode)
            # decomposes into ops the registry knows (addmm), which come back through this mode.
            with self:
                result = func.decompose(*args, **kwargs)
            if result is not NotImplemented:
                return result
        out = func(*args, **kwargs)
        inputs = [t for t in pytree.tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        outputs = [t for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
        input_storages = {id(t.untyped_storage()) for t in inputs}
        new_outputs = [t for t in outputs if id(t.untyped_storage()) not in input_storages]
        for tensor in new_outputs:
            self._allocate(tensor.untyped_storage())
        written = new_outputs + (outputs if _is_inplace(func) else [])
        if written:  # a pure view moves no data
            moved = sum(tensor_bytes(t) for t in inputs) + sum(tensor_bytes(t) for t in written)
            flops = 0.0
            packet = func._overloadpacket
            if packet in flop_registry:
                flops = float(flop_registry[packet](*args, **kwargs, out_val=out))
            dtype = str(inputs[0].dtype if inputs else outputs[0].dtype).removeprefix("torch.")
            self.trace.ops.append(OpCost(flops=flops, bytes=float(moved), dtype=dtype))
        return out


def _fused_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor:
    """What a GPU runs for SDPA: one fused kernel, the output its only allocation."""
    batch_shape = query.shape[:-2]

    def as_4d(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.reshape(-1, 1, *tensor.shape[-2:]) if tensor.dim() != 4 else tensor

    if enable_gqa and key.shape[-3] != query.shape[-3]:
        repeats = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(repeats, dim=-3)
        value = value.repeat_interleave(repeats, dim=-3)
    bias = None
    if attn_mask is not None and attn_mask.dtype != torch.bool:
        bias = attn_mask.to(query.dtype).expand(*query.shape[:-1], key.shape[-2])
        bias = bias if bias.dim() == 4 else bias.reshape(-1, 1, *bias.shape[-2:])
    out = torch.ops.aten._scaled_dot_product_efficient_attention(
        as_4d(query), as_4d(key), as_4d(value), bias, False, dropout_p, is_causal, scale=scale
    )[0]
    return out.reshape(*batch_shape, *out.shape[-2:])


class _FusedAttentionMode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            return _fused_attention(*args, **kwargs)
        return func(*args, **kwargs)


def meta_state(module: torch.nn.Module, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Meta stand-ins for every parameter and buffer (tied ones included), optionally recast."""
    state: dict[str, torch.Tensor] = {}
    named = [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]
    for name, tensor in named:
        cast = dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype
        state[name] = torch.empty(tensor.shape, dtype=cast, device="meta")
    return state


def trace_call(function: Callable[[], Any]) -> Trace:
    """Run `function` (which builds its own meta inputs) under the cost and attention modes."""
    trace = Trace()
    with torch.inference_mode(), _FusedAttentionMode(), _CostMode(trace):
        result = function()
        del result  # outputs die inside the trace, so `live_bytes` returns to what leaked
    return trace
