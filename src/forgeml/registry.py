"""Explicit, lazy registries: ``name -> "module:Attr"`` resolved on first use.

One registry per extension point (model families, searchers, ensemblers, executors). Entries are strings so
listing names costs no import, and a miss lists the valid names.
"""
from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from forgeml.errors import ConfigError

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """An ordered mapping of names to lazily imported objects."""

    def __init__(self, kind: str, entries: Mapping[str, str]) -> None:
        for name, target in entries.items():
            if ":" not in target:
                raise ValueError(f"registry {kind!r}: entry {name!r} must be 'module:Attr', got {target!r}")
        self.kind = kind
        self._entries = dict(entries)
        self._cache: dict[str, T] = {}

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self._entries)}.{hint}"
            )
        if name not in self._cache:
            module, attr = self._entries[name].split(":")
            self._cache[name] = getattr(importlib.import_module(module), attr)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)
