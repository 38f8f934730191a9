"""Explicit, lazy registries: ``name -> "module:Attr"`` (or an object) resolved on first use.

One registry per extension point (model families, searchers, ensemblers, executors, metrics). Built-in entries
are strings so listing names costs no import, and a miss lists the valid names. ``register`` adds a plug-in:
an object or a ``"module:Attr"`` string, checked by the registry's ``check`` function before it is accepted.
"""
from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from forgeml.errors import ConfigError

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """An ordered mapping of names to lazily imported objects."""

    def __init__(self, kind: str, entries: Mapping[str, str],
                 check: Callable[[str, Any], None] | None = None) -> None:
        for name, target in entries.items():
            if ":" not in target:
                raise ValueError(f"registry {kind!r}: entry {name!r} must be 'module:Attr', got {target!r}")
        self.kind = kind
        self._entries: dict[str, Any] = dict(entries)
        self._cache: dict[str, T] = {}
        self.check = check

    def register(self, name: str, obj: Any, *, overwrite: bool = False) -> Any:
        """Add ``obj`` (or a ``"module:Attr"`` string, imported now) under ``name``; returns the object.

        The registry's ``check`` runs first and raises ``ConfigError`` naming the rule a broken plug-in breaks;
        an existing name is refused unless ``overwrite=True``, so a plug-in cannot silently replace a built-in.
        """
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        if name in self._entries and not overwrite:
            raise ConfigError(f"a {self.kind} named {name!r} is already registered; pass overwrite=True to "
                              "replace it, or choose another name")
        if isinstance(obj, str):
            module, sep, attr = obj.partition(":")
            if not sep:
                raise ConfigError(f"{self.kind} {name!r}: give an object or a 'module:Attr' string, got {obj!r}")
            obj = getattr(importlib.import_module(module), attr)
        if self.check is not None:
            self.check(name, obj)
        self._entries[name] = obj
        self._cache[name] = obj
        return obj

    def unregister(self, name: str) -> None:
        """Remove a registered entry (tests and plug-in reloads); unknown names raise ``ConfigError``."""
        if name not in self._entries:
            self[name]  # the usual "unknown ... available: ..." error
        del self._entries[name]
        self._cache.pop(name, None)

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self._entries)}.{hint}"
            )
        if name not in self._cache:
            module, attr = self._entries[name].split(":")  # only strings are not yet cached
            self._cache[name] = getattr(importlib.import_module(module), attr)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)
