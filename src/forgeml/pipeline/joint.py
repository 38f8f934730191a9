"""The joint search space: which family, its hyperparameters and its preprocessing, all conditional.

``family`` is the root choice; ``<f>.<param>`` are family ``f``'s hyperparameters and ``<f>.prep.<choice>``
its preprocessing choices, each active only when ``family == f`` (and their own conditions hold).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from forgeml.data.schema import Schema
from forgeml.errors import ConfigError
from forgeml.models.base import FitContext, ModelFamily
from forgeml.pipeline.space import engineered_prep, prep_space
from forgeml.space import Categorical, Condition, Config, Int, SearchSpace

FAMILY = "family"
PREP = "prep"


def joint_space(families: Mapping[str, ModelFamily], schema: Schema, ctx: FitContext,
                engineering: bool = True) -> SearchSpace:
    """One conditional space over every family in ``families`` (keys are the names used in configs);
    ``engineering`` adds the feature-engineering choices (``prep_space``). A family's iterative parameter (its
    trees, rounds or epochs) is marked ``cost``: a trial's seconds grow with it, which cost-aware search uses."""
    names = list(families)
    if not names:
        raise ConfigError("no model families to search over; enable at least one family")
    root = SearchSpace({FAMILY: Categorical(tuple(names), default=names[0])})
    parts = []
    for name, fam in families.items():
        when = Condition(FAMILY, (name,))
        parts.append(_mark_cost(fam.space(ctx), fam.capabilities.iterative_param).prefixed(name, when))
        parts.append(prep_space(fam.capabilities, schema, engineering).prefixed(f"{name}.{PREP}", when))
    return root.merge(*parts)


def _mark_cost(space: SearchSpace, param: str | None) -> SearchSpace:
    p = space.get(param) if param else None
    if not isinstance(p, Int) or p.cost:
        return space
    return SearchSpace({n: (replace(q, cost=True) if n == param else q) for n, q in space.items()}, space.conditions)


def family_config(name: str, family: ModelFamily, params: Mapping[str, Any], schema: Schema,
                  space: SearchSpace, prep: Mapping[str, Any] | None = None, engineering: bool = True) -> Config:
    """A full joint config for ``family`` with hyperparameters ``params`` and its default (or given) prep."""
    values: dict[str, Any] = {FAMILY: name}
    values.update({f"{name}.{k}": v for k, v in params.items()})
    chosen = dict(prep_space(family.capabilities, schema, engineering).default())
    chosen.update(prep or {})
    values.update({f"{name}.{PREP}.{k}": v for k, v in chosen.items()})
    return space.complete(values)


def default_configs(families: Mapping[str, ModelFamily], schema: Schema, ctx: FitContext,
                    engineering: bool = True) -> list[Config]:
    """Every family's ``defaults(ctx)`` as joint configs, interleaved round-robin in ``families`` order (the
    first default of each family, then the second of each, ...), duplicates removed. With ``engineering``, a
    family whose data shows skew (``engineered_prep``) gets its first default with those transforms on as its
    second entry, so a short search tries them early; data without skew gets no extra entry."""
    space = joint_space(families, schema, ctx, engineering)
    queues = [[family_config(n, f, d, schema, space, engineering=engineering) for d in f.defaults(ctx)]
              for n, f in families.items()]
    if engineering:  # second in each family's queue: its first default with the engineering the data points to
        for (n, f), q in zip(families.items(), queues):
            prep = engineered_prep(f.capabilities, schema)
            if prep and q:
                first = q[0].sub(n)
                hp = {k: v for k, v in first.items() if not k.startswith(f"{PREP}.")}
                base = {k[len(PREP) + 1:]: v for k, v in first.items() if k.startswith(f"{PREP}.")}
                q.insert(1, family_config(n, f, hp, schema, space, {**base, **prep}, engineering))
    out: list[Config] = []
    seen: set[str] = set()
    for i in range(max((len(q) for q in queues), default=0)):
        for q in queues:
            if i < len(q) and q[i].id not in seen:
                seen.add(q[i].id)
                out.append(q[i])
    return out
