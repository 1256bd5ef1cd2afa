"""prune(ratio, importance, scope, round_to, recover): structured pruning with torch-pruning.

Removes whole channels and whole attention heads from the UNet (UNet2DConditionModel or
UNet2DModel), the VAE decoder, or the text encoder(s), so dense kernels really get cheaper;
which components a scope covers is the pipeline's family's `prune_scopes` (models/families).
The pruned model must pass a forward check (same output shape, finite) at build time;
`recover=N` then runs N distillation steps from the unpruned model (BuildContext.base).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from diffusers import DiffusionPipeline

from optimize.errors import PassError, RecipeError
from optimize.formats.names import PRUNED_FORMAT
from optimize.macs import count_macs
from optimize.passes.base import BuildContext, Param, Pass
from optimize.passes.registry import register
from optimize.pruning.channels import IMPORTANCES, apply_cuts, build_graph, importance_criterion, plan_cuts
from optimize.pruning.persist import module_at
from optimize.pruning.recovery import accumulate_taylor_gradients, clear_gradients, distill
from optimize.pruning.structure import sync_cached_widths
from optimize.pruning.targets import SCOPES, PruneTarget, targets_for


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _macs(target: PruneTarget) -> int:
    example = target.example_inputs
    return count_macs(target.module, lambda: _zeros_like(example), lambda m, **i: target.call(m, i))


def _zeros_like(value: Any) -> Any:
    """Zeros of the same shapes and dtypes (count_macs builds them on the meta device)."""
    if isinstance(value, torch.Tensor):
        return torch.zeros(value.shape, dtype=value.dtype)
    if isinstance(value, dict):
        return {key: _zeros_like(item) for key, item in value.items()}
    return value


def forward_check(target: PruneTarget, expected_shape: torch.Size) -> dict[str, Any]:
    """The pruned module runs, keeps its output shape and gives finite values; else a PassError."""
    try:
        with torch.inference_mode():
            output = target.call(target.module, target.example_inputs)
    except Exception as error:
        raise PassError(
            f"prune: the pruned {target.path} fails its forward check: {error}".splitlines()[0]
        ) from error
    if output.shape != expected_shape:
        raise PassError(
            f"prune: the pruned {target.path} returns shape {tuple(output.shape)}, "
            f"expected {tuple(expected_shape)}"
        )
    if not torch.isfinite(output).all():
        raise PassError(f"prune: the pruned {target.path} returns NaN or inf in its forward check")
    return {"ok": True, "shape": list(output.shape)}


@register
class Prune(Pass):
    name = "prune"
    summary = "structured pruning: whole channels and attention heads (torch-pruning), optional distillation"
    params = (
        Param("ratio", float, low=0.0, high=1.0),
        Param("importance", str, "magnitude", choices=IMPORTANCES),
        Param("scope", str, "unet", choices=SCOPES),
        Param("round_to", int, 8),
        Param("recover", int, 0),
    )
    output_format = PRUNED_FORMAT
    # tune varies the ratio alone (magnitude importance, the UNet, no recovery): taylor needs
    # backward passes and recover=N distillation steps, minutes more build per candidate; the
    # UNet is the component every denoising step runs.
    tune_stage = "structure"
    tune_grid = ({"ratio": 0.1}, {"ratio": 0.2}, {"ratio": 0.3})

    def __init__(self, **arguments: Any) -> None:
        super().__init__(**arguments)
        if arguments["round_to"] < 1:
            raise RecipeError(
                f"prune: round_to={arguments['round_to']} must be 1 or more (channels per step)"
            )
        if arguments["recover"] < 0:
            raise RecipeError(f"prune: recover={arguments['recover']} must be 0 or more (distillation steps)")

    def unsupported_reason(self, device: torch.device, earlier: list[Pass]) -> str | None:
        for step in earlier:
            if step.sets_dtype not in (None, torch.float32):
                return f"prune after {step.name}: prune the float32 model first, e.g. prune(0.3)+{step.name}"
            if step.output_format not in (None, PRUNED_FORMAT):
                return f"prune after {step.name}: prune before passes that change how weights are stored"
        return None

    def apply(self, pipeline: DiffusionPipeline, context: BuildContext) -> DiffusionPipeline:
        args = self.arguments
        report = context.checks.setdefault("prune", [])
        for target in targets_for(pipeline, args["scope"]):
            report.append(self._prune_target(pipeline, target, context))
        return pipeline

    def _prune_target(
        self, pipeline: DiffusionPipeline, target: PruneTarget, context: BuildContext
    ) -> dict[str, Any]:
        args = self.arguments
        started = time.perf_counter()
        module = target.module
        params_before, macs_before = _parameters(module), _macs(target)
        with torch.inference_mode():
            expected_shape = target.call(module, target.example_inputs).shape
        if args["importance"] == "taylor":
            accumulate_taylor_gradients(target, pipeline, context.seed)
        graph = build_graph(target)
        cuts = plan_cuts(
            target,
            graph,
            args["ratio"],
            importance_criterion(args["importance"]),
            args["round_to"],
            context.seed,
        )
        apply_cuts(graph, cuts)
        del graph
        clear_gradients(module)
        sync_cached_widths(module)
        check = forward_check(target, expected_shape)
        entry: dict[str, Any] = {
            "pass": self.canonical(),
            "module": target.path,
            "params_before": params_before,
            "params_after": _parameters(module),
            "macs_before": macs_before,
            "macs_after": _macs(target),
            "macs_at": {
                key: list(value.shape)
                for key, value in target.example_inputs.items()
                if hasattr(value, "shape")
            },
            "groups_cut": len(cuts),
            "forward_check": check,
            "prune_s": time.perf_counter() - started,
        }
        if args["recover"]:
            if context.base is None:
                raise PassError(
                    "prune: recover needs the unpruned model as teacher (BuildContext.base is None)"
                )
            teacher = module_at(context.base, target.path)
            recovery_started = time.perf_counter()
            entry["recovery"] = distill(target, teacher, args["recover"], context.seed)
            entry["recovery"]["seconds"] = time.perf_counter() - recovery_started
            entry["forward_check_after_recovery"] = forward_check(target, expected_shape)
        return entry
