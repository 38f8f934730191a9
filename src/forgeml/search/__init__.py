"""Search strategies behind one ``Searcher`` protocol (ask a configuration, tell its result).

A new strategy is one file in this folder plus one line in ``SEARCHERS``; ``forgeml.testing.check_searcher``
then covers it (``tests/search/test_strategies.py`` runs the battery over every entry).
"""
from __future__ import annotations

import inspect
from typing import Any

from forgeml.errors import ConfigError
from forgeml.registry import Registry
from forgeml.search.base import Proposal, Searcher

SEARCHERS: Registry[type[Searcher]] = Registry("search strategy", {
    "auto": "forgeml.search.auto:AutoSearcher",
    "random": "forgeml.search.random:RandomSearcher",
    "grid": "forgeml.search.grid:GridSearcher",
    "bayes": "forgeml.search.tpe:TPESearcher",
    "evolution": "forgeml.search.evolution:EvolutionSearcher",
    "halving": "forgeml.search.halving:HalvingSearcher",
    "hyperband": "forgeml.search.hyperband:HyperbandSearcher",
    "pbt": "forgeml.search.pbt:PBTSearcher",
})


def make_searcher(name: str, **options: Any) -> Searcher:
    """A new, unbound searcher ``name`` with ``options``; an unknown name or option raises ``ConfigError``."""
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


__all__ = ["SEARCHERS", "Proposal", "Searcher", "describe_searchers", "make_searcher", "option_value",
           "parse_search_spec"]
