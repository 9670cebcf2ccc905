"""Name registries for methods, models, datasets, flow backends, feature extractors and protocols.

Modelled on timm's ``register_model`` / ``create_model`` / ``list_models``: every pluggable component is
registered once under a name, created by name, and listed by glob pattern. The CLI lists what is
registered; nothing is hard-coded twice.

Examples:
    >>> reg = Registry("widget")
    >>> @reg.register("round", aliases=("circle",))
    ... def make_round(radius=1.0):
    ...     return ("round", radius)
    >>> reg.create("circle", radius=2.0)
    ('round', 2.0)
    >>> reg.list("r*")
    ['round']
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from spelke.errors import NotRegisteredError, SpelkeError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object: its canonical name, aliases and a one-line summary."""

    name: str
    obj: T
    aliases: tuple[str, ...] = ()
    summary: str = ""
    tags: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """A mapping from names (and aliases) to factories or objects of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._alias: dict[str, str] = {}

    def register(
        self,
        name: str | None = None,
        *,
        aliases: tuple[str, ...] | list[str] = (),
        summary: str | None = None,
        **tags: Any,
    ) -> Callable[[T], T]:
        """Decorator registering a factory (or any object) under ``name`` (default: its ``__name__``)."""

        def deco(obj: T) -> T:
            self.add(name or obj.__name__, obj, aliases=aliases, summary=summary, **tags)  # type: ignore[attr-defined]
            return obj

        return deco

    def add(
        self,
        name: str,
        obj: T,
        *,
        aliases: tuple[str, ...] | list[str] = (),
        summary: str | None = None,
        **tags: Any,
    ) -> T:
        """Register ``obj`` under ``name``; a second registration of a taken name is an error."""
        for n in (name, *aliases):
            if n in self._alias:
                raise SpelkeError(f"{self.kind} name '{n}' is registered twice; names must be unique")
        if summary is None:
            doc = (getattr(obj, "__doc__", None) or "").strip()
            summary = doc.splitlines()[0] if doc else ""
        self._entries[name] = Entry(name, obj, tuple(aliases), summary, dict(tags))
        for n in (name, *aliases):
            self._alias[n] = name
        return obj

    def canonical(self, name: str) -> str:
        """The canonical name for ``name`` or an alias; raises a helpful error if unknown."""
        try:
            return self._alias[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._alias), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise NotRegisteredError(
                f"unknown {self.kind} '{name}'{hint} Registered {self.kind}s: {known} "
                f"(see `spelke list {self.kind}s`)"
            ) from None

    def get(self, name: str) -> T:
        """The registered object itself."""
        return self._entries[self.canonical(name)].obj

    def entry(self, name: str) -> Entry[T]:
        return self._entries[self.canonical(name)]

    def create(self, name: str, /, **kwargs: Any) -> Any:
        """Call the registered factory with ``kwargs``."""
        factory = self.get(name)
        if not callable(factory):
            raise SpelkeError(f"{self.kind} '{name}' is not a factory and cannot be created with arguments")
        return factory(**kwargs)

    def list(self, pattern: str = "*") -> list[str]:
        """Sorted canonical names matching a glob pattern (aliases match too)."""
        hits = {self._alias[n] for n in self._alias if fnmatch.fnmatchcase(n, pattern)}
        return sorted(hits)

    def entries(self, pattern: str = "*") -> list[Entry[T]]:
        return [self._entries[n] for n in self.list(pattern)]

    def __contains__(self, name: object) -> bool:
        return name in self._alias

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
