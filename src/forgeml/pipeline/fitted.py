"""The deployable result of a run: schema check, preprocessing + model (or a weighted ensemble of them),
and the mapping back to the user's labels, in one picklable object.

It lives in the pipeline layer, below ``evaluate/``, ``orchestrate/`` and ``api/``: the orchestrator builds it
and the evaluator scores members with the same ``predict_matrix``. ``forgeml.api.predictor.FittedPipeline``
stays an alias of this class, so models pickled before the move still load.
"""
from __future__ import annotations

import contextlib
import hashlib
import pickle
import warnings
import weakref
from typing import Any

import numpy as np
import pandas as pd

from forgeml._direct import linear_output, standardized_regressor
from forgeml._threads import in_row_blocks, predict_threads
from forgeml.data.coerce import request_columns
from forgeml.data.schema import Schema
from forgeml.data.validate import align_for_predict
from forgeml.features._frame import Rows


def predict_matrix(pipe: Any, X: pd.DataFrame, n_classes: int, shared: StepCache | None = None) -> np.ndarray:
    """Predictions in the evaluator's internal form: (n, k) probabilities over all classes, or a vector.

    With ``shared``, a pipeline's transform steps are walked here instead of through scikit-learn's ``Pipeline``
    and their outputs are kept in ``shared``: a later member whose first steps are fitted identically (same
    parameters, same training rows, as members refit on all rows or fold models of the same fold often are)
    reuses them instead of transforming the rows again. The model sees the same input either way."""
    if shared is not None and _bagged(pipe):
        return np.mean([predict_matrix(p, X, n_classes, shared) for p in pipe.pipelines], axis=0)
    if shared is not None and _walkable(pipe):
        frame, model = shared.transform(pipe.steps, X), pipe.steps[-1][1]
        Xt = rows_matrix(model, frame) if isinstance(frame, Rows) else checked_matrix(model, frame)
        with _array_for_frame() if Xt is not frame else contextlib.nullcontext():
            direct = forest_predict(model, Xt)
            if direct is None:  # a linear model's arithmetic on a few rows, without its input check
                direct = linear_output(model, Xt, proba=n_classes != 0)
            if direct is None:
                direct = svm_predict(model, Xt, proba=n_classes != 0)
            if n_classes == 0:
                return np.asarray(pipe._inverse(model.predict(Xt) if direct is None else direct), dtype=float).ravel()
            proba = model.predict_proba(Xt) if direct is None else direct
        classes = getattr(model, "classes_", None)
    elif n_classes == 0:
        return np.asarray(pipe.predict(X), dtype=float).ravel()
    else:
        proba, classes = pipe.predict_proba(X), getattr(pipe, "classes_", None)
    proba = np.asarray(proba, dtype=float)
    classes = np.asarray(classes if classes is not None else np.arange(proba.shape[1])).astype(int)
    if proba.shape[1] == n_classes and np.array_equal(classes, np.arange(n_classes)):
        return proba
    full = np.zeros((len(X), n_classes))  # a training fold lacked some class: give it probability 0
    full[:, classes] = proba
    return full


def checked_matrix(model: Any, Xt: Any) -> Any:
    """``Xt`` as the array scikit-learn's own check makes of it, for one of scikit-learn's models fitted on these
    very columns, all float64 (what the preprocessing hands a linear model, a forest, an SVM or kNN); else ``Xt``.

    The check of a frame (its column names through narwhals, then each column's dtype) took 0.6 ms a call, the
    check of the same rows as an array 0.1 ms: on one row, most of what a linear member or a forest's input check
    costs. The array is the one the check would have made (``to_numpy`` and the check read the frame through the
    same pandas call), so the model computes the same numbers; the names are checked here instead."""
    if not isinstance(Xt, pd.DataFrame) or not type(model).__module__.startswith("sklearn."):
        return Xt
    names = getattr(model, "feature_names_in_", None)
    if names is None or len(names) != Xt.shape[1] or any(a != b for a, b in zip(names, Xt.columns)) \
            or any(dt != np.float64 for dt in Xt.dtypes):
        return Xt
    return Xt.to_numpy()


