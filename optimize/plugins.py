"""A registry filled by discovery: every module of a package is imported on the first lookup.

A new pass or variant format is one file in `optimize/passes/` or `optimize/formats/` that
registers itself (`@register`, `@register_format`); no list names it. Discovery waits for the
first lookup instead of running when the package is imported, so a module can import the
interface it implements (`optimize.passes.base`) without importing every other pass, and the
passes' and formats' own imports form no circle through their registries.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from typing import TypeVar

T = TypeVar("T")


class DiscoveredRegistry(Mapping[str, T]):
    """Name -> item, for the items that the modules of `package` register."""

    def __init__(self, package: str) -> None:
        self.package = package
        self._items: dict[str, T] = {}
        self._discovered = False

    def add(self, name: str, item: T) -> None:
        if name in self._items:
            earlier = self._items[name]
            raise ValueError(f"{self.package}: {name!r} is registered twice ({earlier!r}, {item!r})")
        self._items[name] = item

    def discover(self) -> None:
        """Import every module of the package once; each registers what it defines."""
        if self._discovered:
            return
        # Set first: a module being imported may look up what is already registered.
        self._discovered = True
        try:
            package = importlib.import_module(self.package)
            for module in pkgutil.iter_modules(package.__path__):
                importlib.import_module(f"{self.package}.{module.name}")
        except BaseException:
            self._discovered = False  # a failed import is retried (and reported) at the next lookup
            raise

    def __getitem__(self, name: str) -> T:
        self.discover()
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        self.discover()
        return iter(dict(self._items))

    def __len__(self) -> int:
        self.discover()
        return len(self._items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.package!r}, {sorted(self._items)})"
