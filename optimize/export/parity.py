"""Exported graph vs torch on the same recorded inputs: max absolute and relative error.

The torch outputs are computed once at export and kept with the exported module, so a later
pass (ORT optimisation, int8, a TensorRT engine) is also checked against torch, not against
the graph it was made from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from optimize.export.graphs import SPECS
from optimize.export.modules import Runner
from optimize.export.recording import Inputs


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
