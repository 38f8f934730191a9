"""The user-facing estimators: ``AutoML``, ``AutoClassifier``, ``AutoRegressor``.

``__init__`` stores parameters only (scikit-learn contract); ``fit`` validates at the edge, runs the
orchestrator and sets ``best_pipeline_``, ``schema_``, ``leaderboard_``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if

from forgeml.data.validate import check_on_bad_value
from forgeml.errors import ConfigError, DataError, NotFittedError, SchemaMismatchError, TargetError, TaskMismatchError
from forgeml.orchestrate.network import nas_options
from forgeml.orchestrate.settings import RunSettings

if TYPE_CHECKING:  # imported by the run itself; `import forgeml` stays light
    from forgeml.pipeline.fitted import FittedPipeline

CLASSIFICATION_TASKS = ("classification", "binary", "multiclass")

TASK_ALIASES = {"auto": None, "classification": "classification", "binary": "binary",
                "multiclass": "multiclass", "regression": "regression"}


class AutoML(BaseEstimator):
    """Search preprocessing × model family × hyperparameters within a wall-clock budget.

    Args:
        time_budget: seconds for the whole ``fit`` (search, ensemble and refit); ``None`` needs ``max_trials``.
        metric: ``"auto"`` (ROC AUC binary, log loss multiclass, RMSE regression), a name from
            ``forgeml.metrics.METRICS`` (built-in or registered with ``forgeml.register_metric``), a ``Metric`` from
            ``forgeml.make_metric``, or a plain callable ``f(y_true, y_pred) -> float``, taken as higher-is-better
            on predicted labels (classification, in your own labels) or values (regression). A metric or family
            object must be defined in an importable module (not ``__main__`` or a lambda): worker processes import
            it by reference.
        task: ``"auto"``, ``"binary"``, ``"multiclass"``, ``"regression"`` or ``"classification"``.
        seed: every random choice derives from it.
        max_trials: stop after this many search trials; with it the run is reproducible.
        n_jobs: parallel trials (-1 = one per core); threads per trial = cores // n_jobs.
        n_folds: cross-validation folds per trial; ``None`` (default) takes 5 on small tables, 3 above 1,000,000
            rows x columns (x classes, for more than two) and one 20 % holdout above 100,000 rows; ``1`` a holdout.
        search: a strategy name from ``forgeml.search.SEARCHERS`` or a ``Searcher`` object (copied at each fit).
        search_options: options for that strategy (e.g. ``{"levels": 2, "allow_partial": True}`` for grid).
        families: model families to consider, as names and/or ``ModelFamily`` objects (default: all registered).
        ensemble: ``"auto"`` (default: every registered method and the single best pipeline are compared on
            nested out-of-fold scores, which none of them was fitted on, and the best is kept), a name from
            ``forgeml.ensemble.ENSEMBLERS`` to force one (``"greedy"``, ``"stacking"``, ``"super_learner"``,
            ``"blending"``, ``"voting"``), ``None`` or ``False`` (the single best pipeline), ``True`` (greedy) or an
            ``Ensembler`` object. The leaderboard lists every method compared, with ``chosen`` marking the one kept.
        refit: how the kept ensemble's members become deployable models: ``"auto"`` (default) refits each on all
            rows when the time left allows and otherwise (or when its refit fails) averages the fold models its
            cross-validation trained (k-fold bagging); ``"full"`` always refits on all rows (a member that cannot
            be refit in time is dropped); ``"bag"`` never refits: every member is its fold models, whose predictions
            are exactly the ones the ensemble was scored on (predicting costs one model per fold).
        infer_limit: the most seconds per row the returned model may take to predict, measured on a batch of
            10,000 rows after the refits (``None``: no limit). An ensemble over it is first pruned to it, dropping
            the members that give up least out-of-fold score per second saved (as AutoGluon does for its
            ``infer_limit``); else the best-scoring other candidate within it is kept.
        ensemble_prune: the share of an ensemble's out-of-fold gain over its best member it may give up to drop
            members that cost more to predict with than they add (costliest first, by their measured predict time;
            ``forgeml.ensemble.prune``), e.g. ``0.1`` for a lighter model; ``0`` (default) keeps every member.
            Measured at 60 s, 0.1 made 10,000-row batches 1.25-8x faster on 7 of 8 tables, and over 14 datasets x
            2 seeds gave a mean normalised test score of 0.992 against 0.995 (docs/benchmarks.md): off by default.
        path: run directory (experiment store, artifacts, saved model), kept after ``fit``; default a new
            temporary directory, removed when ``fit`` ends (also when it fails): pass ``path`` to keep the run.
        resume: continue the latest run stored in ``path`` instead of starting a new one.
        overwrite: replace a finished run already in ``path`` (only the files forgeml wrote there are removed);
            without it, or ``resume``, fitting into such a directory is a ``ConfigError``.
        backend: where trials run: ``"local"`` worker processes, ``"ray"`` (``ray_address`` for an existing
            cluster), a name registered with ``forgeml.register_executor``, an ``Executor`` class (built with
            the run's workers, threads and memory limit) or an instance (copied at each fit, with its own options).
        inf_as_nan: read +/-inf in feature columns as missing values (default: an error, at fit and predict).
        on_bad_value: what to do, at fit and at predict, with a value that cannot be read as its column's type
            (``"abc"`` in a numeric column, an unparseable date): ``"raise"`` (default) a ``DataError`` naming the
            column, row and value, or ``"nan"`` to read it as missing, with a warning naming it.
        feature_engineering: ``True`` (default) also searches generated features (products, ratios, ...),
            skew and target transforms, count encoding, group statistics and cyclic dates, each fitted on the
            training folds only (docs/feature_engineering.md); ``False`` searches today's preprocessing only.
        verbose: 0 silent; 1 progress: a live bar on a terminal, an updating bar in a notebook, plain lines on
            stderr in a file or a pipe (each new best at most every 5 s, each step, the end); 2 more lines.
        knowledge: the knowledge base this run learns from and adds to: ``"auto"`` (default) the user's own
            (``$FORGEML_HOME/knowledge.db``, else ``~/.local/share/forgeml/knowledge.db``), a path to an SQLite
            file, or ``None`` for none. The search starts from the best configurations of the most similar past
            datasets (by meta-features); runs on the very same data are not used, so refitting reproduces. A
            file that cannot be used is a warning and a cold start. ``forgeml knowledge PATH`` summarises one.
        portfolio: the configurations tried first when the knowledge base has nothing closer: ``"auto"``
            (default) the zero-shot portfolio shipped with forgeml (built over the datasets of its benchmark
            suite, docs/meta.md; ``$FORGEML_PORTFOLIO`` replaces it with a portfolio file, or ``none``, for every
            run of the machine, as a benchmark of that suite needs), a path to a portfolio file
            (``scripts/build_portfolio.py``), a list of config dicts, or ``None`` to start from the families'
            hand-written defaults only.
        nas: ``True`` searches a neural network architecture first (a quarter of the budget, on the training
            rows) and adds the found network to the families as ``"nas"``, cross-validated and ensembled like the
            others; a dict sets ``strategy``, ``space``, ``time_share`` and ``epochs`` (docs/nas.md). ``False``
            (default): no architecture search.
    """

    _task_restriction: str | None = None
    # defaults for parameters added after models were first saved: an older pickle lacks them
    on_bad_value: str = "raise"
    overwrite: bool = False
    infer_limit: float | None = None
    ensemble_prune: float = 0.0
    refit: str = "auto"
    knowledge: Any = None
    feature_engineering: bool = True
    portfolio: Any = None
    nas: Any = False

    def __init__(self, time_budget: float | None = 60.0, metric: str | Callable[..., float] = "auto",
                 task: str = "auto", seed: int = 0, max_trials: int | None = None, n_jobs: int = -1,
                 search: str | Any = "auto", search_options: dict[str, Any] | None = None,
                 families: list[str | Any] | None = None, ensemble: bool | str | Any | None = "auto",
                 n_folds: int | None = None,
                 per_trial_timeout: float | None = None, memory_limit_mb: float | None = None,
                 path: str | None = None, resume: bool = False, backend: str = "local",
                 ray_address: str | None = None, inf_as_nan: bool = False, verbose: int = 1,
                 raise_on_trial_error: bool = False, on_bad_value: str = "raise", overwrite: bool = False,
                 infer_limit: float | None = None, refit: str = "auto", knowledge: Any = "auto",
                 feature_engineering: bool = True, portfolio: Any = "auto", nas: Any = False,
                 ensemble_prune: float = 0.0) -> None:
        self.time_budget = time_budget
        self.metric = metric
        self.task = task
        self.seed = seed
        self.max_trials = max_trials
        self.n_jobs = n_jobs
        self.search = search
        self.search_options = search_options
        self.families = families
        self.ensemble = ensemble
        self.n_folds = n_folds
        self.per_trial_timeout = per_trial_timeout
        self.memory_limit_mb = memory_limit_mb
        self.path = path
        self.resume = resume
        self.backend = backend
        self.ray_address = ray_address
        self.inf_as_nan = inf_as_nan
        self.verbose = verbose
        self.raise_on_trial_error = raise_on_trial_error
        self.on_bad_value = on_bad_value
        self.overwrite = overwrite
        self.infer_limit = infer_limit
        self.ensemble_prune = ensemble_prune
        self.refit = refit
        self.knowledge = knowledge
        self.feature_engineering = feature_engineering
        self.portfolio = portfolio
        self.nas = nas

    # ------------------------------------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, *, target: str | None = None, sample_weight: Any = None) -> AutoML:
        """Fit on a DataFrame with a ``target`` column, on ``(X, y)``, or on a CSV/Parquet path.

        ``sample_weight``: one non-negative weight per row (an array-like), or the name of a column of the
        training frame holding them (that column is then not a feature). The folds' fits and scores, the metric,
        the ensemble and the final refit all count row i ``sample_weight[i]`` times; model families that cannot
        use weights (kNN, MLP) are left out of the search with a ``SearchWarning`` and a note in the leaderboard.
        """
        from forgeml.data.weights import attach_sample_weight
        from forgeml.orchestrate.run import run_automl
        from forgeml.store.rundir import prepare_run_dir

        self._check_params()
        if self.path:
            prepare_run_dir(self.path, resume=self.resume, overwrite=self.overwrite, clear=False)
        df, target = self._frame(X, y, target)
        df, weight_column = attach_sample_weight(df, sample_weight, target)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        run_dir = self.path or tempfile.mkdtemp(prefix="forgeml-")
        try:
            outcome = run_automl(self._settings(), df, target, run_dir, sample_weight=weight_column)
            from forgeml.report.capture import capture  # while run_dir still holds the out-of-fold files

            report_data = capture(df, target, outcome, run_dir, weight_column=weight_column, seed=self.seed)
            if not self.path:  # the temporary folder goes: keep in memory what inspection needs later
                from forgeml.store import Store

                with Store.open(run_dir, create=False) as store:
                    self._trials = store.trials(outcome.run_id)
        finally:
            if not self.path:
                shutil.rmtree(run_dir, ignore_errors=True)
        self.schema_ = outcome.schema
        self._report_rows = _report_sample(df, target, self.seed, drop=weight_column)
        self.metric_ = outcome.metric
        self.best_pipeline_: FittedPipeline = outcome.pipeline
        self.leaderboard_ = outcome.leaderboard
        self.run_dir_ = self.path or None
        self.run_id_ = outcome.run_id
        self.n_trials_ = outcome.n_trials
        self.search_summary_ = outcome.search_summary
        self._ensemble_candidates = outcome.candidates  # for `forgeml bench-ensembles`: each method's ensemble
        self.fit_seconds_ = outcome.seconds
        self.report_data_ = report_data  # dataset profile and out-of-fold predictions, for report()
        self.task_ = outcome.schema.task
        if self.task_ != "regression":
            self.classes_ = self.best_pipeline_.classes_
        self.feature_names_in_ = np.asarray(outcome.schema.names(), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        if self.path:
            self.save(self.path)
        return self

    def _settings(self) -> RunSettings:
        """The run's options as one frozen value: what the orchestrator reads instead of this estimator."""
        return RunSettings(
            time_budget=self.time_budget, metric=self.metric, task=self.task, task_restriction=self._task_restriction,
            seed=self.seed, max_trials=self.max_trials, n_jobs=self.n_jobs, search=self.search,
            search_options=self.search_options or {}, families=self.families, ensemble=self.ensemble,
            n_folds=self.n_folds, per_trial_timeout=self.per_trial_timeout, memory_limit_mb=self.memory_limit_mb,
            resume=self.resume, backend=self.backend,
            backend_options={"address": self.ray_address} if self.backend == "ray" and self.ray_address else {},
            inf_as_nan=self.inf_as_nan, on_bad_value=self.on_bad_value, overwrite=self.overwrite,
            verbose=self.verbose, infer_limit=self.infer_limit, ensemble_prune=self.ensemble_prune, refit=self.refit,
            knowledge=self.knowledge,
            feature_engineering=self.feature_engineering, portfolio=self.portfolio, nas=self.nas,
            raise_on_trial_error=self.raise_on_trial_error)

    def _check_params(self) -> None:
        nas_options(self.nas)  # a bad nas= is refused before any work
        if self.time_budget is None and self.max_trials is None:
            raise ConfigError("give a time_budget (seconds) or max_trials; both are None")
        if self.time_budget is not None and not (isinstance(self.time_budget, (int, float)) and self.time_budget > 0):
            raise ConfigError(f"time_budget must be a positive number of seconds, got {self.time_budget!r}")
        if self.max_trials is not None and (not isinstance(self.max_trials, int) or self.max_trials < 1):
            raise ConfigError(f"max_trials must be a positive integer, got {self.max_trials!r}")
        if self.task not in TASK_ALIASES:
            raise ConfigError(f"unknown task {self.task!r}; use one of: {', '.join(TASK_ALIASES)}")
        if not isinstance(self.n_jobs, int) or self.n_jobs == 0 or self.n_jobs < -1:
            raise ConfigError(f"n_jobs must be -1 or a positive integer, got {self.n_jobs!r}")
        if self.resume and not self.path:
            raise ConfigError("resume=True needs path= the run directory to resume")
        check_on_bad_value(self.on_bad_value)
        from forgeml.orchestrate.settings import REFIT_CHOICES

        if not isinstance(self.refit, str) or self.refit not in REFIT_CHOICES:
            raise ConfigError(f"refit must be one of {', '.join(map(repr, REFIT_CHOICES))}, got {self.refit!r}")
        if not (self.knowledge is None or self.knowledge is False or isinstance(self.knowledge, (str, os.PathLike))):
            raise ConfigError(f"knowledge must be 'auto', a path to a knowledge base, or None; got {self.knowledge!r}")
        p = self.portfolio
        if not (p is None or p is False or isinstance(p, (str, os.PathLike)) or
                (isinstance(p, (list, tuple)) and all(isinstance(c, dict) for c in p))):
            raise ConfigError(f"portfolio must be 'auto', a path to a portfolio file, a list of config dicts, or "
                              f"None; got {p!r}")
        if not isinstance(self.feature_engineering, bool):
            raise ConfigError(f"feature_engineering must be True or False, got {self.feature_engineering!r}")
        limit = self.infer_limit
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))
                                  or not np.isfinite(limit) or limit <= 0):
            raise ConfigError(f"infer_limit must be a positive number of seconds per row (e.g. 1e-4), or None for no "
                              f"limit; got {limit!r}")
        prune = self.ensemble_prune
        if isinstance(prune, bool) or not isinstance(prune, (int, float)) or not 0 <= prune <= 1:
            raise ConfigError(f"ensemble_prune must be a number from 0 (keep every member) to 1, the share of the "
                              f"ensemble's gain over its best member it may give up; got {prune!r}")
        self._check_plugins()

    def _check_plugins(self) -> None:
        """Refuse a broken metric, family, searcher or ensembler object before any data is read."""
        from forgeml.ensemble import resolve_ensembler
        from forgeml.metrics import Metric

        if not (isinstance(self.metric, (str, Metric)) or callable(self.metric)):
            raise ConfigError(f"metric must be a name, a callable f(y_true, y_pred) -> float or a Metric from "
                              f"forgeml.make_metric, got {type(self.metric).__name__}")
        if self.families is not None:
            if isinstance(self.families, str) or not isinstance(self.families, (list, tuple)):
                raise ConfigError(f"families must be a list of names and/or ModelFamily objects, got "
                                  f"{self.families!r}")
            from forgeml.models import check_family
            for f in self.families:
                if not isinstance(f, str):
                    check_family(None, f)
        if not isinstance(self.search, str):
            from forgeml.search import check_searcher_class
            check_searcher_class(None, self.search)
        # a name is looked up now (an unknown one is a ConfigError listing the choices), not after the search
        if not (isinstance(self.ensemble, str) and self.ensemble == "auto"):
            resolve_ensembler(self.ensemble, check=not isinstance(self.ensemble, (bool, str, type(None))))

    def _frame(self, X: Any, y: Any, target: str | None) -> tuple[pd.DataFrame, str]:
        """The training table with the target as a column; the edge checks an sklearn user expects of ``fit``."""
        from forgeml.data.load import read_table

        if y is None:
            if target is None:
                raise TargetError(f"{type(self).__name__} requires y to be passed, but the target y is None: "
                                  "call fit(X, y), or fit(df, target='column') to predict a column of df")
            df = read_table(X)
            _check_rows(len(df))  # a table without feature columns is validate_training's to name
            self._check_target(df[target] if target in df.columns else None)
            return df, target
        df = read_table(X)
        if df.shape[1] == 0 and len(df) > 0:
            raise DataError(f"X has 0 feature(s) (shape=({len(df)}, 0)) while a minimum of 1 is required; "
                            "pass at least one feature column")
        _check_rows(len(df))
        yv = _target_array(y)
        if len(yv) != len(df):
            raise DataError(f"X has {len(df)} rows but y has {len(yv)}; they must match")
        name = target or (y.name if isinstance(y, pd.Series) and y.name is not None else "target")
        while name in df.columns:
            name = f"_{name}"
        df = df.copy()
        df[name] = yv
        self._check_target(df[name])
        return df, str(name)

    def _check_target(self, y: pd.Series | None) -> None:
        """A classifier's target must hold class labels: at least two, and not continuous numbers."""
        if y is None or not (self._task_restriction == "classification" or self.task in CLASSIFICATION_TASKS):
            return
        values = y.dropna()
        if len(values) == 0:
            return  # validate_training says that the target is entirely missing
        if pd.api.types.is_float_dtype(values.dtype):
            f = values.to_numpy(dtype="float64")
            frac = f[np.isfinite(f) & (f != np.round(f))]
            if len(frac):
                raise TargetError(
                    f"Unknown label type: continuous. {type(self).__name__} predicts class labels, but the target "
                    f"{y.name!r} holds non-integer numbers such as {float(frac[0]):g}; use AutoRegressor (or "
                    "task='regression') to predict a number, or pass class labels")
        if values.nunique() < 2:
            only = values.iloc[0].item() if hasattr(values.iloc[0], "item") else values.iloc[0]
            raise TargetError(f"the target {y.name!r} has only one class ({only!r}); a classifier "
                              "needs at least two classes to learn from")

    # ---------------------------------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "best_pipeline_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(...) first")

    def predict(self, X: Any) -> np.ndarray:
        """Predictions in the user's label space."""
        self._check_fitted()
        X, fitted = self._read(X), self.best_pipeline_
        return fitted.predict_aligned(X) if self._aligned_for(fitted, X) else fitted.predict(X)

    def _may_predict_proba(self) -> bool:
        return self._task_restriction != "regression"

    @available_if(_may_predict_proba)
    def predict_proba(self, X: Any) -> pd.DataFrame:
        """Class probabilities as a DataFrame whose columns are the classes (classification only)."""
        self._check_fitted()
        if self.task_ == "regression":
            raise TaskMismatchError("predict_proba needs a classification model, but this one was fit for "
                                    "regression; use predict(X) for its numeric predictions")
        Xa, fitted = self._read(X), self.best_pipeline_
        p = fitted.proba_aligned(Xa) if self._aligned_for(fitted, Xa) else fitted.predict_proba(Xa)
        frame_index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(p, columns=self.classes_.tolist(), index=frame_index)

    def _aligned_for(self, fitted: Any, X: Any) -> bool:
        """Whether ``X``, as ``_read`` returned it, is aligned to ``fitted``'s schema (then ``fitted`` need not
        align it again)."""
        schema = getattr(fitted, "schema", None)
        return (isinstance(X, pd.DataFrame) and hasattr(fitted, "proba_aligned")
                and (schema is self.schema_ or schema == self.schema_))

    def _read(self, X: Any) -> Any:
        """``X`` as the fitted pipeline reads it: a frame aligned to the schema with the estimator's own value
        policy (``on_bad_value``, ``inf_as_nan``), or a 2-D array whose column count is checked against
        ``n_features_in_`` here."""
        from forgeml.data.load import check_not_complex, is_array_like, read_table, to_array
        from forgeml.data.validate import align_for_predict

        if isinstance(X, (str, os.PathLike)):
            X = read_table(X)
        elif isinstance(X, pd.DataFrame):
            check_not_complex(X)
        elif isinstance(X, pd.Series):
            pass  # one row, aligned below with the estimator's value policy like any frame
        elif not is_array_like(X):
            return X  # the pipeline's align_for_predict names what it got
        else:
            arr = to_array(X)
            if arr.shape[1] != self.n_features_in_:
                names = ", ".join(repr(str(n)) for n in self.feature_names_in_[:20])
                raise SchemaMismatchError(
                    f"X has {arr.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} "
                    f"features as input ({names}); pass a DataFrame, or an array with those columns in that order")
            X = arr
        # the pipeline's own check then finds nothing left to change
        return align_for_predict(self.schema_, X, on_bad_value=self.on_bad_value, inf_as_nan=self.inf_as_nan)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """The run's metric on ``(X, y)``, in its natural direction (AUC up, RMSE down), each row counted
        ``sample_weight[i]`` times when weights are given. Like ``fit(df, target=...)``, a frame that holds the
        target scores on its own: ``score(test_df)`` (the training target's name) or ``score(test_df, "col")``; a
        weight column of the frame is not read (pass ``sample_weight``)."""
        self._check_fitted()
        X, y = self._scored_rows(X, y)
        return self._metric_on(self.metric_, X, y, sample_weight)

    def _scored_rows(self, X: Any, y: Any) -> tuple[Any, np.ndarray]:
        """``(X, y)`` with ``y`` as an array, read from the frame (or file) holding the target when ``y`` is None
        or a column name; X and y of different lengths are an error here, before any model predicts."""
        if y is None or isinstance(y, str):
            if isinstance(X, (str, os.PathLike)):
                from forgeml.data.load import read_table

                X = read_table(X)
            name = y if y is not None else self.schema_.target
            if not isinstance(X, pd.DataFrame) or name not in X.columns:
                where = "y is None" if y is None else f"y is the string {y!r}"
                raise TargetError(f"{where}, so the target is read from X's column {name!r}, which X does not "
                                  f"have: pass score(X, y) with the true values, or a frame holding the {name!r} "
                                  "column")
            X, y = X.drop(columns=[name]), X[name]
        y = _target_array(y)
        if isinstance(X, pd.Series):
            rows = 1  # one row, as predict reads it
        elif hasattr(X, "shape") and len(X.shape):
            rows = X.shape[0]
        else:
            rows = len(X) if isinstance(X, (list, tuple)) else None
        if rows is not None and rows != len(y):
            raise DataError(f"X has {rows} rows but y has {len(y)}; they must match")
        return X, y

    def _metric_on(self, metric, X: Any, y: np.ndarray, sample_weight: Any = None) -> float:
        from forgeml.data.weights import check_sample_weight

        w = None if sample_weight is None else check_sample_weight(sample_weight, len(y))
        if self.task_ == "regression":
            return metric.score(y.astype(float), self.predict(X), sample_weight=w)
        index = {c: i for i, c in enumerate(self.classes_)}
        try:
            codes = np.array([index[v] for v in y])
        except KeyError as exc:
            raise DataError(f"y holds the label {exc.args[0]!r}, which was not seen in training") from None
        return metric.score(codes, self.best_pipeline_.predict_proba(self._read(X)), sample_weight=w)

    # ------------------------------------------------------------------------------------- inspection
    def leaderboard(self) -> pd.DataFrame:
        """Pipelines tried (best first): pipeline, family, CV score, fit time, predict time."""
        self._check_fitted()
        return self.leaderboard_.copy()

    def trials(self) -> pd.DataFrame:
        """Every trial of this run from the experiment store (including failed ones)."""
        self._check_fitted()
        if getattr(self, "_trials", None) is not None and not self.run_dir_:  # its temporary folder is gone
            return self._trials.copy()
        from forgeml.store import Store

        with Store.open(self.run_dir_, create=False) as store:
            return store.trials(self.run_id_)

    def feature_report(self, X: Any = None, y: Any = None) -> pd.DataFrame:
        """Every input column and every feature the final pipeline(s) made: ``feature``, ``source``, ``how``,
        ``kept`` (it reached the model) and ``importance`` (see ``forgeml.features.report``). Models without
        built-in importances get permutation importance on ``(X, y)``, by default a sample of 500 training rows
        kept in memory after ``fit``. That sample is not saved with the model (a model file carries no training
        data): after ``load``, pass ``(X, y)`` for those models, or their importances are 0."""
        from forgeml.features.report import feature_report

        self._check_fitted()
        if X is None and getattr(self, "_report_rows", None) is not None:
            rows = self._report_rows
            X, y = rows.drop(columns=[self.schema_.target]), rows[self.schema_.target]
        codes = None
        if X is not None and y is not None:
            yv = np.asarray(y)
            if self.task_ == "regression":
                codes = yv.astype(float)
            else:
                index = {c: i for i, c in enumerate(self.classes_.tolist())}
                known = np.array([v in index for v in yv.tolist()], dtype=bool)
                X = X[known] if isinstance(X, pd.DataFrame) else np.asarray(X)[known]
                codes = np.array([index[v] for v in yv[known].tolist()], dtype=int)
            X = self._read(X)
        return feature_report(self.best_pipeline_, X if codes is not None else None, codes, seed=self.seed)

    def feature_importance(self, X: Any = None, y: Any = None, *, method: str = "permutation",
                           n_repeats: int = 5) -> pd.DataFrame:
        """Importance of each INPUT column of the whole model: ``feature``, ``importance``, ``std``, most
        important first. ``"permutation"``: the worsening of the run's metric when the column is shuffled (mean
        and std over ``n_repeats``); ``"shap"``: mean |``explain``| over the rows; ``"auto"``: SHAP when every
        member has an exact route (trees, linear), else permutation. Rows: ``(X, y)``, by default the training
        sample kept after ``fit`` (not saved: after ``load`` pass them). docs/explain.md."""
        from forgeml.explain.estimator import feature_importance

        return feature_importance(self, X, y, method=method, n_repeats=n_repeats)

    def explain(self, X: Any, *, method: str = "auto", class_: Any = None, background: Any = None,
                n_samples: int = 64) -> pd.DataFrame:
        """Shapley attributions of each row's prediction (regression) or probability of ``class_`` (default: a
        binary model's second class; required for multiclass) over the INPUT columns, indexed like ``X``, with a
        ``base_value`` column: ``base_value + row sum == the output``. ``method``: ``"exact"`` (TreeSHAP/linear
        SHAP of each member), ``"sampling"`` (permutation sampling, any model; ``n_samples`` per row) or
        ``"auto"`` (exact where possible). ``background``: rows standing for "unknown" (default: the training
        sample kept after ``fit``, else ``X``). docs/explain.md."""
        from forgeml.explain.estimator import explain

        return explain(self, X, method=method, class_=class_, background=background, n_samples=n_samples)

    def report(self, path: str) -> str:
        """Write a self-contained HTML report of this run to ``path`` (``forgeml.report``); returns the path."""
        from forgeml.report import write_report

        self._check_fitted()
        return write_report(self, path)

    def save(self, path: str, *, key: str | bytes | None = None) -> str:
        """Write the model to directory ``path`` with a manifest of hashes; ``key`` (or ``$FORGEML_MODEL_KEY``)
        signs it so that ``load(path, key=...)`` refuses a model from someone without the key."""
        from forgeml.api.persist import save_model

        self._check_fitted()
        return str(save_model(self, path, key=key))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns the instance's own __dict__
        state.pop("_ensemble_candidates", None)  # every compared method's ensemble: not part of the model
        state.pop("_report_rows", None)  # training rows: a saved model carries none
        return state

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "best_pipeline_")

    def __sklearn_tags__(self) -> Any:
        """Missing values are imputed and small sparse matrices densified, so both are accepted inputs; without
        ``max_trials`` the wall clock decides how many trials run, so the result is not determined by ``seed``."""
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.max_trials is None
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = True
        return tags


