"""A joint config becomes an unfitted ``ForgePipeline([("prep", Preprocessor), ..., ("model", estimator)])``.

The pipeline is fit on the raw feature columns in schema order and ``y`` (integer-coded ``0..k-1`` for
classification; decoding labels is the caller's job), through ``fit_pipeline`` when rows carry weights.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from forgeml.data.schema import Schema
from forgeml.errors import ConfigError
from forgeml.features.generate import FeatureGenerator
from forgeml.features.preprocess import Preprocessor
from forgeml.features.select import FeatureSelector
from forgeml.models.base import FitContext, ModelFamily
from forgeml.pipeline.joint import FAMILY, PREP
from forgeml.pipeline.pipe import ForgePipeline
from forgeml.pipeline.space import prep_defaults
from forgeml.space import Config

SELECTION_KEYS = ("select", "select_keep", "missing_rows")  # prep choices that are not Preprocessor arguments


def split_config(config: Mapping[str, Any], family: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(hyperparameters, prep choices)`` of ``family`` in a joint config, both unprefixed."""
    sub = (config if isinstance(config, Config) else Config(config)).sub(family)
    p = f"{PREP}."
    hp = {k: v for k, v in sub.items() if not k.startswith(p)}
    prep = {k[len(p):]: v for k, v in sub.items() if k.startswith(p)}
    return hp, prep


def build_pipeline(config: Mapping[str, Any], schema: Schema, families: Mapping[str, ModelFamily],
                   ctx: FitContext) -> ForgePipeline:
    """The unfitted pipeline for ``config``; missing prep choices take the family's ``prep_defaults``."""
    if FAMILY not in config:
        raise ConfigError(f"config has no {FAMILY!r} key: {dict(config)!r}")
    name = config[FAMILY]
    if name not in families:
        raise ConfigError(f"config names family {name!r}, which is not available; "
                          f"available: {', '.join(map(str, families))}")
    fam = families[name]
    hp, prep = split_config(config, name)
    params = prep_defaults(fam.capabilities, schema)
    unknown = sorted(set(prep) - set(params) - set(SELECTION_KEYS))
    if unknown:
        raise ConfigError(f"unknown preprocessing choices {unknown} for family {name!r}; "
                          f"known: {', '.join([*params, *SELECTION_KEYS])}")
    params.update(prep)
    chosen = {k: params.pop(k) for k in SELECTION_KEYS if k in params}
    generate, k = params.pop("generate"), params.pop("generate_k")
    target_transform = params.pop("target_transform")
    if schema.task != "regression":  # only a regression target has a scale to transform
        target_transform = "none"
    pre = Preprocessor.from_schema(schema, params, seed=ctx.seed)
    steps: list[tuple[str, Any]] = [("prep", pre)]
    if generate == "arithmetic":
        steps.append(("generate", FeatureGenerator(k=int(k), task=schema.task, seed=ctx.seed)))
    elif generate != "none":
        raise ConfigError(f"generate={generate!r} is not one of 'none', 'arithmetic'")
    if "select" in chosen:  # engineering on: the selector also enforces the width cap, even with "none"
        steps.append(("select", FeatureSelector(chosen["select"], float(chosen.get("select_keep", 0.5)),
                                                task=schema.task, seed=ctx.seed)))
    steps.append(("model", fam.build(hp, ctx)))
    return ForgePipeline(steps, missing_rows=chosen.get("missing_rows", "impute"), target_transform=target_transform)


def fit_pipeline(pipe: Any, X: Any, y: Any, sample_weight: Any = None) -> Any:
    """Fit ``pipe``; ``sample_weight`` (None for none) goes to the model step's ``fit``.

    The preprocessing is fitted unweighted: imputation statistics, scaling and the out-of-fold target encoding
    count every row once. The weights decide what the model learns; preprocessing only shapes its inputs.
    Only families with ``Capabilities.sample_weight`` may receive weights.
    """
    if sample_weight is None:
        return pipe.fit(X, y)
    return pipe.fit(X, y, model__sample_weight=np.asarray(sample_weight, dtype=float))
