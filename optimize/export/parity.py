"""Exported graph vs torch on the same recorded inputs: max absolute and relative error.

The torch outputs are computed once at export and kept with the exported module, so a later
pass (ORT optimisation, int8, a TensorRT engine) is also checked against torch, not against
the graph it was made from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from optimize.errors import PassError
from optimize.export.graphs import SPECS
from optimize.export.modules import Runner
from optimize.export.recording import Inputs

# Bounds on `parity`'s max_rel (error over the output's range) beyond which a build is broken,
# not rounded differently. fp16 keeps 11 significant bits (~5e-4 per op) and its overflow-prone
# ops in fp32 (fp16.py): a sound graph stays near 1e-2; an overflow gives inf/NaN or O(1).
# (tiny-sd's fp16 graphs run by ORT on a CPU: 5e-4 to 6e-3.) int8 static Q/DQ on the UNet:
# tiny-sd gives 0.025 (ORT's uint8) and 0.053 (TensorRT's symmetric int8); a broken range is O(1).
TOLERANCES = {"fp32": 1e-2, "fp16": 5e-2, "int8": 0.25}


@dataclass(frozen=True)
class ParityCase:
    inputs: Inputs
    expected: tuple[torch.Tensor, ...]


def torch_references(component: str, module: torch.nn.Module, samples: list[Inputs]) -> list[ParityCase]:
    graph = SPECS[component].wrapper(module).eval()
    cases = []
    for sample in samples:
        with torch.inference_mode():
            expected = graph(*(sample[name] for name in SPECS[component].inputs))
        expected = expected if isinstance(expected, tuple) else (expected,)
        cases.append(ParityCase(sample, tuple(e.detach().float().cpu() for e in expected)))
    return cases


def parity(runner: Runner, cases: list[ParityCase]) -> dict[str, Any]:
    """Over every output of every case: max |a - b|, and that over max |b| (a relative error
    that doesn't explode where the reference crosses zero)."""
    max_abs = 0.0
    max_ref = 0.0
    for case in cases:
        got = runner.run(case.inputs, [tuple(e.shape) for e in case.expected])
        for want, have in zip(case.expected, got, strict=True):
            have = have.detach().float().cpu()
            max_abs = max(max_abs, float((want - have).abs().max()))
            max_ref = max(max_ref, float(want.abs().max()))
    relative = max_abs / max_ref if max_ref > 0 else (float("inf") if max_abs > 0 else 0.0)
    return {"max_abs": max_abs, "max_rel": relative, "samples": len(cases)}


def require_parity(what: str, component: str, check: dict[str, Any], precision: str) -> None:
    """PassError (one line) when `check` is outside the bound for `precision`; NaN fails too."""
    bound = TOLERANCES[precision]
    if not check["max_rel"] <= bound:
        raise PassError(
            f"{what}: {component} in {precision} does not match torch: max relative error "
            f"{check['max_rel']:.3g} > {bound} (max abs {check['max_abs']:.3g}); "
            "refusing to time a wrong model"
        )
