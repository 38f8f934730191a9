"""Model-agnostic Shapley values over the input columns by sampling permutations (Štrumbelj & Kononenko, 2014).

For a row ``x``, each sample ``s`` draws a permutation of the input columns and one background row ``z_s``; walking
the permutation, the columns are switched one by one from ``z_s``'s values to ``x``'s, and each column is credited
with the change of the model's output at its step. The credits of one sample sum to ``f(x) - f(z_s)`` exactly, so
averaged over the samples they sum to ``f(x) - base`` with ``base`` the mean of ``f`` over the background rows used:
efficiency holds to rounding, whatever the number of samples. Each column's estimate is unbiased for its Shapley
value against that background (interventional value function), with a standard error of about ``sd / sqrt(S)``.

Variance reduction: samples come in antithetic pairs (a permutation and its reverse, with the same background row),
and every row uses the same background rows, so ``base`` is one number for all rows. Cost: ``S * (m - 1) + 1``
model evaluations per row for ``m`` modelled columns, batched into predictions of at most ``BATCH_ROWS`` rows.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

BATCH_ROWS = 50_000


def sampled_shapley(f: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame, background: pd.DataFrame,
                    columns: list[str], n_samples: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(phi, base)``: ``phi[i, j, o]`` the credit of ``columns[j]`` for output ``o`` of ``f`` on row ``i`` of
    ``X``, and ``base[o]`` the mean output over the background rows used, so that
    ``base + phi[i].sum(axis=0) == f(X)[i]``.

    ``f`` maps a frame with ``X``'s columns to an ``(n, n_out)`` array. Columns of ``X`` not in ``columns`` keep
    ``x``'s value throughout (their credit is 0). ``n_samples`` (rounded up to even) permutations per row, using
    ``n_samples // 2`` background rows drawn from ``background`` (seeded).
    """
    rng = np.random.default_rng(seed)
    pairs = max(1, (int(n_samples) + 1) // 2)
    S, m, n = 2 * pairs, len(columns), len(X)
    Z = background.iloc[rng.choice(len(background), pairs, replace=len(background) < pairs)]
    X = X.reset_index(drop=True)
    # the position of each column in each sample's permutation: a permutation, then its reverse
    order = np.array([rng.permutation(m) for _ in range(pairs)])
    order = np.stack([order, order[:, ::-1]], axis=1).reshape(S, m)
    pos = np.argsort(order, axis=1)  # pos[s, j]: the step at which column j switches to x's value
    fx = _as_2d(f(X))
    fz = np.repeat(_as_2d(f(_with_columns(X.iloc[np.zeros(pairs, dtype=int)], Z, columns))), 2, axis=0)  # (S, o)
    base = fz.mean(axis=0)
    phi = np.zeros((n, m, fx.shape[1]))
    if m == 0:
        return phi, base
    chunk = max(1, BATCH_ROWS // (S * max(1, m - 1)))
    for lo in range(0, n, chunk):
        rows = np.arange(lo, min(n, lo + chunk))
        phi[rows] = _walk(f, X, Z, columns, rows, order, pos, fx[rows], fz)
    return phi, base


def _walk(f, X, Z, columns, rows, order, pos, fx, fz) -> np.ndarray:
    """The credits of ``rows``: outputs along every permutation walk, differenced step by step."""
    S, m = pos.shape
    steps = np.arange(1, m)  # intermediate points: after t columns switched to x (t = 0 is z, t = m is x)
    r = np.repeat(rows, S * len(steps))
    s = np.tile(np.repeat(np.arange(S), len(steps)), len(rows))
    t = np.tile(steps, len(rows) * S)
    frame = X.iloc[r].reset_index(drop=True)
    z_rows = s // 2
    for j, col in enumerate(columns):
        use_x = pos[s, j] < t
        zvals = Z[col].array.take(z_rows)
        xvals = frame[col].array
        frame[col] = pd.Series(xvals, copy=True).where(use_x, pd.Series(zvals))
    out = _as_2d(f(frame)).reshape(len(rows), S, len(steps), -1)
    walk = np.concatenate([np.broadcast_to(fz[None, :, None, :], (len(rows), S, 1, out.shape[-1])), out,
                           np.broadcast_to(fx[:, None, None, :], (len(rows), S, 1, out.shape[-1]))], axis=2)
    delta = np.diff(walk, axis=2)  # (rows, S, m, o): the change at step t is due to column order[s, t]
    phi = np.zeros((len(rows), m, out.shape[-1]))
    for k in range(S):
        phi[:, order[k], :] += delta[:, k]
    return phi / S


def _with_columns(X: pd.DataFrame, Z: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``X``'s rows (one per row of ``Z``) with ``columns`` taken from ``Z``."""
    out = X.reset_index(drop=True).copy()
    for col in columns:
        out[col] = Z[col].reset_index(drop=True)
    return out


def _as_2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a.reshape(len(a), -1)