def rows_matrix(model: Any, rows: Rows) -> Any:
    """The model's input from a request's few transformed rows: their array where the model computes from it what
    it computes from the frame the steps' ``transform`` gives, else that frame. The array goes to one of
    scikit-learn's models fitted on these very columns in this order (the array ``checked_matrix`` would give; with
    native category codes only to forests, whose check reads a category as its value, here its code) and to a model
    whose ``reads_rows(columns, categorical)`` says so."""
    names = getattr(model, "feature_names_in_", None)  # replaced by a refit in place
    hit = _READS_ROWS.get(model)
    if hit is None or hit[0] is not rows.columns or hit[2] is not names:  # once per model, step and fit
        hit = _READS_ROWS[model] = (rows.columns, _reads_rows(model, rows), names)
    return rows.values if hit[1] else rows.frame()


def _reads_rows(model: Any, rows: Rows) -> bool:
    categorical = set(rows.codes or ())
    own = getattr(model, "reads_rows", None)
    if own is not None:
        return bool(own(rows.columns, categorical))
    if not type(model).__module__.startswith("sklearn."):
        return False
    names = getattr(model, "feature_names_in_", None)
    if names is None or len(names) != len(rows.columns) or any(a != b for a, b in zip(names, rows.columns)):
        return False
    return not categorical or _is_forest(model)


def _is_forest(model: Any) -> bool:
    """One of scikit-learn's random forests or extra trees (not a subclass, which may predict otherwise)."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    return type(model) in (RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor)


# model -> (the columns it was last handed, whether it reads their array, its fitted names): ``rows_matrix``
_READS_ROWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def _array_for_frame() -> Any:
    """Silence scikit-learn's warning that the model was fitted with feature names: ``checked_matrix`` compared
    them before handing it the array."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        yield


FOREST_FEW_ROWS = 64  # up to this many rows a forest's trees are read directly, on this thread


def forest_predict(model: Any, X: Any) -> np.ndarray | None:
    """A scikit-learn random forest's or extra trees' ``predict_proba`` (classifier) or ``predict`` (regressor),
    summed tree by tree in the forest's own order, so the result is the forest's to the last bit; None for
    anything else, and for a batch this process has one thread for (``predict_threads``).

    Two costs of the forest's own call are avoided. On a few rows, its per-tree input check through joblib (about
    0.15 ms a tree: 45 ms for 300 trees on one row, most of a one-row prediction of an ensemble with a forest). On
    a batch, one thread: a forest fitted in a trial keeps ``n_jobs=1``, while the process predicting has its cores
    free. The rows are split into one block per thread and each block sums every tree in order, so each row's sum
    is exactly the one-thread sum (threads over trees, the forest's own ``n_jobs``, would add in the order the
    threads finish)."""
    if not _is_forest(model) or getattr(model, "n_outputs_", 2) != 1 \
            or int(getattr(model, "n_jobs", None) or 1) != 1:
        return None  # several jobs sum in the order the threads finish: leave that to the forest
    few = len(X) <= FOREST_FEW_ROWS
    threads = 1 if few else predict_threads(len(X))
    if not few and threads < 2:
        return None  # a batch on one thread: the forest's own call costs no more
    X32 = model._validate_X_predict(X)  # the forest's own check, once
    if few:
        packed = _packed(model)
        if packed is not None and not np.isnan(X32).any():
            return packed.mean_over_trees(X32)
        return _sum_trees(model, X32)
    return in_row_blocks(lambda block: _sum_trees(model, block), X32, threads)  # the trees' walk releases the GIL


SVM_MAX_COLUMNS = 4096  # wider SVM inputs predict on one thread (see svm_predict)


def svm_predict(model: Any, X: Any, proba: bool) -> np.ndarray | None:
    """An SVM's ``predict_proba`` (classifier) or ``predict`` (regressor) on a batch, over the process's cores;
    None for anything else, and for a batch this process has one thread for (``predict_threads``).

    An SVM fitted in a trial predicts on one thread (libsvm's loop over rows and support vectors): an RBF SVM of
    weight 0.07 took 850 of a 10,000-row batch's 1,140 ms. libsvm works out each row on its own and releases the
    GIL, and the calibration (Platt's sigmoid) and the target's inverse scaling are per row, so the rows split
    into one block per thread give each row the one-thread call's result to the last bit. Wide inputs stay on one
    thread: libsvm's kernel then runs through BLAS, whose own threads would compete with these."""
    if not _is_svm(model) or int(getattr(model, "n_features_in_", 0)) > SVM_MAX_COLUMNS:
        return None
    threads = predict_threads(X.shape[0])
    if threads < 2:
        return None
    return in_row_blocks(model.predict_proba if proba else model.predict, X, threads)


