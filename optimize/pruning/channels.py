"""Structured channel and head pruning of one target with torch-pruning's DependencyGraph.

torch-pruning finds the coupled groups (a conv's output channels, the next GroupNorm, every
layer that reads them through residual adds and skip concatenations); the choice of what to
remove is made here, in two phases so that a bad ratio fails before anything is cut:

1. plan: score every group with the importance criterion and pick the channels to drop,
   - whole heads for attention groups (the head width, and so SDPA's scale, never changes),
   - the same channels in every GroupNorm group, and a kept width that is a multiple of
     both the number of groups and `round_to` (torch-pruning 1.6.1's own `round_to` counts
     per-group channels against the layer's total and empties grouped layers);
2. apply: prune the planned groups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch_pruning as tp
from torch import nn

from optimize.errors import PassError
from optimize.pruning.targets import PruneTarget

IMPORTANCES = ("magnitude", "taylor", "random")


def importance_criterion(name: str) -> tp.importance.Importance:
    if name == "magnitude":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if name == "taylor":
        return tp.importance.GroupTaylorImportance()
    if name == "random":
        return tp.importance.RandomImportance()
    raise PassError(f"prune: importance={name!r} is unknown; accepted: {', '.join(IMPORTANCES)}")


@dataclass
class PlannedCut:
    layer: str  # the group's root layer, for messages and the manifest
    root: nn.Module
    handler: object
    indices: list[int]
    width_before: int
    width_after: int


def build_graph(target: PruneTarget) -> tp.DependencyGraph:
    """Trace the target once; torch-pruning follows autograd, so gradients must be on while tracing."""
    wanted = {parameter: parameter.requires_grad for parameter in target.module.parameters()}
    target.module.requires_grad_(True)
    try:
        return tp.DependencyGraph().build_dependency(
            target.module, example_inputs=target.example_inputs, forward_fn=target.call
        )
    finally:
        for parameter, flag in wanted.items():
            parameter.requires_grad_(flag)


def _channel_groups(graph: tp.DependencyGraph, group: tp.Group, target: PruneTarget) -> int:
    """GroupNorm, grouped convs and gated MLPs split channels into equal groups that must stay equal."""
    counts = [1]
    for dep, _ in group:
        layer = dep.target.module
        if layer in target.paired_halves and graph.is_out_channel_pruning_fn(dep.handler):
            counts.append(2)
            continue
        pruner = graph.get_pruner_of_module(layer)
        if pruner is None or (isinstance(layer, nn.Conv2d | nn.Linear) and getattr(layer, "groups", 1) == 1):
            continue
        if graph.is_out_channel_pruning_fn(dep.handler):
            counts.append(pruner.get_out_channel_groups(layer) or 1)
        else:
            counts.append(pruner.get_in_channel_groups(layer) or 1)
    return max(counts)


def _attention_projections(
    graph: tp.DependencyGraph, group: tp.Group, target: PruneTarget
) -> list[nn.Module]:
    return [
        dep.target.module
        for dep, _ in group
        if graph.is_out_channel_pruning_fn(dep.handler)
        and (dep.target.module in target.heads or dep.target.module in target.frozen_heads)
    ]


def _reroot_on_output_projection(graph: tp.DependencyGraph, group: tp.Group) -> tp.Group | None:
    """Index an attention group by the output projection's input, laid out head by head."""
    for dep, _ in group:
        if isinstance(dep.target.module, nn.Linear | nn.Conv2d) and graph.is_in_channel_pruning_fn(
            dep.handler
        ):
            width = graph.get_in_channels(dep.target.module)
            return graph.get_pruning_group(dep.target.module, dep.handler, list(range(width)))
    return None


class _EmptiedLayer(Exception):
    """The ratio removes every channel (or head) of a layer; `bound` is the largest ratio that would not."""

    def __init__(self, what: str, bound: float) -> None:
        super().__init__(what)
        self.what = what
        self.bound = bound


def _lowest(scores: torch.Tensor, count: int) -> list[int]:
    return sorted(torch.argsort(scores)[:count].tolist())


