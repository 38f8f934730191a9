"""Declarative, conditional search spaces and the configurations drawn from them.

A ``SearchSpace`` is an ordered mapping of parameter names to ``Float`` / ``Int`` / ``Categorical`` /
``Constant`` domains, plus ``Condition``s that make a parameter active only when a parent parameter takes
certain values (``lightgbm.num_leaves`` is active only when ``family == "lightgbm"``). Parents come before
their children, so a space can be sampled in one pass. Configurations hold user-facing values only
(``{"family": "lightgbm", "lightgbm.num_leaves": 31}``); encodings such as the unit cube stay inside searchers.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgeml.errors import ConfigError


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    log: bool = False
    default: float | None = None
    fixed_in_training: bool = False  # see ``Categorical``
    late: bool = False  # see ``Categorical``

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ConfigError(f"Float needs low <= high, got ({self.low}, {self.high})")
        if self.log and self.low <= 0:
            raise ConfigError(f"a log-scaled Float needs low > 0, got {self.low}")

    def sample(self, rng: np.random.Generator) -> float:
        return self.from_unit(float(rng.random()))

    def to_unit(self, value: float) -> float:
        if self.high == self.low:
            return 0.5
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        u = min(1.0, max(0.0, u))
        if self.log:
            v = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            v = self.low + u * (self.high - self.low)
        return float(min(self.high, max(self.low, v)))

    def get_default(self) -> float:
        if self.default is not None:
            return float(self.default)
        return self.from_unit(0.5)

    def grid(self, n: int) -> list[float]:
        return [self.from_unit(u) for u in np.linspace(0, 1, max(1, n))] if n > 1 else [self.get_default()]

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and self.low - 1e-12 <= value <= self.high + 1e-12


@dataclass(frozen=True)
class Int:
    low: int
    high: int
    log: bool = False
    default: int | None = None
    fixed_in_training: bool = False  # see ``Categorical``
    late: bool = False  # see ``Categorical``
    cost: bool = False  # a trial's cost grows in proportion to it (trees, rounds, epochs): cost-aware search scales

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ConfigError(f"Int needs low <= high, got ({self.low}, {self.high})")
        if self.log and self.low <= 0:
            raise ConfigError(f"a log-scaled Int needs low > 0, got {self.low}")

    def _float(self) -> Float:
        return Float(self.low - 0.4999, self.high + 0.4999) if not self.log else Float(
            max(self.low - 0.4999, 0.5001), self.high + 0.4999, log=True)

    def sample(self, rng: np.random.Generator) -> int:
        return self.from_unit(float(rng.random()))

    def to_unit(self, value: int) -> float:
        return self._float().to_unit(float(value))

    def from_unit(self, u: float) -> int:
        return int(min(self.high, max(self.low, round(self._float().from_unit(u)))))

    def get_default(self) -> int:
        return int(self.default) if self.default is not None else self.from_unit(0.5)

    def grid(self, n: int) -> list[int]:
        if n <= 1:
            return [self.get_default()]
        return sorted({self.from_unit(u) for u in np.linspace(0, 1, n)})

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and \
            self.low <= value <= self.high


@dataclass(frozen=True)
class Categorical:
    """One of ``choices``.

    ``fixed_in_training`` (also on ``Float`` and ``Int``): changing the parameter would make a trained state
    meaningless (the network's shape, how the data is encoded), so strategies that continue a trained model with
    new settings, such as PBT, keep it as it was.

    ``late`` (also on ``Float`` and ``Int``): a refinement of a good configuration rather than a first choice
    (feature engineering, selection). The ``auto`` strategy holds it at its default until enough trials have
    found good base configurations, then probes it on the best of them; other strategies search it as usual.
    """

    choices: tuple
    default: Any = None
    fixed_in_training: bool = False
    late: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise ConfigError("Categorical needs at least one choice")
        if self.default is not None and self.default not in self.choices:
            raise ConfigError(f"Categorical default {self.default!r} is not one of {self.choices}")

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(len(self.choices)))]

    def get_default(self) -> Any:
        return self.default if self.default is not None else self.choices[0]

    def grid(self, n: int) -> list[Any]:
        return list(self.choices)

    def contains(self, value: Any) -> bool:
        return value in self.choices


@dataclass(frozen=True)
class Constant:
    value: Any

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

    def get_default(self) -> Any:
        return self.value

    def grid(self, n: int) -> list[Any]:
        return [self.value]

    def contains(self, value: Any) -> bool:
        return value == self.value


Param = Float | Int | Categorical | Constant


@dataclass(frozen=True)
class Condition:
    """The child is active only when ``parent`` is active and its value is one of ``values``."""

    parent: str
    values: tuple

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))


class Config(Mapping[str, Any]):
    """An immutable configuration: active parameter names to user-facing values, with a stable id."""

    __slots__ = ("_d",)

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._d = {k: _plain(v) for k, v in (values or {}).items()}

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return f"Config({self._d!r})"

    def __hash__(self) -> int:
        return hash(self.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._d) == dict(other)

    def __reduce__(self):
        return (Config, (self._d,))

    @property
    def id(self) -> str:
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:12]

    def to_json(self) -> str:
        return json.dumps(self._d, sort_keys=True, default=str)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._d)

    def sub(self, prefix: str) -> dict[str, Any]:
        """Parameters under ``prefix.`` with the prefix stripped (a family's own hyperparameters)."""
        p = prefix + "."
        return {k[len(p):]: v for k, v in self._d.items() if k.startswith(p)}


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


class SearchSpace(Mapping[str, Param]):
    """An ordered, conditional space; parents must be declared before their children."""

    def __init__(self, params: Mapping[str, Param] | None = None,
                 conditions: Mapping[str, Condition] | None = None) -> None:
        self._params: dict[str, Param] = dict(params or {})
        self.conditions: dict[str, Condition] = dict(conditions or {})
        names = list(self._params)
        for child, cond in self.conditions.items():
            if child not in self._params:
                raise ConfigError(f"condition on unknown parameter {child!r}")
            if cond.parent not in self._params:
                continue  # a fragment (e.g. a family's prefixed space) may name a parent added by merge
            if names.index(cond.parent) > names.index(child):
                raise ConfigError(f"parent {cond.parent!r} must come before child {child!r}")

    # Mapping protocol
    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"SearchSpace({len(self)} params, {len(self.conditions)} conditions)"

    def unresolved_parents(self) -> set[str]:
        """Parents named by conditions but not defined here (non-empty only for fragments)."""
        return {c.parent for c in self.conditions.values() if c.parent not in self._params}

    # Conditions
    def is_active(self, name: str, values: Mapping[str, Any]) -> bool:
        cond = self.conditions.get(name)
        while cond is not None:
            if cond.parent not in values or values[cond.parent] not in cond.values:
                return False
            cond = self.conditions.get(cond.parent)
        return True

    def active(self, values: Mapping[str, Any]) -> list[str]:
        return [n for n in self._params if self.is_active(n, values)]

    # Construction of configurations
    def sample(self, rng: np.random.Generator) -> Config:
        out: dict[str, Any] = {}
        for name, p in self._params.items():
            if self.is_active(name, out):
                out[name] = p.sample(rng)
        return Config(out)

    def default(self) -> Config:
        out: dict[str, Any] = {}
        for name, p in self._params.items():
            if self.is_active(name, out):
                out[name] = p.get_default()
        return Config(out)

    def complete(self, partial: Mapping[str, Any]) -> Config:
        """Fill the active parameters missing from ``partial`` with defaults and drop inactive ones."""
        out: dict[str, Any] = {}
        for name, p in self._params.items():
            if self.is_active(name, out):
                out[name] = partial[name] if name in partial else p.get_default()
        return Config(out)

    def validate(self, values: Mapping[str, Any]) -> Config:
        """Raise ``ConfigError`` unless ``values`` holds exactly the active parameters, each in its domain."""
        for name in values:
            if name not in self._params:
                raise ConfigError(f"unknown parameter {name!r}; known: {', '.join(self._params)}")
        for name, p in self._params.items():
            active = self.is_active(name, values)
            if active and name not in values:
                raise ConfigError(f"active parameter {name!r} is missing")
            if not active and name in values:
                raise ConfigError(f"parameter {name!r} is set but inactive")
            if active and not p.contains(values[name]):
                raise ConfigError(f"parameter {name!r} = {values[name]!r} is outside {p}")
        return Config(values)

    # Composition
    def prefixed(self, prefix: str, when: Condition | None = None) -> SearchSpace:
        """The same space with names ``prefix.name``; top-level parameters get condition ``when``."""
        params = {f"{prefix}.{n}": p for n, p in self._params.items()}
        conds = {f"{prefix}.{n}": Condition(f"{prefix}.{c.parent}", c.values) for n, c in self.conditions.items()}
        if when is not None:
            for n in self._params:
                conds.setdefault(f"{prefix}.{n}", when)
        return SearchSpace(params, conds)

    def merge(self, *others: SearchSpace) -> SearchSpace:
        params, conds = dict(self._params), dict(self.conditions)
        for o in others:
            for n, p in o.items():
                if n in params:
                    raise ConfigError(f"parameter {n!r} is defined twice")
                params[n] = p
            conds.update(o.conditions)
        return SearchSpace(params, conds)

    # Serialization
    def to_json(self) -> str:
        def enc(p: Param) -> dict:
            d = {"type": type(p).__name__}
            d.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in p.__dict__.items()})
            return d
        return json.dumps({
            "params": {n: enc(p) for n, p in self._params.items()},
            "conditions": {n: {"parent": c.parent, "values": list(c.values)} for n, c in self.conditions.items()},
        }, default=str)

    @classmethod
    def from_json(cls, text: str) -> SearchSpace:
        raw = json.loads(text)
        kinds = {"Float": Float, "Int": Int, "Categorical": Categorical, "Constant": Constant}
        params = {}
        for n, d in raw["params"].items():
            d = dict(d)
            params[n] = kinds[d.pop("type")](**d)
        conds = {n: Condition(c["parent"], tuple(c["values"])) for n, c in raw["conditions"].items()}
        return cls(params, conds)
