"""Search strategies behind one ``Searcher`` protocol (ask a configuration, tell its result).

A new strategy is one file in this folder plus one line in ``SEARCHERS``; ``forgeml.testing.check_searcher``
then covers it (``tests/search/test_strategies.py`` runs the battery over every entry). A plug-in joins with
``register_searcher`` (or the ``forgeml.searchers`` entry point), or is passed directly: ``AutoML(search=obj)``.
"""
from __future__ import annotations

import copy
import inspect
from typing import Any

from forgeml.errors import ConfigError
from forgeml.registry import Registry, instance_named
from forgeml.search.base import Proposal, Searcher


def check_searcher_class(name: str | None, searcher: Any) -> Searcher:
    """A searcher instance, if ``searcher`` (a class, built with no arguments, or an instance) keeps the protocol;
    else ``ConfigError`` naming the broken rule. Cheap: one ask and one tell on a tiny space
    (``forgeml.testing.check_searcher`` is the full battery)."""
    from forgeml.space import Categorical, Float, SearchSpace
    from forgeml.trial import TrialResult, TrialStatus

    label = name or getattr(searcher, "name", None) or getattr(searcher, "__name__", type(searcher).__name__)
    what = f"searcher {label!r}"
    cls = searcher if isinstance(searcher, type) else type(searcher)
    lacking = [m for m in ("setup", "ask", "tell") if not callable(getattr(cls, m, None))]
    if lacking:
        raise ConfigError(f"{what} must implement setup(), ask() and tell() (the forgeml.search.Searcher "
                          f"protocol); missing: {', '.join(lacking)}")
    abstract = sorted(getattr(cls, "__abstractmethods__", ()))
    if abstract:
        raise ConfigError(f"{what} must implement ask() and tell(); as a Searcher subclass it must define "
                          f"{', '.join(abstract)}()")
    searcher = instance_named(what, searcher, name)
    if getattr(searcher, "fidelity_unit", "rows") not in ("rows", "iterations"):
        raise ConfigError(f"{what}: fidelity_unit must be 'rows' or 'iterations', got {searcher.fidelity_unit!r}")
    probe = copy.deepcopy(searcher)
    space = SearchSpace({"family": Categorical(("a", "b")), "x": Float(0.0, 1.0)})
    try:
        probe.setup(space, seed=0, warm_start=(), max_trials=None)
        prop = probe.ask(0)
    except Exception as exc:
        raise ConfigError(f"{what}: setup() then ask() must work on a tiny space; they raised "
                          f"{type(exc).__name__}: {exc}") from None
    if prop is None or not isinstance(prop, Proposal):
        raise ConfigError(f"{what}: the first ask() on a fresh space must return a Proposal, got {prop!r}")
    try:
        space.validate(prop.config)
        probe.tell(0, TrialResult(0, TrialStatus.COMPLETE, score=-1.0, loss=1.0, fidelity=prop.fidelity))
    except Exception as exc:
        raise ConfigError(f"{what}: ask() must propose a valid configuration and tell() must accept its result; "
                          f"{type(exc).__name__}: {exc}") from None
    return searcher


SEARCHERS: Registry[type[Searcher]] = Registry("search strategy", {
    "auto": "forgeml.search.auto:AutoSearcher",
    "random": "forgeml.search.random:RandomSearcher",
    "grid": "forgeml.search.grid:GridSearcher",
    "bayes": "forgeml.search.tpe:TPESearcher",
    "evolution": "forgeml.search.evolution:EvolutionSearcher",
    "halving": "forgeml.search.halving:HalvingSearcher",
    "hyperband": "forgeml.search.hyperband:HyperbandSearcher",
    "pbt": "forgeml.search.pbt:PBTSearcher",
}, check=check_searcher_class, group="forgeml.searchers")


def register_searcher(name: str, searcher: type[Searcher] | str, *, overwrite: bool = False) -> type[Searcher]:
    """Add a search strategy class (or ``"module:Class"``) under ``name``, after ``check_searcher_class``.

    Its ``__init__`` takes only options, all with defaults, and its ``name`` equals ``name``. Define it in an
    importable module (not ``__main__``). Returns the class."""
    if not isinstance(searcher, (type, str)):
        raise ConfigError(f"register_searcher({name!r}, ...) takes the searcher class, not an instance; pass an "
                          "instance directly with AutoML(search=...) instead")
    return SEARCHERS.register(name, searcher, overwrite=overwrite)


def make_searcher(name: str | Searcher | type[Searcher], **options: Any) -> Searcher:
    """A new, unbound searcher ``name`` with ``options``; an unknown name or option raises ``ConfigError``.

    ``name`` may also be a searcher object (checked, then copied, so a fit never changes the user's object; it
    takes no ``options``) or a searcher class (built with ``options``)."""
    if not isinstance(name, str):
        if not isinstance(name, type):
            if options:
                raise ConfigError(f"search_options {sorted(options)} apply to a named strategy; configure your "
                                  f"searcher object {type(name).__name__} directly instead")
            return copy.deepcopy(check_searcher_class(None, name))
        check_searcher_class(None, name)
        return name(**options)
    cls = SEARCHERS[name]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"search strategy {name!r} has no option {', '.join(map(repr, unknown))}; "
                          f"its options are: {', '.join(valid) or '(none)'}")
    return cls(**options)


def option_value(text: str) -> Any:
    """A strategy option given as text (command line, bench spec): JSON if it parses (numbers, booleans,
    lists), else the string itself."""
    import json

    try:
        return json.loads(text.lower() if text.lower() in ("true", "false", "null") else text)
    except json.JSONDecodeError:
        return text


def parse_search_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"auto"`` or ``"auto(random_fraction=0.3;max_cost_share=0.2)"`` -> name and options."""
    name, _, rest = spec.strip().partition("(")
    options: dict[str, Any] = {}
    if rest:
        if not rest.endswith(")"):
            raise ConfigError(f"search spec {spec!r}: options go in parentheses, as in auto(random_fraction=0.3)")
        for pair in filter(None, (p.strip() for p in rest[:-1].split(";"))):
            key, sep, value = pair.partition("=")
            if not sep:
                raise ConfigError(f"search spec {spec!r}: options are KEY=VALUE separated by ';', got {pair!r}")
            options[key.strip()] = option_value(value.strip())
    return name.strip(), options


def describe_searchers() -> list[tuple[str, str, str]]:
    """``(name, one-line summary, options with defaults)`` for every strategy, for ``forgeml strategies``."""
    rows = []
    for name in SEARCHERS.names():
        cls = SEARCHERS[name]
        module_doc = (inspect.getmodule(cls).__doc__ or "").strip()
        summary = module_doc.split("\n\n")[0].replace("\n", " ").replace("``", "").rstrip(".")
        params = inspect.signature(cls.__init__).parameters.values()
        opts = ", ".join(f"{p.name}={p.default:.4g}" if isinstance(p.default, float) else f"{p.name}={p.default!r}"
                         for p in params if p.name != "self")
        rows.append((name, summary, opts))
    return rows


__all__ = ["SEARCHERS", "Proposal", "Searcher", "check_searcher_class", "describe_searchers", "make_searcher",
           "option_value", "parse_search_spec", "register_searcher"]
