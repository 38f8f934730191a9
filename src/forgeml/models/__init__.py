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


def split_by_sample_weight(families: dict[str, ModelFamily]) -> tuple[dict[str, ModelFamily], list[str]]:
    """``(families that honour sample_weight, names of those that do not)``, both in the order given.

    A run fitted with weights searches only the first: a family that ignored the weights would be scored and
    ensembled as if it had used them."""
    kept = {n: f for n, f in families.items() if f.capabilities.sample_weight}
    return kept, [n for n in families if n not in kept]


__all__ = ["FAMILIES", "Capabilities", "FitContext", "ModelFamily", "get_families", "split_by_sample_weight"]
