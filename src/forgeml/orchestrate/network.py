"""``AutoML(nas=...)``: search a network architecture on the training rows before the main search, and add the
found network to the families as ``"nas"``, so it is cross-validated, ensembled and refit like any model.

The architecture search takes ``time_share`` of the budget (default a quarter; 60 s when the run has only
``max_trials``), runs in this process on all cores before any worker starts, and its validation split is carved
from the training rows only. A search that finds no working network is a warning, never a failed fit.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from forgeml.data.schema import Schema
from forgeml.errors import ConfigError, ForgeMLError, SearchWarning

NAS_OPTIONS = {"strategy": "evolution", "space": "macro", "time_share": 0.25, "epochs": (5, 40)}
NO_BUDGET_S = 60.0


def nas_options(spec: Any) -> dict[str, Any] | None:
    """``nas=`` as options: ``False``/``None`` off, ``True`` the defaults, a dict of ``NAS_OPTIONS`` overrides."""
    if spec is None or spec is False:
        return None
    if spec is True:
        return dict(NAS_OPTIONS)
    if not isinstance(spec, dict):
        raise ConfigError(f"nas must be True, False or a dict of options ({', '.join(NAS_OPTIONS)}), got {spec!r}")
    unknown = sorted(set(spec) - set(NAS_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown nas option(s) {', '.join(map(repr, unknown))}; use {', '.join(NAS_OPTIONS)}")
    out = {**NAS_OPTIONS, **spec}
    share = out["time_share"]
    if not isinstance(share, (int, float)) or not 0 < share < 1:
        raise ConfigError(f"nas time_share must be a fraction of the budget in (0, 1), got {share!r}")
    return out


def nas_family(options: dict[str, Any], X: pd.DataFrame, y: np.ndarray, schema: Schema, *,
               time_budget: float | None, seed: int, n_threads: int) -> Any | None:
    """The found network as a ``NASFamily``, or ``None`` (with a ``SearchWarning``) when none was found."""
    from forgeml.nas.family import NASFamily
    from forgeml.nas.search import NASearch
    from forgeml.nn.trainer import TORCH_CPU_THREADS

    seconds = float(options["time_share"]) * float(time_budget) if time_budget else NO_BUDGET_S
    search = NASearch(strategy=options["strategy"], space=options["space"], time_budget=seconds, seed=seed,
                      epochs=tuple(options["epochs"]), task=schema.task, n_threads=min(n_threads, TORCH_CPU_THREADS))
    target = y if schema.task == "regression" else np.asarray(schema.classes, dtype=object)[y]
    try:
        search.fit(X, target)
    except ConfigError:
        raise
    except ForgeMLError as exc:
        # stacklevel: nas_family < prepare < run_automl < AutoML.fit < the user's call
        warnings.warn(f"the architecture search found no network ({exc}); searching without it", SearchWarning,
                      stacklevel=5)
        return None
    return NASFamily(search.genotype_, epochs=max(5, int(round(1.25 * search.best_epoch_))))