def plan_cuts(
    target: PruneTarget,
    graph: tp.DependencyGraph,
    ratio: float,
    importance: tp.importance.Importance,
    round_to: int,
    seed: int,
) -> list[PlannedCut]:
    """Choose what to remove in every group of the target; raises PassError before any change."""
    names = {module: name for name, module in target.module.named_modules()}
    ignored = [layer for keep in target.keep_width for layer in keep.modules()]
    cuts: list[PlannedCut] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # random importance is drawn from the global generator
        groups = list(graph.get_all_groups(ignored_layers=ignored, root_module_types=[nn.Conv2d, nn.Linear]))
        emptied: list[_EmptiedLayer] = []
        for group in groups:
            projections = _attention_projections(graph, group, target)
            if any(p in target.frozen_heads for p in projections):
                continue
            try:
                if projections:
                    cut = _plan_heads(target, graph, group, projections, ratio, importance, names)
                else:
                    cut = _plan_channels(target, graph, group, ratio, importance, round_to, names)
            except _EmptiedLayer as why:
                emptied.append(why)  # keep going: the accepted range is the tightest over all layers
                continue
            if cut is not None:
                cuts.append(cut)
    if emptied:
        bound = min(why.bound for why in emptied)
        raise PassError(
            f"prune: ratio={ratio} would leave {emptied[0].what} (round_to={round_to}); "
            f"accepted for {target.path}: a ratio in (0, {math.floor(bound * 1000) / 1000:g}]"
        )
    if not cuts:
        raise PassError(
            f"prune: nothing prunable in {target.path} at ratio={ratio} "
            f"(no channel group can lose a multiple of round_to={round_to}); accepted: a larger ratio "
            "or a smaller round_to"
        )
    return cuts


def _plan_heads(
    target: PruneTarget,
    graph: tp.DependencyGraph,
    group: tp.Group,
    projections: list[nn.Module],
    ratio: float,
    importance: tp.importance.Importance,
    names: dict[nn.Module, str],
) -> PlannedCut | None:
    rooted = _reroot_on_output_projection(graph, group)
    if rooted is None:
        return None
    heads = target.heads[projections[0]]
    width = len(rooted[0].idxs)
    head_width = width // heads
    kept = math.floor(heads * (1 - ratio) + 1e-9)
    layer = names.get(projections[0], "?").rsplit(".", 1)[0]
    if kept < 1:
        raise _EmptiedLayer(f"{layer} with 0 of {heads} attention heads", (heads - 1) / heads)
    if kept == heads:
        return None
    scores = importance(rooted)
    if scores is None:
        return None
    head_scores = scores.float().view(heads, head_width).mean(1).cpu()
    indices = [h * head_width + i for h in _lowest(head_scores, heads - kept) for i in range(head_width)]
    root = rooted[0].dep
    return PlannedCut(layer, root.target.module, root.handler, indices, width, kept * head_width)


def _plan_channels(
    target: PruneTarget,
    graph: tp.DependencyGraph,
    group: tp.Group,
    ratio: float,
    importance: tp.importance.Importance,
    round_to: int,
    names: dict[nn.Module, str],
) -> PlannedCut | None:
    root = group[0].dep
    width = len(group[0].idxs)
    groups = _channel_groups(graph, group, target)
    if width % groups:
        return None
    group_width = width // groups
    # Kept per channel group, in steps that make the layer's width a multiple of round_to.
    step = round_to // math.gcd(groups, round_to)
    kept = math.floor(group_width * (1 - ratio) / step + 1e-9) * step
    layer = names.get(root.target.module, "?")
    if kept < step:
        smallest = step * groups
        if smallest >= width:
            return None  # too narrow to lose a whole round_to step at any ratio: left whole
        raise _EmptiedLayer(f"{layer} with 0 of {width} channels", 1 - smallest / width)
    if kept >= group_width:
        return None
    scores = importance(group)
    if scores is None:
        return None
    scores = scores.float().cpu()
    per_group = scores.view(groups, group_width).mean(0) if groups > 1 else scores
    dropped = _lowest(per_group, group_width - kept)
    indices = [g * group_width + i for g in range(groups) for i in dropped]
    return PlannedCut(layer, root.target.module, root.handler, indices, width, kept * groups)


def apply_cuts(graph: tp.DependencyGraph, cuts: list[PlannedCut]) -> None:
    for cut in cuts:
        group = graph.get_pruning_group(cut.root, cut.handler, cut.indices)
        if not graph.check_pruning_group(group):
            raise PassError(f"prune: cutting {cut.layer} to {cut.width_after} channels would empty a layer")
        group.prune()
