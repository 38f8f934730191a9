"""Before any trial runs: validate the frame, settle task, schema and metric, cut the folds, and set up the search.

Everything here is decided from the settings and the data alone (no store, no workers), so a bad argument or a
bad frame fails before a run directory is touched.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forgeml.data.infer import infer_schema
from forgeml.data.schema import Schema
from forgeml.data.splits import make_folds
from forgeml.data.validate import align_for_predict, check_values, compact_categoricals, validate_training
from forgeml.data.weights import pop_sample_weight
from forgeml.errors import ConfigError, SearchWarning, TargetError
from forgeml.metrics import Metric, accepts_sample_weight, get_metric
from forgeml.models import get_families
from forgeml.models.base import FitContext, ModelFamily
from forgeml.orchestrate.experience import Experience, recall
from forgeml.orchestrate.settings import RunSettings
from forgeml.pipeline.joint import default_configs, joint_space
from forgeml.search import make_searcher
from forgeml.search.base import Searcher
from forgeml.space import Config, SearchSpace

LARGE_ROWS = 100_000  # measured: multi-fidelity rungs lost to full-fidelity trials on diamonds (54k rows)


@dataclass
class Prepared:
    """The data and the search, ready to run: encoded target, folds, families, joint space and a set-up searcher."""

    schema: Schema
    metric: Metric
    X: pd.DataFrame
    y: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    n_workers: int
    n_threads: int
    families: dict[str, ModelFamily]
    searcher: Searcher
    space: SearchSpace
    warm: list[Config]
    sample_weight: np.ndarray | None = None  # the rows' weights, aligned with y, or None
    skipped: list[str] = field(default_factory=list)  # families left out: they cannot use sample_weight
    experience: Experience | None = None  # the knowledge base's warm start, and what the run will add to it


def prepare(settings: RunSettings, df: pd.DataFrame, target: str, sample_weight: str | None = None) -> Prepared:
    """Validate ``df`` and build everything the search needs; raises ``ForgeMLError``s for bad data or options.

    ``sample_weight`` names the column of ``df`` holding the rows' weights (not a feature), if any.
    """
    df = check_values(df, target, on_bad_value=settings.on_bad_value, inf_as_nan=settings.inf_as_nan)
    regression = "regression" in (settings.task, settings.task_restriction)  # no class checks on a number
    df = validate_training(df, target, inf_as_nan=settings.inf_as_nan, task="regression" if regression else None)
    df, row_weights = pop_sample_weight(df, sample_weight, target)
    task = resolve_task(settings.task, settings.task_restriction, df[target])
    schema = infer_schema(df, target, task=task)
    metric = get_metric(settings.metric, schema.task, classes=schema.classes)
    if row_weights is not None and not accepts_sample_weight(metric.fn):  # refuse weights, never ignore them
        raise ConfigError(f"metric {metric.name!r} takes no sample_weight; use a metric that does, or fit without "
                          "sample_weight")
    if row_weights is not None:
        check_weighted_ensembler(settings.ensemble)
    X = compact_categoricals(schema, align_for_predict(schema, df.drop(columns=[target]), keep_categories=True))
    y = encode_target(df, schema)
    if row_weights is not None and schema.task != "regression":
        check_weighted_classes(y, row_weights, schema)
    local = isinstance(settings.backend, str) and settings.backend == "local"  # a cluster has cores to spread
    n_workers, n_threads = resources(settings.n_jobs, n_rows=len(X) if local else 0)
    folds = make_folds(y, schema.task, n_rows=len(X), n_cols=X.shape[1], seed=settings.seed, n_folds=settings.n_folds)
    fctx = FitContext(task=schema.task, n_rows=int(len(X) * (1 - 1 / max(len(folds), 2))),
                      n_features=len(schema.modelled), n_classes=len(schema.classes), seed=settings.seed,
                      n_threads=n_threads)
    searcher = make_run_searcher(settings, len(X))
    families = choose_families(settings, searcher, fctx, schema.task)
    if settings.nas:
        from forgeml.orchestrate.network import nas_family, nas_options

        network = nas_family(nas_options(settings.nas), X, y, schema, time_budget=settings.time_budget,
                             seed=settings.seed, n_threads=n_workers * n_threads)
        if network is not None:
            families = {**families, network.name: network}
    skipped: list[str] = []
    if row_weights is not None:  # only families that honour the weights
        families, skipped = weighted_families(families, settings.families)
    space = joint_space(families, schema, fctx, settings.feature_engineering)
    defaults = default_configs(families, schema, fctx, settings.feature_engineering)
    experience = recall(settings.knowledge, X, y, schema, metric, space, defaults, seed=settings.seed,
                        portfolio=settings.portfolio, time_budget=_warm_budget(settings.time_budget, searcher))
    warm = experience.warm.configs
    searcher.setup(space, seed=settings.seed, warm_start=warm, max_trials=settings.max_trials)
    if experience.warm.prior and callable(getattr(searcher, "learn_prior", None)):  # a protocol object may lack it
        searcher.learn_prior(experience.warm.prior, rerun=experience.warm.rerun)
    return Prepared(schema=schema, metric=metric, X=X, y=y, folds=folds, n_workers=n_workers, n_threads=n_threads,
                    families=families, searcher=searcher, space=space, warm=warm, sample_weight=row_weights,
                    skipped=skipped, experience=experience)


def resolve_task(requested: str, restriction: str | None, y: pd.Series) -> str | None:
    """The task to fit: the user's explicit choice, else the estimator's restriction, else ``None`` (infer)."""
    if requested in ("binary", "multiclass", "regression"):
        want = requested
    elif requested == "classification" or restriction == "classification":
        want = "binary" if y.nunique() == 2 else "multiclass"
    elif restriction == "regression":
        want = "regression"
    else:
        return None
    if restriction == "classification" and want == "regression":
        raise ConfigError("AutoClassifier cannot fit a regression task; use AutoRegressor")
    if restriction == "regression" and want != "regression":
        raise ConfigError(f"AutoRegressor cannot fit a {want} task; use AutoClassifier")
    return want


def encode_target(df: pd.DataFrame, schema: Schema) -> np.ndarray:
    """The target as models see it: floats for regression, class indices 0..k-1 (in ``schema.classes`` order)."""
    y = df[schema.target]
    if schema.task == "regression":
        return pd.to_numeric(y, errors="raise").to_numpy(dtype=float)
    index = {c: i for i, c in enumerate(schema.classes)}
    return y.map(index).to_numpy(dtype=np.int64)


def resources(n_jobs: int, n_rows: int = 0) -> tuple[int, int]:
    """``(workers, threads per worker)``: one worker per core for ``n_jobs=-1``, the cores shared out otherwise.

    On a large table (``LARGE_ROWS``) ``n_jobs=-1`` means one worker with every core: each worker holds its own
    copy of the rows and of the libraries, and trials there are few and long, so threads pay more than workers.
    Measured on 750,000 rows x 50, 2 cores: peak memory 2.9 -> 2.3 GB at 60 s and 4.2 -> 2.7 GB at 300 s, test
    ROC AUC 0.7970 -> 0.7958 at 60 s and 0.8009 -> 0.8016 at 300 s (the lone final refit fits all rows)."""
    cores = os.cpu_count() or 1
    if n_jobs == -1 and n_rows >= LARGE_ROWS:
        return 1, cores
    n_workers = cores if n_jobs == -1 else min(n_jobs, max(cores, 1) * 4)
    return n_workers, max(1, cores // n_workers)


def _warm_budget(time_budget: float | None, searcher: Searcher) -> float | None:
    """The budget a warm start's full cost is held against: a multi-fidelity search starts it on a fraction of
    the rows, so it may cost that many times more at full size."""
    if time_budget is None:
        return None
    low = float(getattr(searcher, "min_fidelity", 1.0)) if getattr(searcher, "multi_fidelity", False) else 1.0
    return float(time_budget) / max(low, 1e-3)


def make_run_searcher(settings: RunSettings, n_rows: int) -> Searcher:
    """The searcher asked for, with cheap row-subsample rungs first when ``auto`` meets large data."""
    options: dict[str, Any] = dict(settings.search_options)
    if settings.search == "auto" and n_rows >= LARGE_ROWS:
        options.setdefault("multi_fidelity", True)
    return make_searcher(settings.search, **options)


def choose_families(settings: RunSettings, searcher: Searcher, fctx: FitContext, task: str) -> dict[str, ModelFamily]:
    """The families to search: those that apply here, and only those trained in rounds or epochs when the
    searcher's fidelity is iterations (PBT). Raises when none is left, saying what to change."""
    families = get_families(settings.families, fctx)
    if not families:
        raise ConfigError(f"no model family applies to this {task} task with the families {settings.families}")
    if searcher.fidelity_unit != "iterations":
        return families
    dropped = [n for n, f in families.items() if not f.capabilities.iterative_param]
    families = {n: f for n, f in families.items() if f.capabilities.iterative_param}
    if dropped and families and settings.families is not None:  # the user named them: say why they are unused
        # stacklevel: choose_families < prepare < run_automl < AutoML.fit < the user's call
        warnings.warn(f"search={settings.search!r} trains models in rounds or epochs; not searching "
                      f"{', '.join(dropped)}, which {'is' if len(dropped) == 1 else 'are'} not trained that way",
                      SearchWarning, stacklevel=5)
    if not families:
        raise ConfigError(f"search={settings.search!r} trains models in rounds or epochs, and none of the families "
                          f"{settings.families} is trained that way; add e.g. 'lightgbm' or 'mlp', or pick "
                          "another search")
    return families


