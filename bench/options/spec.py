"""One suite option as data: its name, default and help, declared on pytest's parser (the suite)
or on argparse (the studies) from the same record, so both spell it the same way."""

from __future__ import annotations

import argparse
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

# `(default 4)`, `(default: off)`: the part of a help text a study's own default replaces.
_DEFAULT_IN_HELP = re.compile(r"\s*\(default[^)]*\)")

# How a group reads an option's value: "--steps" -> its text (pytest's `config.getoption` takes this form).
OptionLookup = Callable[[str], Any]


class PytestGroup(Protocol):
    def addoption(self, *names: str, **attrs: Any) -> None: ...


class PytestParser(Protocol):
    def getgroup(self, name: str, description: str = "") -> PytestGroup: ...


@dataclass(frozen=True)
class Option:
    name: str  # "--steps"
    help: str
    default: Any = None
    action: str | None = None  # "store_true", "append"
    metavar: str | None = None
    # Another plugin may define the same option with the same meaning (pytest-timeout's --timeout):
    # theirs is kept and its value read.
    shared: bool = False

    @property
    def dest(self) -> str:
        return self.name.lstrip("-").replace("-", "_")

    @property
    def default_value(self) -> Any:
        """The value the suite sees when the option is not given."""
        return False if self.action == "store_true" else self.default

    def attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {"help": self.help}
        if self.action == "store_true":
            attrs["action"] = "store_true"
            return attrs
        if self.action is not None:
            attrs["action"] = self.action
        if self.metavar is not None:
            attrs["metavar"] = self.metavar
        attrs["default"] = self.default
        return attrs

    def help_with_default(self, default: Any) -> str:
        """This option's help for a command whose default differs from the suite's."""
        return f"{_DEFAULT_IN_HELP.sub('', self.help)} (default {default})"


class OptionGroup:
    """A group of suite options: declared together; a subclass parses and validates its values."""

    TITLE: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    OPTIONS: ClassVar[tuple[Option, ...]]

    @classmethod
    def addoption(cls, parser: PytestParser) -> None:
        group = parser.getgroup(cls.TITLE, cls.DESCRIPTION)
        for option in cls.OPTIONS:
            if option.shared:
                # Added after the other plugin's: argparse refuses the second with ArgumentError.
                with contextlib.suppress(ValueError, argparse.ArgumentError):
                    group.addoption(option.name, **option.attributes())
            else:
                group.addoption(option.name, **option.attributes())


def add_argument(parser: argparse.ArgumentParser, option: Option, **changes: Any) -> None:
    """Declare a suite option on a study's parser: the suite's name and help; `changes` (a study's
    own default, `type`, `required`) on top. A changed default is named in the help."""
    attrs = option.attributes() | changes
    if "default" in changes and "help" not in changes and changes["default"] is not None:
        attrs["help"] = option.help_with_default(changes["default"])
    parser.add_argument(option.name, **attrs)
