"""Recipe text -> pass calls, before any pass is looked up.

Grammar (whitespace ignored):
    recipe := call ("+" call)*
    call   := NAME [ "(" [ arg ("," arg)* ] ")" ]
    arg    := value | NAME "=" value
    value  := number | NAME | true | false
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from optimize.errors import RecipeError

Value = int | float | str | bool

_TOKEN = re.compile(
    r"\s*(?:(?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][\w\-.]*)|(?P<punct>[+(),=]))"
)


@dataclass(frozen=True)
class PassCall:
    name: str
    args: tuple[Value, ...] = ()
    kwargs: dict[str, Value] = field(default_factory=dict)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            bad = text[position:].lstrip()[:1]
            raise RecipeError(f"malformed recipe {text!r}: unexpected {bad!r} at position {position}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


def _value(kind: str, raw: str) -> Value:
    if kind == "number":
        return float(raw) if any(c in raw for c in ".eE") else int(raw)
    if raw in ("true", "false"):
        return raw == "true"
    return raw


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def fail(self, expected: str) -> RecipeError:
        if self.index < len(self.tokens):
            _, raw, position = self.tokens[self.index]
            found = f"{raw!r} at position {position}"
        else:
            found = "the end"
        return RecipeError(
            f"malformed recipe {self.text!r}: expected {expected}, found {found} "
            "(recipes look like 'bf16' or 'prune(0.3)+bf16')"
        )

    def peek(self, *kinds: str) -> tuple[str, str, int] | None:
        if self.index < len(self.tokens):
            token = self.tokens[self.index]
            if token[0] in kinds or token[1] in kinds:
                return token
        return None

    def take(self, *kinds: str, expected: str) -> tuple[str, str, int]:
        token = self.peek(*kinds)
        if token is None:
            raise self.fail(expected)
        self.index += 1
        return token

    def recipe(self) -> list[PassCall]:
        calls = [self.call()]
        while self.peek("+"):
            self.index += 1
            calls.append(self.call())
        if self.index != len(self.tokens):
            raise self.fail("'+' or the end")
        return calls

    def call(self) -> PassCall:
        name = self.take("name", expected="a pass name")[1]
        args: list[Value] = []
        kwargs: dict[str, Value] = {}
        if self.peek("("):
            self.index += 1
            if not self.peek(")"):
                while True:
                    self.argument(name, args, kwargs)
                    if not self.peek(","):
                        break
                    self.index += 1
            self.take(")", expected="')'")
        return PassCall(name.lower(), tuple(args), kwargs)

    def argument(self, pass_name: str, args: list[Value], kwargs: dict[str, Value]) -> None:
        kind, raw, _ = self.take("number", "name", expected="an argument")
        if kind == "name" and self.peek("="):
            self.index += 1
            value_kind, value_raw, _ = self.take("number", "name", expected="a value after '='")
            if raw in kwargs:
                raise RecipeError(f"malformed recipe {self.text!r}: {pass_name} got {raw!r} twice")
            kwargs[raw] = _value(value_kind, value_raw)
            return
        if kwargs:
            raise RecipeError(
                f"malformed recipe {self.text!r}: positional argument {raw!r} after a keyword argument"
            )
        args.append(_value(kind, raw))


def parse_calls(text: str) -> list[PassCall]:
    if not isinstance(text, str) or not text.strip():
        raise RecipeError("empty recipe: give passes joined by '+', e.g. 'bf16' or 'prune(0.3)+bf16'")
    return _Parser(text).recipe()
