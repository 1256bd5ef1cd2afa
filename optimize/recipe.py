"""A recipe: passes joined by '+', with one canonical spelling (the report's `variant`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from optimize.errors import PassUnsupported
from optimize.formats.names import DEFAULT_FORMAT
from optimize.passes.base import Pass
from optimize.passes.registry import pass_class
from optimize.recipe_syntax import parse_calls

BASELINE = "fp32"


@dataclass(frozen=True)
class Recipe:
    passes: tuple[Pass, ...]

    @property
    def canonical(self) -> str:
        return "+".join(p.canonical() for p in self.passes)

    def __str__(self) -> str:
        return self.canonical

    @property
    def dtype(self) -> torch.dtype:
        for p in reversed(self.passes):
            if p.sets_dtype is not None:
                return p.sets_dtype
        return torch.float32

    @property
    def format(self) -> str:
        for p in reversed(self.passes):
            if p.output_format is not None:
                return p.output_format
        return DEFAULT_FORMAT

    def unsupported_reason(self, device: torch.device) -> str | None:
        for index, p in enumerate(self.passes):
            earlier = list(self.passes[:index])
            reason = p.unsupported_reason(device, earlier)
            # An earlier pass may veto what follows it (no dtype cast after quantisation).
            reason = reason or next(filter(None, (e.refuses_later(p) for e in earlier)), None)
            if reason:
                return reason
        return None

    def require_supported(self, device: torch.device) -> None:
        reason = self.unsupported_reason(device)
        if reason:
            raise PassUnsupported(f"{self.canonical} on {device}: {reason}")


def parse_recipe(text: str) -> Recipe:
    return Recipe(tuple(pass_class(call.name).bind(call) for call in parse_calls(text)))


def canonical_recipe(text: str) -> str:
    return parse_recipe(text).canonical
