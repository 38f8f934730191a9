"""The small synthetic table of the NAS tests. Named uniquely so that importing it never picks up another folder's
helpers."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def table(n: int = 240, seed: int = 0, *, n_features: int, rule: Callable[[np.ndarray], np.ndarray],
          labels: tuple[str, str] = ("yes", "no"), colour: bool = False,
          target: str | None = None) -> tuple[pd.DataFrame, np.ndarray] | pd.DataFrame:
    """``n`` rows of ``n_features`` standard-normal columns ``x0, x1, ...`` (drawn first), then with ``colour`` a
    red/green/blue column (drawn second). A row's label is ``labels[0]`` where ``rule(X)`` holds, else
    ``labels[1]``. Returns ``(X, y)``, or with ``target`` one frame with the labels in that column, last."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(n_features)])
    if colour:
        df["colour"] = rng.choice(["red", "green", "blue"], size=n)
    y = np.where(rule(X), *labels)
    if target is None:
        return df, y
    df[target] = y
    return df
