"""Executors run ``TrialSpec``s in worker processes (``local``) or on a Ray cluster (``ray``), or in a plug-in.

``register_executor`` adds a plug-in after checking its structure; ``make_executor`` builds any of them with the
common keywords (``COMMON_OPTIONS``) plus the executor's own options.
"""
from __future__ import annotations

import inspect
from typing import Any

from forgeml.errors import ConfigError
from forgeml.execute.base import COMMON_OPTIONS, Executor, TrialFn
from forgeml.registry import Registry


def _describe(obj: Any) -> str:
    return obj.__qualname__ if isinstance(obj, type) else f"{type(obj).__name__} object {obj!r}"[:120]


def check_executor_class(name: str, obj: Any) -> None:
    """Refuse an executor that would break the run later, with a ``ConfigError`` naming the rule it breaks.

    The rules: a subclass of ``Executor``; every abstract method and property implemented; a constructor that
    accepts the ``COMMON_OPTIONS`` keywords and needs no other argument (the orchestrator passes only those
    and the executor's own options).
    """
    if not (isinstance(obj, type) and issubclass(obj, Executor)):
        raise ConfigError(f"executor {name!r} must be a subclass of forgeml.execute.Executor, got {_describe(obj)}")
    missing = sorted(getattr(obj, "__abstractmethods__", ()))
    if missing:
        protocol = ", ".join(_member(m) for m in sorted(Executor.__abstractmethods__))
        raise ConfigError(f"executor {name!r} must implement {protocol}; {obj.__qualname__} is missing "
                          f"{', '.join(_member(m) for m in missing)}")
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):  # a C-level or oddly wrapped constructor: nothing more to check
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    absent = [k for k in COMMON_OPTIONS
              if k not in params or params[k].kind not in (params[k].POSITIONAL_OR_KEYWORD, params[k].KEYWORD_ONLY)]
    if absent:
        raise ConfigError(f"executor {name!r} must accept the keyword options {', '.join(COMMON_OPTIONS)} in its "
                          f"constructor (it may ignore them); {obj.__qualname__}() lacks {', '.join(absent)}")
    required = [k for k, p in params.items() if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL,)
                and k not in COMMON_OPTIONS]
    if required:
        raise ConfigError(f"executor {name!r} must be constructible from keyword options alone: give "
                          f"{', '.join(required)} in {obj.__qualname__}() a default")


def _member(attr: str) -> str:
    return attr if isinstance(getattr(Executor, attr, None), property) else f"{attr}()"


EXECUTORS: Registry[type[Executor]] = Registry("executor", {
    "local": "forgeml.execute.local:LocalExecutor",
    "ray": "forgeml.execute.ray:RayExecutor",
}, check=check_executor_class)


def register_executor(name: str, cls: type[Executor] | str, *, overwrite: bool = False) -> type[Executor]:
    """Make ``cls`` (or ``"module:Attr"``) usable as ``AutoML(backend=name)`` and ``--backend name``.

    It is checked first (``check_executor_class``); a name already taken is refused unless ``overwrite=True``.
    Run it through ``forgeml.testing.check_executor`` to see it honours the protocol at run time too.
    """
    return EXECUTORS.register(name, cls, overwrite=overwrite)


def make_executor(executor: str | Executor | type[Executor], **options: Any) -> Executor:
    """Build an executor from a registered name or an ``Executor`` subclass with keyword ``options``.

    An ``Executor`` instance passes through as it is (``options`` are then not used: it was configured when it
    was built). Options the executor does not accept are a ``ConfigError`` naming them.
    """
    if isinstance(executor, Executor):
        return executor
    if isinstance(executor, str):
        cls = EXECUTORS[executor]
        name = executor
    elif isinstance(executor, type):
        name = executor.__qualname__
        check_executor_class(name, executor)
        cls = executor
    else:
        raise ConfigError(f"backend must be an executor name ({', '.join(EXECUTORS)}), an Executor or an Executor "
                          f"subclass, got {_describe(executor)}")
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as e:
        raise ConfigError(f"executor {name!r} does not accept these options: {e}") from e
    except ValueError:  # no signature to check against: let the constructor decide
        pass
    return cls(**options)


__all__ = ["COMMON_OPTIONS", "EXECUTORS", "Executor", "TrialFn", "check_executor_class", "make_executor",
           "register_executor"]
