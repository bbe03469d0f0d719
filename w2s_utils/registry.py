"""A tiny name → object registry whose errors list the valid names.

Tasks, models and methods all use it, so an unknown name fails the same clear way
everywhere ("unknown model 'minlm-l6'; did you mean 'minilm-l6'? Valid: ...").
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """An unknown registry name; the message names the valid ones.

    Also a ValueError, so pydantic validators report it as a validation error.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def unknown_name_message(kind: str, name: str, valid: list[str], hint: str = "") -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    maybe = f" Did you mean {close[0]!r}?" if close else ""
    return f"Unknown {kind} {name!r}.{maybe} Valid: {', '.join(sorted(valid))}.{hint}"


class Registry(Generic[T]):
    def __init__(self, kind: str, dynamic_hint: str = ""):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._prefixes: dict[str, Callable[[str], T]] = {}
        self._dynamic_hint = dynamic_hint

    def add(self, name: str, item: T, *, replace: bool = False) -> T:
        if name in self._items and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def add_prefix(self, prefix: str, factory: Callable[[str], T]) -> None:
        """Names like ``hf:<repo>`` resolve through ``factory(rest)``."""
        self._prefixes[prefix] = factory

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        for prefix, factory in self._prefixes.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                return factory(name[len(prefix):])
        raise UnknownNameError(
            unknown_name_message(self.kind, name, self.names(), self._dynamic_hint)
        )

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except UnknownNameError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