def _is_svm(model: Any) -> bool:
    """scikit-learn's SVC or SVR, bare, calibrated by ``CalibratedClassifierCV`` or under a
    ``TransformedTargetRegressor`` (how the svm family builds them); exact classes, as subclasses may predict
    otherwise."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC, SVR

    if type(model) is CalibratedClassifierCV:
        inner = [c.estimator for c in getattr(model, "calibrated_classifiers_", ())]
        return bool(inner) and all(type(e) is SVC for e in inner)
    inner = standardized_regressor(model)  # as ``standardized_target`` builds it: a per-row inverse
    if inner is not None:
        return type(inner) is SVR
    return type(model) in (SVC, SVR)


def _sum_trees(model: Any, X32: Any) -> np.ndarray:
    """The forest's mean over its trees, added in its trees' order as its one-thread call does."""
    classifier = hasattr(model, "classes_")
    out = np.zeros((X32.shape[0], int(model.n_classes_)) if classifier else X32.shape[0], dtype=np.float64)
    for tree in model.estimators_:
        values = tree.tree_.predict(X32)  # what DecisionTree*.predict(_proba) returns, without its checks
        out += values[:, :tree.n_classes_] if classifier else values[:, 0]
    out /= len(model.estimators_)
    return out


PACK_MAX_NODES = 1_000_000  # forests with more nodes than this (about 40 MB packed) keep the per-tree walk
# model -> (its estimators_ list, its length, the packed forest or None): a refit or warm start in place repacks
_PACKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _PackedForest:
    """A forest's trees in flat arrays, so a few rows walk every tree at once, a level per step, instead of one
    ``tree_.predict`` call per tree (about 3 us each: 2.1 ms for a 672-tree forest on one row, 0.36 ms walked
    at once; level on a 100-tree forest 36 levels deep).

    The walk is the trees' own: a row goes left when its float32 value is ``<=`` the float64 threshold (the
    comparison scikit-learn's C code makes), and the leaf values are added in the trees' order, from zero, as
    ``_sum_trees`` adds them (``cumsum`` is a running sum), so the mean is the forest's to the last bit. Rows with
    a missing value are left to ``_sum_trees`` (the trees' own rule for where missing values go)."""

    def __init__(self, model: Any) -> None:
        trees = [est.tree_ for est in model.estimators_]
        sizes = np.array([t.node_count for t in trees])
        self.roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
        left, right, feature, threshold = [], [], [], []
        for t, r in zip(trees, self.roots):
            leaf = t.children_left < 0
            own = np.arange(t.node_count) + r  # a leaf points to itself both ways and always "goes left"
            left.append(np.where(leaf, own, t.children_left + r))
            right.append(np.where(leaf, own, t.children_right + r))
            feature.append(np.where(leaf, 0, t.feature))
            threshold.append(np.where(leaf, np.inf, t.threshold))
        self.left = np.concatenate(left).astype(np.int32)
        self.right = np.concatenate(right).astype(np.int32)
        self.feature = np.concatenate(feature).astype(np.int32)
        self.threshold = np.concatenate(threshold)
        self.depth = max(t.max_depth for t in trees)  # after this many steps every row is at a leaf
        classifier = hasattr(model, "classes_")
        k = int(model.n_classes_) if classifier else 1
        # what ``_sum_trees`` takes of each tree's ``predict``: its first classes, or its one output
        self.value = np.concatenate([t.value[:, 0, :k] for t in trees])
        self.classifier = classifier

    def mean_over_trees(self, X32: np.ndarray) -> np.ndarray:
        n = X32.shape[0]
        node = np.broadcast_to(self.roots, (n, len(self.roots))).copy()
        rows = np.arange(n)[:, None]
        for _ in range(self.depth):
            go_left = X32[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        values = np.cumsum(self.value[node], axis=1)[:, -1]  # (n, k): the leaves summed tree by tree
        out = values / len(self.roots)
        return out if self.classifier else out[:, 0]


def _packed(model: Any) -> _PackedForest | None:
    """The forest packed for the few-rows walk (built on first use, kept while the model lives), or None when
    it has more than ``PACK_MAX_NODES`` nodes (that answer is kept too: counting the nodes is per-tree work)."""
    entry = _PACKS.get(model)
    if entry is None or entry[0] is not model.estimators_ or entry[1] != len(model.estimators_):
        too_big = sum(est.tree_.node_count for est in model.estimators_) > PACK_MAX_NODES
        entry = _PACKS[model] = (model.estimators_, len(model.estimators_),
                                 None if too_big else _PackedForest(model))
    return entry[2]


class StepCache:
    """Outputs of fitted transform steps for one batch of rows, keyed by the steps' fitted state.

    A step's key is the digest of its pickled state, chained over the steps before it, so two members share an
    output only when every step up to it is fitted identically: then it is the same function of the same input.
    ``digests`` outlives the batch (one ``FittedPipeline`` keeps it across calls: its members are fitted once and
    never refit in place). After ``plan(members)`` an output is dropped once its last reader has taken it, so a
    large batch holds no more transformed copies than the sharing needs, and with fewer than two pipelines to walk
    nothing is digested at all; without a plan every output is kept.

    A shared output reaches several members' later steps and models as the same object: they must never write
    into their input (none of forgeml's does; a step that keeps every column returns its input as it is)."""

    def __init__(self, digests: dict[int, tuple[Any, bytes]]) -> None:
        self.digests = digests
        self.outputs: dict[bytes, Any] = {}
        self.readers: dict[bytes, int] | None = None
        self.sharing = True

    def _digest(self, step: Any) -> bytes:
        entry = self.digests.get(id(step))
        if entry is None or entry[0] is not step:  # the step is kept with its digest: an id is never reused
            try:
                d = hashlib.sha256(pickle.dumps(step, protocol=pickle.HIGHEST_PROTOCOL)).digest()
            except Exception:  # an unpicklable step is never shared
                d = id(step).to_bytes(8, "little") + b"unshared"
            entry = self.digests[id(step)] = (step, d)
        return entry[1]

    def _keyed(self, steps: list[tuple[str, Any]]) -> list[tuple[bytes, Any]]:
        key, out = b"", []
        for _, step in steps[:-1]:
            if step is None or step == "passthrough":
                continue
            key = hashlib.sha256(key + self._digest(step)).digest()
            out.append((key, step))
        return out

    def plan(self, members: list[Any]) -> None:
        """Count the readers of every step output the members will walk through."""
        self.readers = {}
        walked = [p for pipe in members for p in (pipe.pipelines if _bagged(pipe) else [pipe] if _walkable(pipe)
                                                  else [])]
        self.sharing = len(walked) > 1
        for p in walked if self.sharing else []:
            for key, _ in self._keyed(p.steps):
                self.readers[key] = self.readers.get(key, 0) + 1

    def transform(self, steps: list[tuple[str, Any]], X: pd.DataFrame) -> Any:
        """``X`` through every step but the last, reusing outputs of identically fitted prefixes. A request's few
        rows come out as ``Rows`` when every step takes them so (see ``_apply``)."""
        Xt = X
        if not self.sharing:
            for _, step in steps[:-1]:
                if step is not None and step != "passthrough":
                    Xt = _apply(step, Xt)
            return Xt
        for key, step in self._keyed(steps):
            out = self.outputs.get(key)
            if out is None:
                out = _apply(step, Xt)
            if self.readers is None:
                self.outputs[key] = out
            else:
                left = self.readers[key] = self.readers.get(key, 1) - 1
                if left > 0:
                    self.outputs[key] = out
                else:
                    self.outputs.pop(key, None)
            Xt = out
        return Xt


# A request of this many rows is walked as ``Rows``. One row only: the values are the frame path's either way, but
# on several rows a model's matrix product (a linear model, k-NN's distances) sums in an order that depends on the
# array's memory layout, which pandas chooses per step (a frame of one block of C order; after a concat or a column
# selection, Fortran order), so its last bits could differ from the frame path's. A row is both at once.
ROWS_PATH_MAX = 1


def _apply(step: Any, Xt: Any) -> Any:
    """One fitted step on a batch. A one-row request goes to the step's ``transform_rows`` and stays ``Rows``
    (an array and its labels) from step to step while the steps take them; anything else gets the DataFrame."""
    few = getattr(step, "transform_rows", None)
    if few is not None and len(Xt) <= ROWS_PATH_MAX:
        out = few(Xt)
        if out is not None:
            return out
    return step.transform(Xt.frame() if isinstance(Xt, Rows) else Xt)


def _bagged(pipe: Any) -> bool:
    return hasattr(pipe, "pipelines") and hasattr(pipe, "n_classes")


def _walkable(pipe: Any) -> bool:
    """A ``ForgePipeline``: its steps can be walked here (and its target transform undone)."""
    return getattr(pipe, "steps", None) is not None and hasattr(pipe, "_inverse")


class FittedPipeline:
    """Predicts from raw feature frames, as the user's labels.

    ``members`` are fitted scikit-learn ``Pipeline``s (preprocessing + model) trained on integer-coded labels;
    ``weights`` combine their probabilities (classification) or predictions (regression). With a ``combiner``
    (``forgeml.ensemble.Combiner``, e.g. a stacking meta-learner) the combiner makes the prediction instead, from
    ``{member_ids[i]: members[i]'s predictions}`` and the aligned raw rows; ``weights`` then only describe the
    members' shares.
    """

    combiner: Any = None  # class-level defaults: pipelines pickled before combiners existed still load
    member_ids: list[int] | None = None

    def __init__(self, schema: Schema, members: list[Any], weights: list[float],
                 descriptions: list[str] | None = None, combiner: Any = None,
                 member_ids: list[int] | None = None) -> None:
        if combiner is not None and (member_ids is None or len(member_ids) != len(members)):
            raise ValueError("a FittedPipeline with a combiner needs member_ids, one trial id per member")
        self.schema = schema
        self.members = members
        self.weights = [float(w) for w in weights]
        self.descriptions = descriptions or [type(m).__name__ for m in members]
        self.combiner = combiner
        self.member_ids = None if member_ids is None else [int(i) for i in member_ids]

    @property
    def task(self) -> str:
        return self.schema.task

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.schema.classes, dtype=object if _mixed(self.schema.classes) else None)

    def _align(self, X: Any) -> pd.DataFrame:
        return align_for_predict(self.schema, X)

    def _combined(self, X: pd.DataFrame) -> np.ndarray:
        k = 0 if self.task == "regression" else len(self.schema.classes)
        digests = self.__dict__.setdefault("_digests", {})  # not pickled: see __getstate__
        shared = StepCache(digests)
        shared.plan(self.members)
        with request_columns():  # every pipeline reads the request's raw columns once between them
            if self.combiner is not None:
                preds = {i: predict_matrix(m, X, k, shared) for i, m in zip(self.member_ids, self.members)}
                return np.asarray(self.combiner.combine(preds, X), dtype=float)
            out = None
            for w, m in zip(self.weights, self.members):
                p = w * predict_matrix(m, X, k, shared)
                out = p if out is None else out + p
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_digests", None)  # keyed by id(): meaningless in another process
        return state

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.task == "regression":
            raise AttributeError("predict_proba is only available for classification tasks")
        return self.proba_aligned(self._align(X))

    def predict(self, X: Any) -> np.ndarray:
        return self.predict_aligned(self._align(X))

    def proba_aligned(self, X: pd.DataFrame) -> np.ndarray:
        """``predict_proba`` of a frame already aligned to ``schema`` (``align_for_predict``): the caller has
        checked the rows, and the check is not paid twice."""
        p = self._combined(X)
        return p / np.clip(p.sum(axis=1, keepdims=True), 1e-15, None)

    def predict_aligned(self, X: pd.DataFrame) -> np.ndarray:
        """``predict`` of a frame already aligned to ``schema``."""
        if self.task == "regression":
            return self._combined(X)
        return self.classes_[self.proba_aligned(X).argmax(axis=1)]

    def __repr__(self) -> str:
        if self.combiner is not None:
            return f"FittedPipeline({self.task}: {self.combiner.describe()} over {len(self.members)} members)"
        parts = ", ".join(f"{w:.2f}×{d}" for w, d in zip(self.weights, self.descriptions))
        return f"FittedPipeline({self.task}: {parts})"


def _mixed(values: tuple) -> bool:
    return len({type(v) for v in values}) > 1
