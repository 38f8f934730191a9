"""Model families: one file each, listed in ``FAMILIES`` in the order they are worth trying (cheap and strong first).

Entries are import strings, so listing names imports nothing; heavy libraries load only when a family builds.
Plug-ins join with ``register_family`` (or the ``forgeml.families`` entry point), or are passed directly as
objects: ``AutoML(families=["linear", MyFamily()])``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from forgeml.errors import ConfigError
from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.registry import Registry, instance_named
from forgeml.space import SearchSpace

_TASKS = ("binary", "multiclass", "regression")


def check_family(name: str | None, family: Any) -> ModelFamily:
    """The family instance, if ``family`` (a class or an instance) keeps the rules the rest of forgeml relies on;
    else ``ConfigError`` naming the broken rule. Cheap: nothing is fitted (``forgeml.testing.check_model_family``
    is the full battery)."""
    label = name or getattr(family, "name", None) or getattr(family, "__name__", type(family).__name__)
    what = f"model family {label!r}"
    cls = family if isinstance(family, type) else type(family)
    if not issubclass(cls, ModelFamily):
        raise ConfigError(f"{what} must subclass forgeml.models.ModelFamily (got {cls.__qualname__})")
    if isinstance(family, type):
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        if missing:
            raise ConfigError(f"{what} must implement space() and build(); missing: {', '.join(missing)}")
    family = instance_named(what, family, name)
    if not isinstance(family.name, str) or not family.name:
        raise ConfigError(f"{what} must define name, a non-empty string")
    caps = family.capabilities
    if not isinstance(caps, Capabilities):
        raise ConfigError(f"{what} must define capabilities = Capabilities(...), got {type(caps).__name__}")
    if not caps.tasks or any(t not in _TASKS for t in caps.tasks):
        raise ConfigError(f"{what} must define capabilities.tasks, some of {', '.join(_TASKS)}; got {caps.tasks!r}")
    task = caps.tasks[0]
    ctx = FitContext(task=task, n_rows=200, n_features=4, n_classes={"binary": 2, "multiclass": 3}.get(task, 0))
    try:
        space = family.space(ctx)
        defaults = family.defaults(ctx)
    except Exception as exc:
        raise ConfigError(f"{what}: space() and defaults() must work on a small {task} context; they raised "
                          f"{type(exc).__name__}: {exc}") from None
    if not isinstance(space, SearchSpace):
        raise ConfigError(f"{what}: space() must return a forgeml.space.SearchSpace, got {type(space).__name__}")
    if caps.iterative_param is not None and caps.iterative_param not in space:
        raise ConfigError(f"{what}: capabilities.iterative_param {caps.iterative_param!r} must be a parameter of "
                          "its space")
    if not isinstance(defaults, list) or not defaults:
        raise ConfigError(f"{what}: defaults() must return a non-empty list of configurations")
    for i, d in enumerate(defaults):
        try:
            space.validate(d)
        except Exception as exc:
            raise ConfigError(f"{what}: default #{i} {d!r} must be a valid assignment of its space ({exc})") from None
    if family.available():
        est = family.build(dict(defaults[0]), ctx)
        need = ["fit", "predict"] + (["predict_proba"] if task != "regression" and caps.supports_proba else [])
        lacking = [m for m in need if not callable(getattr(est, m, None))]
        if lacking or not callable(getattr(est, "get_params", None)):
            lacking = lacking or ["get_params"]
            raise ConfigError(f"{what}: build() must return a scikit-learn estimator with get_params(), "
                              f"{', '.join(need)} (got {type(est).__name__}, lacking {', '.join(lacking)})")
    return family


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
}, check=check_family, group="forgeml.families")


def register_family(name: str, family: type[ModelFamily] | str, *, overwrite: bool = False) -> type[ModelFamily]:
    """Add a model family class (or ``"module:Class"``) under ``name``, after ``check_family``; returns the class.

    The class must subclass ``ModelFamily``, have ``name == name`` and build with no arguments. Define it in an
    importable module (not ``__main__``) so worker processes can import it.
    """
    if not isinstance(family, (type, str)):
        raise ConfigError(f"register_family({name!r}, ...) takes the family class, not an instance; "
                          "pass an instance directly with AutoML(families=[...]) instead")
    return FAMILIES.register(name, family, overwrite=overwrite)


def get_families(names: Sequence[str | ModelFamily | type[ModelFamily]] | None, ctx: FitContext, *,
                 check_applies: bool = True) -> dict[str, ModelFamily]:
    """Instances of the requested families that can run here, in the order asked (registry order for None).

    ``names`` holds registered names and/or family objects (instances or classes, checked by ``check_family``
    and keyed by their ``name``). A family is left out when its library is not installed or, with
    ``check_applies``, when it does not apply to this task or data size (SVM above its ``max_rows``). Unknown
    names raise ``ConfigError`` listing valid ones. The evaluator passes ``check_applies=False`` to rebuild a
    chosen family on a fold whatever its size.
    """
    if isinstance(names, (str, ModelFamily, type)):
        raise ConfigError(f"families must be a list (of names or ModelFamily objects), got {names!r}")
    wanted: dict[str, ModelFamily | None] = {}
    for item in (list(FAMILIES) if names is None else list(names)):
        if isinstance(item, str):
            FAMILIES[item]  # raise ConfigError on an unknown name before doing any work
            key, obj = item, None
        else:
            obj = check_family(None, item)
            key = obj.name
        if key in wanted and (obj is not None or wanted[key] is not None):
            raise ConfigError(f"two model families are named {key!r}; give each family a distinct name")
        wanted[key] = obj
    out: dict[str, ModelFamily] = {}
    for name, obj in wanted.items():
        family = obj if obj is not None else FAMILIES[name]()
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


__all__ = ["FAMILIES", "Capabilities", "FitContext", "ModelFamily", "check_family", "get_families",
           "register_family", "split_by_sample_weight"]
