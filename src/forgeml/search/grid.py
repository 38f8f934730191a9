"""Grid search over a discretized conditional space.

Floats and ints get ``levels`` evenly spaced values (in log space when declared), categoricals all their choices.
The grid is the Cartesian product over the conditional tree: only active parameters vary, so a family's
hyperparameters multiply only that family's branch. Points are never materialised: a point is decoded from its
index with per-branch counts, so huge grids cost nothing until proposed.

Order: deterministic given the seed. Points are dealt round-robin across the branches of the top categorical
(``family``), each branch in its own seeded random order, so a partial grid covers families evenly.
``ask`` returns ``None`` only when the grid is exhausted (or ``max_trials`` is reached).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgeml.errors import ConfigError
from forgeml.search._util import structural, top_categorical
from forgeml.search.base import Proposal, Searcher
from forgeml.space import Config, SearchSpace

_MATERIALISE = 50_000  # branches up to this size get a true random permutation, larger ones an affine one


class GridTooLargeError(ConfigError):
    """The grid has more points than ``max_trials`` allows; lower ``levels`` or pass ``allow_partial=True``."""


@dataclass(frozen=True)
class GridCoverage:
    """How much of the grid a run covered: told results, proposals made, and the grid's size."""

    evaluated: int
    proposed: int
    total: int

    @property
    def fraction(self) -> float:
        return self.evaluated / self.total if self.total else 1.0

    def __str__(self) -> str:
        return f"evaluated {self.evaluated} of {self.total} grid points ({100 * self.fraction:.1f}%)"