def weighted_families(families: dict[str, ModelFamily], requested: Any) -> tuple[dict[str, ModelFamily], list[str]]:
    """The families that honour ``sample_weight``, and the names of those left out (with a ``SearchWarning``)."""
    from forgeml.models import split_by_sample_weight
    from forgeml.orchestrate.report import skipped_note

    kept, skipped = split_by_sample_weight(families)
    if not kept:
        raise ConfigError(f"none of the families {requested or list(families)} can use sample_weight; add one that "
                          "can (e.g. 'lightgbm' or 'linear'), or fit without sample_weight")
    if skipped:  # stacklevel: weighted_families < prepare < run_automl < AutoML.fit < the user's call
        warnings.warn(f"{skipped_note(skipped)}; they would ignore the weights", SearchWarning, stacklevel=5)
    return kept, skipped


def check_weighted_classes(y: np.ndarray, weights: np.ndarray, schema: Schema) -> None:
    """A classifier needs two classes with weight: zero weights on every row of all classes but one leave a
    one-class problem, which no fold could score."""
    weighted = np.unique(y[weights > 0])
    if len(weighted) < 2:
        only = schema.classes[int(weighted[0])] if len(weighted) else None
        raise TargetError(f"sample_weight is zero on every row of all classes but one ({only!r}); a classifier "
                          "needs at least two classes with non-zero weight to learn from")


def check_weighted_ensembler(spec: Any) -> None:
    """A weighted run's ensembler must score its blends with the weights: refuse one whose ``fit`` takes no
    ``sample_weight`` before the search, rather than fail (or ignore the weights) after it."""
    from forgeml.ensemble import resolve_ensembler

    if isinstance(spec, str) and spec == "auto":  # "auto" compares only the methods that take weights
        return
    ensembler = resolve_ensembler(spec)
    if ensembler is None:
        return
    if not takes_weights(ensembler):
        name = getattr(ensembler, "name", "") or type(ensembler).__name__
        raise ConfigError(f"ensembler {name!r} takes no sample_weight, so it cannot weigh the rows of this weighted "
                          "fit; give its fit a sample_weight=None parameter, use ensemble='greedy', or fit without "
                          "sample_weight")


def takes_weights(ensembler: Any) -> bool:
    """Whether an ensembler's ``fit`` accepts ``sample_weight``."""
    import inspect

    params = inspect.signature(ensembler.fit).parameters.values()
    return any(p.name == "sample_weight" or p.kind is p.VAR_KEYWORD for p in params)