def _report_sample(df: pd.DataFrame, target: str, seed: int, n: int = 500, drop: str | None = None) -> pd.DataFrame:
    """A few training rows (labelled ones only) kept for ``feature_report``'s permutation importance, without the
    column ``drop``. The rows are picked before anything is copied: selecting the labelled rows, or dropping a
    column, copied the whole frame (120 MB at the end of a fit on 750,000 rows)."""
    labelled = np.flatnonzero(df[target].notna().to_numpy())
    # the rows ``df[labelled].sample(n, random_state=seed)`` picks: a Series of the same length draws the same
    picked = pd.Series(labelled).sample(n=min(n, len(labelled)), random_state=seed).to_numpy()
    rows = df.iloc[picked]
    return rows.drop(columns=[drop]) if drop else rows


def _check_rows(n_rows: int) -> None:
    if n_rows == 1:
        raise DataError("X has 1 sample (n_samples=1): nothing can be learned or validated from one row; "
                        "pass more rows")


def _target_array(y: Any) -> np.ndarray:
    """``y`` as a 1-D array; a column vector is accepted with scikit-learn's ``DataConversionWarning``."""
    import warnings

    from sklearn.exceptions import DataConversionWarning

    yv = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
    if yv.ndim == 2 and yv.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected; change the shape of y to "
                      "(n_samples,), for example using ravel()", DataConversionWarning, stacklevel=4)
        yv = yv.ravel()
    if yv.ndim != 1:
        raise TargetError(f"y must be one column, got shape {yv.shape}")
    if np.iscomplexobj(yv):
        raise TargetError("Complex data not supported: y holds complex numbers; pass real-valued targets")
    return yv


class AutoClassifier(ClassifierMixin, AutoML):
    """``AutoML`` for classification with scikit-learn semantics: ``predict_proba`` returns an array
    ordered as ``classes_`` and ``score`` is accuracy, so it works inside ``cross_val_score``."""

    _task_restriction = "classification"

    def predict_proba(self, X: Any) -> np.ndarray:  # type: ignore[override]
        return super().predict_proba(X).to_numpy()

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        self._check_fitted()
        X, y = self._scored_rows(X, y)
        return ClassifierMixin.score(self, X, y, sample_weight)


class AutoRegressor(RegressorMixin, AutoML):
    """``AutoML`` for regression; ``score`` is R², as in scikit-learn."""

    _task_restriction = "regression"

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        self._check_fitted()
        X, y = self._scored_rows(X, y)
        return RegressorMixin.score(self, X, y, sample_weight)

