"""Model families: one file each, listed in ``FAMILIES`` in the order they are worth trying (cheap and strong first).

Entries are import strings, so listing names imports nothing; heavy libraries load only when a family builds.
"""
from __future__ import annotations

from collections.abc import Sequence

from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.registry import Registry

FAMILIES: Registry[type[ModelFamily]] = Registry("model family", {
    "lightgbm": "forgeml.models.lightgbm:LightGBMFamily",
    "linear": "forgeml.models.linear:LinearFamily",
    "random_forest": "forgeml.models.forest:RandomForestFamily",
    "extra_trees": "forgeml.models.forest:ExtraTreesFamily",
    "xgboost": "forgeml.models.xgboost:XGBoostFamily",
    "catboost": "forgeml.models.catboost:CatBoostFamily",
    "mlp": "forgeml.models.mlp:MLPFamily",
    "knn": "forgeml.models.knn:KNNFamily",
    "svm": "forgeml.models.svm:SVMFamily",
})


def get_families(names: Sequence[str] | None, ctx: FitContext, *,
                 check_applies: bool = True) -> dict[str, ModelFamily]:
    """Instances of the requested families that can run here, in the order asked (registry order for None).

    A family is left out when its library is not installed or, with ``check_applies``, when it does not apply to
    this task or data size (SVM above its ``max_rows``). Unknown names raise ``ConfigError`` listing valid ones.
    The evaluator passes ``check_applies=False`` to rebuild a chosen family on a fold whatever its size.
    """
    wanted = list(FAMILIES) if names is None else list(dict.fromkeys(names))
    for name in wanted:
        FAMILIES[name]  # raise ConfigError on an unknown name before doing any work
    out: dict[str, ModelFamily] = {}
    for name in wanted:
        family = FAMILIES[name]()
        if not family.available():
            continue
        if check_applies and not family.applies_to(ctx):
            continue
        out[name] = family
    return out


__all__ = ["FAMILIES", "Capabilities", "FitContext", "ModelFamily", "get_families"]