def _unique(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not any(v == u and type(v) is type(u) for u in out):
            out.append(v)
    return out


class _Branch:
    """Counts and decodes the grid points of a space, optionally with some structural values fixed."""

    def __init__(self, space: SearchSpace, levels: dict[str, list[Any]], fixed: dict[str, int]) -> None:
        self.space, self.levels, self.fixed = space, levels, fixed
        self.names = list(space)
        self.parents = structural(space)
        self._memo: dict[tuple, int] = {}

    def _values(self, name: str) -> range:
        return range(self.fixed[name], self.fixed[name] + 1) if name in self.fixed else range(len(self.levels[name]))

    def _active(self, name: str, assigned: dict[str, int]) -> bool:
        return self.space.is_active(name, {n: self.levels[n][j] for n, j in assigned.items()})

    def count(self, i: int = 0, assigned: dict[str, int] | None = None) -> int:
        assigned = assigned or {}
        key = (i, tuple(sorted(assigned.items())))
        if key in self._memo:
            return self._memo[key]
        n = 1
        for k in range(i, len(self.names)):  # walk non-parents iteratively, recurse only at parents
            name = self.names[k]
            if not self._active(name, assigned):
                continue
            if name in self.parents:
                n *= sum(self.count(k + 1, {**assigned, name: j}) for j in self._values(name))
                break
            n *= len(self._values(name))
        self._memo[key] = n
        return n

    def decode(self, index: int) -> Config:
        assigned: dict[str, int] = {}
        out: dict[str, Any] = {}
        for i, name in enumerate(self.names):
            if not self._active(name, assigned):
                continue
            if name in self.parents:
                for j in self._values(name):
                    c = self.count(i + 1, {**assigned, name: j})
                    if index < c:
                        break
                    index -= c
                assigned[name] = j
            else:
                vals = self._values(name)
                c = self.count(i + 1, assigned)
                j = vals[index // c]
                index %= c
            out[name] = self.levels[name][j]
        return Config(out)


def _levels(space: SearchSpace, levels: int) -> dict[str, list[Any]]:
    return {n: _unique(list(p.grid(levels))) for n, p in space.items()}


def grid_size(space: SearchSpace, levels: int = 3) -> int:
    """The number of points of ``space``'s grid with ``levels`` values per numeric parameter."""
    return _Branch(space, _levels(space, levels), {}).count()


class _Order:
    """A seeded bijection of ``range(n)``: a stored permutation when small, an affine map when large."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n = n
        self.perm = rng.permutation(n) if n <= _MATERIALISE else None
        self.a, self.b = 1, 0
        if self.perm is None:
            self.a = int(rng.integers(1, n))
            while math.gcd(self.a, n) != 1:
                self.a = int(rng.integers(1, n))
            self.b = int(rng.integers(n))

    def __getitem__(self, k: int) -> int:
        return int(self.perm[k]) if self.perm is not None else (self.a * k + self.b) % self.n


class GridSearcher(Searcher):
    """Exhaustive search over a discretized space, with an explicit error when it cannot finish.

    Options: ``levels`` values per Float/Int (2 → the bounds, 3 → bounds and middle, ...);
    ``allow_partial`` accepts a ``max_trials`` smaller than the grid (an evenly spread subset is evaluated).
    ``coverage()`` says how much of the grid was evaluated.

    With ``max_trials``, a grid larger than it is an error before anything runs. With only a time budget the
    cost of a point is unknown until some have run: after ``PROJECT_AFTER`` results (warm starts included) the
    searcher projects the time the rest of the grid needs from how fast the budget hint fell, and when that
    exceeds what is left, ``notice()`` says so (how many points the budget will cover, and what to change). The
    points are dealt in an evenly spread order, so a partial grid is still a fair sample of the space.
    """

    PROJECT_AFTER = 3

    name = "grid"

    def __init__(self, levels: int = 3, allow_partial: bool = False) -> None:
        self.levels = levels
        self.allow_partial = allow_partial

    def setup(self, space: SearchSpace, *, seed: int = 0, warm_start=(), max_trials: int | None = None) -> None:
        super().setup(space, seed=seed, warm_start=warm_start, max_trials=max_trials)
        if int(self.levels) < 1:
            raise ConfigError(f"grid search needs levels >= 1, got {self.levels}")
        self._levels = _levels(space, int(self.levels))
        top = top_categorical(space)
        fixed = [{top: j} for j in range(len(self._levels[top]))] if top else [{}]
        branches = [_Branch(space, self._levels, f) for f in fixed]
        sizes = [b.count() for b in branches]
        self._branches = [(b, _Order(n, self.rng)) for b, n in zip(branches, sizes) if n > 0]
        self._branches = [self._branches[i] for i in self.rng.permutation(len(self._branches))]
        self.total = sum(sizes)
        self._cursor = 0  # position in the round-robin deal
        self._hints: list[float] = []
        self._told_before = 0
        self._notice: str | None = None
        self._rounds = [0] * len(self._branches)
        off_grid = sum(not self._on_grid(c) for c in self._queue)
        if max_trials is not None and self.total + off_grid > max_trials and not self.allow_partial:
            raise GridTooLargeError(
                f"the grid has {self.total + off_grid} points ({self.levels} levels per numeric parameter"
                f"{', warm starts included' if off_grid else ''}) but max_trials={max_trials}, so it cannot be "
                f"exhausted; raise max_trials to {self.total + off_grid}, restrict the families, use fewer levels "
                f"(make_searcher('grid', levels=2)), or accept an evenly spread subset of {max_trials} points "
                f"(make_searcher('grid', allow_partial=True))")

    def _on_grid(self, config: Config) -> bool:
        return all(name in self._levels and any(v == u for u in self._levels[name]) for name, v in config.items())

    def _next_point(self) -> Config | None:
        live = [i for i, (_, order) in enumerate(self._branches) if self._rounds[i] < order.n]
        if not live:
            return None
        i = min(live, key=lambda k: (self._rounds[k], (k - self._cursor) % len(self._branches)))
        branch, order = self._branches[i]
        point = branch.decode(order[self._rounds[i]])
        self._rounds[i] += 1
        self._cursor = (i + 1) % len(self._branches)
        return point

    def _propose(self, trial_id: int) -> Proposal | None:
        seen = {p.config.id for p, _ in self.history.values() if p is not None}
        while True:
            point = self._next_point()
            if point is None:
                return None
            if point.id not in seen:
                return Proposal(point)

    def set_budget_hint(self, remaining_seconds: float) -> None:
        if not self._hints:  # results replayed from an earlier session took none of this session's time
            self._told_before = sum(r is not None for _, r in self.history.values())
        self._hints.append(float(remaining_seconds))

    def _observe(self, trial_id: int, proposal: Proposal | None, result: Any) -> None:
        told = sum(r is not None for _, r in self.history.values()) - self._told_before
        if self._notice is not None or self.max_trials is not None or len(self._hints) < 2 or told < self.PROJECT_AFTER:
            return
        cov = self.coverage()
        spent, left = self._hints[0] - self._hints[-1], self._hints[-1]
        per_point = spent / (told - 1)  # the hint last fell before the newest result came in
        remaining = self.total - cov.proposed
        if per_point <= 0 or remaining * per_point <= left:
            return
        reach = min(self.total, cov.proposed + int(left / per_point))
        self._notice = (
            f"grid search cannot be exhausted within the budget: {self.total} points at about {per_point:.1f} s "
            f"each need about {self.total * per_point:.0f} s, so about {reach} ({reach / self.total:.0%}) will be "
            f"evaluated, spread evenly over the grid. To cover it all, raise time_budget by about "
            f"{remaining * per_point - left:.0f} s, use fewer levels (search_options={{'levels': 2}}) or fewer "
            f"families; the run summary reports the coverage reached.")

    def notice(self) -> str | None:
        return self._notice

    def coverage(self) -> GridCoverage:
        """Grid points told so far (any status), proposed so far, and in total."""
        on = [(p, r) for p, r in self.history.values() if p is not None and self._on_grid(p.config)]
        ids = {p.config.id for p, _ in on}
        told = {p.config.id for p, r in on if r is not None}
        return GridCoverage(evaluated=len(told), proposed=len(ids), total=self.total)

    def state(self) -> dict[str, Any]:
        cov = self.coverage()
        return {**super().state(), "grid_total": cov.total, "grid_evaluated": cov.evaluated,
                "grid_coverage": round(cov.fraction, 4)}
