"""Small helpers shared by the strategies: losses of results, conditional filling, mutation and perturbation.

Everything here works on user-facing values and the ``SearchSpace`` alone, so every strategy treats conditions
the same way: after one value changes, ``fill`` keeps what is still active, drops what became inactive and
samples what became active (changing ``family`` resamples that family's subtree).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from forgeml.space import Categorical, Config, Constant, Float, Int, Param, SearchSpace
from forgeml.trial import TrialResult

WORST = math.inf


def loss_of(result: TrialResult | None) -> float:
    """The loss to minimise; failed, timed-out, pruned or non-finite results count as the worst (``inf``)."""
    if result is None or not result.ok:
        return WORST
    loss = float(result.loss)  # type: ignore[arg-type]
    return loss if math.isfinite(loss) else WORST


def fill(space: SearchSpace, partial: Mapping[str, Any], rng: np.random.Generator) -> Config:
    """Keep ``partial``'s values of active parameters, sample the missing active ones, drop inactive ones."""
    out: dict[str, Any] = {}
    for name, p in space.items():
        if space.is_active(name, out):
            out[name] = partial[name] if name in partial else p.sample(rng)
    return Config(out)


def structural(space: SearchSpace) -> set[str]:
    """Parameters that other parameters' conditions depend on (``family``, a preprocessing choice, ...)."""
    return {c.parent for c in space.conditions.values()}


def is_mutable(p: Param) -> bool:
    """Whether a parameter has more than one value to choose from."""
    if isinstance(p, Constant):
        return False
    if isinstance(p, Categorical):
        return len(p.choices) > 1
    return p.low < p.high


def mutate_value(p: Param, value: Any, rng: np.random.Generator, *, sigma: float = 0.1,
                 p_local: float = 0.9) -> Any:
    """A different value for one parameter: a Gaussian step in the unit cube (or a fresh draw) for numbers,
    another choice for categoricals."""
    if isinstance(p, Categorical):
        others = [i for i, c in enumerate(p.choices) if c != value]
        return p.choices[others[int(rng.integers(len(others)))]] if others else value
    if isinstance(p, (Float, Int)):
        if rng.random() < p_local and p.contains(value):
            new = p.from_unit(p.to_unit(value) + float(rng.normal(0.0, sigma)))
        else:
            new = p.sample(rng)
        if isinstance(p, Int) and new == value:  # a step too small to change an integer: move by one
            if value >= p.high:
                new = value - 1
            elif value <= p.low:
                new = value + 1
            else:
                new = value + (1 if rng.random() < 0.5 else -1)
        return new
    return value


def mutate_one(space: SearchSpace, config: Mapping[str, Any], rng: np.random.Generator, *,
               sigma: float = 0.1, p_local: float = 0.9) -> Config:
    """Change one active, mutable parameter and repair the conditional subtree below it."""
    names = [n for n in config if n in space and is_mutable(space[n])]
    if not names:
        return fill(space, config, rng)
    name = names[int(rng.integers(len(names)))]
    values = dict(config)
    values[name] = mutate_value(space[name], values[name], rng, sigma=sigma, p_local=p_local)
    return fill(space, values, rng)


def perturb(space: SearchSpace, config: Mapping[str, Any], rng: np.random.Generator, *,
            factors: tuple[float, float] = (0.8, 1.2), resample_probability: float = 0.2,
            keep_trained_state: bool = True) -> Config:
    """PBT's explore step: numbers ×0.8 or ×1.2 within bounds (a zero moves 5% of its range instead),
    categoricals redrawn with a small probability.

    Structural parameters (those others depend on) never change, so the member stays in its family; with
    ``keep_trained_state`` neither do those marked ``fixed_in_training``, so it keeps the preprocessing and
    network shape of the state it copied.
    """
    fixed = structural(space)
    if keep_trained_state:
        fixed |= {n for n, p in space.items() if getattr(p, "fixed_in_training", False)}
    values = dict(config)
    for name, value in config.items():
        p = space[name] if name in space else None
        if p is None or name in fixed or not is_mutable(p):
            continue
        if isinstance(p, Categorical):
            if rng.random() < resample_probability:
                values[name] = p.sample(rng)
            continue
        f = factors[int(rng.integers(len(factors)))]
        if isinstance(p, Float):
            moved = value * f if value != 0 else p.from_unit(p.to_unit(value) + (0.05 if f > 1 else -0.05))
            values[name] = float(min(p.high, max(p.low, moved)))
        else:
            new = int(round(value * f))
            if new == value:
                new = value + (1 if f > 1 else -1)
            values[name] = int(min(p.high, max(p.low, new)))
    return fill(space, values, rng)


def distinct(make: Callable[[], Config], seen: set[str], tries: int = 20) -> Config:
    """A configuration from ``make`` not already in ``seen`` (by id), if one turns up within ``tries``."""
    config = make()
    for _ in range(tries - 1):
        if config.id not in seen:
            break
        config = make()
    seen.add(config.id)
    return config


def top_categorical(space: SearchSpace, preferred: str = "family") -> str | None:
    """The parameter that splits the space into sub-spaces: ``preferred`` if present, else the first
    unconditional categorical that other parameters depend on."""
    if preferred in space and isinstance(space[preferred], Categorical):
        return preferred
    parents = structural(space)
    for name, p in space.items():
        if name in parents and name not in space.conditions and isinstance(p, Categorical):
            return name
    return None
