"""Explicit, lazy registries: ``name -> "module:Attr"`` (or an object) resolved on first use.

One registry per extension point (model families, searchers, ensemblers, executors, metrics). Built-in entries
are strings so listing names costs no import, and a miss lists the valid names. ``register`` adds a plug-in:
an object or a ``"module:Attr"`` string, checked by the registry's ``check`` function before it is accepted.

Installed plug-ins announce themselves through entry points (``forgeml.families``, ``forgeml.searchers``,
``forgeml.ensemblers``, ``forgeml.metrics``, ``forgeml.executors``). A registry reads its group once, the first
time it is listed or looked up; a plug-in that fails to import or fails the check is skipped with a
``PluginWarning`` naming it and the broken rule, so one broken package never breaks forgeml.

``Portable`` carries plug-in objects (a user's metric, family, ...) to worker processes by reference, with the
import roots of their modules, so a plug-in registered only in the parent still exists in the worker.
"""
from __future__ import annotations

import difflib
import importlib
import os
import pickle
import pickletools
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from forgeml.errors import ConfigError

T = TypeVar("T")

#: The entry-point group of each registry kind (a registry may also be given its group explicitly).
ENTRY_POINT_GROUPS = {
    "model family": "forgeml.families",
    "search strategy": "forgeml.searchers",
    "ensembler": "forgeml.ensemblers",
    "metric": "forgeml.metrics",
    "executor": "forgeml.executors",
}


class PluginWarning(UserWarning):
    """An installed plug-in could not be loaded or broke a rule of its kind; it was skipped."""


def load_entry_points(group: str, kind: str, register: Callable[[str, Any], Any],
                      known: Callable[[str], bool]) -> None:
    """Load every entry point of ``group`` and ``register(name, obj)`` it; skip (with a warning) the broken.

    ``known(name)`` says whether the name is taken already (a plug-in never replaces a built-in)."""
    from importlib.metadata import entry_points

    try:
        eps = list(entry_points(group=group))
    except Exception as exc:  # a broken metadata folder on sys.path must not break forgeml
        warnings.warn(f"forgeml: could not read the {group!r} entry points: {exc}", PluginWarning, stacklevel=3)
        return
    for ep in eps:
        dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed package"
        where = f"the {kind} plug-in {ep.name!r} ({ep.value}, from {dist})"
        if known(ep.name):
            warnings.warn(f"forgeml: skipping {where}: a {kind} named {ep.name!r} already exists",
                          PluginWarning, stacklevel=3)
            continue
        try:
            register(ep.name, ep.load())
        except Exception as exc:
            warnings.warn(f"forgeml: skipping {where}: {type(exc).__name__}: {exc}", PluginWarning, stacklevel=3)


class Registry(Mapping[str, T], Generic[T]):
    """An ordered mapping of names to lazily imported objects."""

    def __init__(self, kind: str, entries: Mapping[str, str],
                 check: Callable[[str, Any], None] | None = None, *, group: str | None = None) -> None:
        for name, target in entries.items():
            if ":" not in target:
                raise ValueError(f"registry {kind!r}: entry {name!r} must be 'module:Attr', got {target!r}")
        self.kind = kind
        self._entries: dict[str, Any] = dict(entries)
        self._cache: dict[str, T] = {}
        self.check = check
        self.group = group if group is not None else ENTRY_POINT_GROUPS.get(kind)
        self._plugins_loaded = self.group is None

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True  # first, so a plug-in that lists the registry while loading cannot recurse
        load_entry_points(self.group, self.kind, self.register, lambda name: name in self._entries)

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
        self._load_plugins()
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

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self._load_plugins()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._load_plugins()
        return len(self._entries)

    def names(self) -> list[str]:
        self._load_plugins()
        return list(self._entries)


