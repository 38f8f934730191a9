"""Tiny model families and a real-data loader for the pipeline tests (scikit-learn estimators with honest
capabilities). Named uniquely so that importing it never picks up another folder's helpers."""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from forgeml.data import infer_schema, validate_training
from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.space import Categorical, Condition, Float, Int, SearchSpace

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"  # <repo>/../shared, as CI lays it out


class LinearFamily(ModelFamily):
    name = "linear"
    capabilities = Capabilities(needs_scaling=True, cost=0.2)

    def space(self, ctx: FitContext) -> SearchSpace:
        return SearchSpace({"C": Float(1e-2, 1e2, log=True, default=1.0)})

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge
        if ctx.task == "regression":
            return Ridge(alpha=1.0 / params["C"])
        return LogisticRegression(C=params["C"], max_iter=300)


class TreeFamily(ModelFamily):
    """Has a nested conditional hyperparameter: min_samples_leaf only when limit_leaves is True."""

    name = "tree"
    capabilities = Capabilities(handles_missing=True, native_categorical=True, cost=0.1)

    def space(self, ctx: FitContext) -> SearchSpace:
        return SearchSpace(
            {"max_depth": Int(2, 10, default=6), "limit_leaves": Categorical((False, True), default=False),
             "min_samples_leaf": Int(2, 30, log=True, default=5)},
            {"min_samples_leaf": Condition("limit_leaves", (True,))})

    def defaults(self, ctx: FitContext) -> list[dict[str, Any]]:
        return [{"max_depth": 4, "limit_leaves": False},
                {"max_depth": 8, "limit_leaves": True, "min_samples_leaf": 10}]

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
        cls = DecisionTreeRegressor if ctx.task == "regression" else DecisionTreeClassifier
        return cls(max_depth=params["max_depth"], min_samples_leaf=params.get("min_samples_leaf", 1),
                   random_state=ctx.seed)


class BoostFamily(ModelFamily):
    """HistGradientBoosting: handles missing values and pandas category columns natively."""

    name = "boost"
    capabilities = Capabilities(handles_missing=True, native_categorical=True, iterative_param="max_iter")

    def space(self, ctx: FitContext) -> SearchSpace:
        return SearchSpace({"max_iter": Int(5, 30, default=20),
                            "learning_rate": Float(0.03, 0.3, log=True, default=0.1)})

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        cls = HistGradientBoostingRegressor if ctx.task == "regression" else HistGradientBoostingClassifier
        return cls(max_iter=params["max_iter"], learning_rate=params["learning_rate"], random_state=ctx.seed)


class KnnFamily(ModelFamily):
    name = "knn"
    capabilities = Capabilities(needs_scaling=True, max_rows=100_000)

    def space(self, ctx: FitContext) -> SearchSpace:
        return SearchSpace({"n_neighbors": Int(3, 25, default=7)})

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
        cls = KNeighborsRegressor if ctx.task == "regression" else KNeighborsClassifier
        return cls(n_neighbors=params["n_neighbors"])


def load(name: str, target: str, n: int | None = None, seed: int = 0):
    """(X, y, schema, ctx) for a real dataset; classification y integer-coded as the builder expects."""
    df = pd.read_parquet(f"{DATASETS}/{name}.parquet")
    df = df.sample(min(n or len(df), len(df)), random_state=seed).reset_index(drop=True)  # files may be sorted
    task = {d["name"]: d["task"] for d in json.loads(open(f"{DATASETS}/manifest.json").read())["datasets"]}[name]
    df = validate_training(df, target, task=task)
    schema = infer_schema(df, target, task=task)
    X = df[schema.names()]
    if schema.task == "regression":
        y = df[target].to_numpy(dtype=float)
    else:
        y = pd.Categorical(df[target], categories=list(schema.classes)).codes.astype("int64")
    ctx = FitContext(task=schema.task, n_rows=len(df), n_features=len(schema.columns),
                     n_classes=len(schema.classes), seed=seed)
    return X, y, schema, ctx


def all_families() -> dict[str, ModelFamily]:
    return {"linear": LinearFamily(), "tree": TreeFamily(), "boost": BoostFamily(), "knn": KnnFamily()}