# -- carrying plug-in objects to worker processes ---------------------------------------------------------------
class Portable:
    """Objects pickled by reference for worker processes, with the folders their modules were imported from.

    A worker is a fresh interpreter (or a Ray worker) that has neither the parent's registrations nor, always,
    its ``sys.path``: a family defined in ``tests/plugins/families.py`` or beside a user's script would not
    import there. ``Portable`` records the import root of every module its pickle refers to and appends the
    missing ones to the worker's ``sys.path`` before unpickling. Objects that cannot travel by reference
    (lambdas, nested functions, anything defined in ``__main__`` or a notebook) are refused here, in the parent,
    with a ``ConfigError`` saying to define them in a module.
    """

    def __init__(self, objects: Mapping[str, Any]) -> None:
        for what, obj in objects.items():
            _check_portable(what, obj)
        self.payload = pickle.dumps(dict(objects), protocol=pickle.HIGHEST_PROTOCOL)
        self.paths = _import_roots(self.payload)
        self._objects: dict[str, Any] | None = dict(objects)

    def load(self) -> dict[str, Any]:
        """The objects (unpickled once per process, after adding the recorded import roots to ``sys.path``)."""
        if self._objects is None:
            for path in self.paths:
                if path not in sys.path and os.path.isdir(path):
                    sys.path.append(path)
            self._objects = pickle.loads(self.payload)
        return self._objects

    def __getstate__(self) -> dict[str, Any]:
        return {"payload": self.payload, "paths": self.paths, "_objects": None}


def _check_portable(what: str, obj: Any) -> None:
    hint = (f"define it with `def`/`class` at the top level of an importable module (a .py file next to your "
            f"script, or a package) and import it from there: worker processes import {what} by reference")
    try:
        payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise ConfigError(f"the {what} {_describe(obj)} cannot be sent to worker processes ({exc}); {hint}") from None
    if "__main__" in _modules(payload):
        raise ConfigError(f"the {what} {_describe(obj)} is defined in __main__ (a script run directly or a "
                          f"notebook), which worker processes cannot import; {hint}")


def _describe(obj: Any) -> str:
    return repr(getattr(obj, "name", None) or getattr(obj, "__qualname__", None) or type(obj).__qualname__)


def _modules(payload: bytes) -> set[str]:
    """Module names a pickle refers to (its GLOBAL and STACK_GLOBAL opcodes, following the memo)."""
    modules: set[str] = set()
    pushed: list[Any] = []  # values of string pushes and memo gets, in order
    memo: dict[int, Any] = {}
    for op, arg, _ in pickletools.genops(payload):
        if op.name == "GLOBAL":
            modules.add(str(arg).split(" ")[0])
        elif op.name == "STACK_GLOBAL" and len(pushed) >= 2 and isinstance(pushed[-2], str):
            modules.add(pushed[-2])
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            pushed.append(arg)
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            pushed.append(memo.get(int(arg)))
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(arg)] = pushed[-1] if pushed else None
    return modules


def _import_roots(payload: bytes) -> list[str]:
    """The ``sys.path`` folder each referenced (already imported) module was loaded from."""
    roots: list[str] = []
    for name in sorted(_modules(payload)):
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = os.path.dirname(os.path.abspath(file))
        depth = name.count(".") + (os.path.basename(file).startswith("__init__.") and 1)
        for _ in range(depth):
            path = os.path.dirname(path)
        if path not in roots:
            roots.append(path)
    return roots


def instance_named(what: str, obj: Any, name: str | None) -> Any:
    """``obj``, built with no arguments when it is a class, whose ``name`` equals ``name`` (when given): the rules
    every plug-in registry checks first. ``what`` names the plug-in in the ``ConfigError``."""
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:
            raise ConfigError(f"{what} must be constructible with no arguments (give every option a default): "
                              f"{type(exc).__name__}: {exc}") from None
    if name is not None and getattr(obj, "name", None) != name:
        raise ConfigError(f"{what} must have name = {name!r}, the name it is registered under (it has "
                          f"{getattr(obj, 'name', None)!r})")
    return obj
