"""Ensemblers: weights over trials' out-of-fold predictions.

``ENSEMBLERS`` maps names to ``Ensembler`` classes; ``orchestrate/final.py`` builds the one the run asks for with
``resolve_ensembler`` (``AutoML(ensemble=True | False | None | "greedy" | "super_learner" | "voting" |
"stacking" | "blending" | Ensembler())``). A plug-in joins with
``register_ensembler`` (or the ``forgeml.ensemblers`` entry point); ``forgeml.testing.check_ensembler`` is the
battery every entry passes.
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from forgeml.errors import ConfigError
from forgeml.registry import Registry, instance_named

if TYPE_CHECKING:
    from forgeml.ensemble.base import Ensemble, Ensembler

_FIT_KEYWORDS = ("seed", "costs", "max_cost")


def check_ensembler_class(name: str | None, ensembler: Any) -> Ensembler:
    """An ensembler instance, if ``ensembler`` (a class, built with no arguments, or an instance) keeps the
    contract; else ``ConfigError`` naming the broken rule. Cheap: one fit on four rows
    (``forgeml.testing.check_ensembler`` is the full battery)."""
    from forgeml.metrics import METRICS

    label = name or getattr(ensembler, "name", None) or getattr(ensembler, "__name__", type(ensembler).__name__)
    what = f"ensembler {label!r}"
    cls = ensembler if isinstance(ensembler, type) else type(ensembler)
    fit = getattr(cls, "fit", None)
    if not callable(fit) or getattr(fit, "__isabstractmethod__", False):
        raise ConfigError(f"{what} must implement fit(oof, y, metric, *, seed=0, costs=None, max_cost=None)")
    params = inspect.signature(fit).parameters
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    missing = [k for k in _FIT_KEYWORDS if k not in params and not var_kw]
    if missing:
        raise ConfigError(f"{what} must implement fit(oof, y, metric, *, seed=0, costs=None, max_cost=None); "
                          f"its fit takes no {', '.join(missing)}")
    ensembler = instance_named(what, ensembler, name)
    import numpy as np

    from forgeml.ensemble.base import Ensemble

    y = np.array([1.0, 2.0, 3.0, 4.0])
    oof = {3: y + np.array([0.5, -0.5, 0.5, -0.5]), 8: y + 1.0}
    try:
        ens = ensembler.fit(oof, y, METRICS["rmse"], seed=0, costs=None, max_cost=None)
    except Exception as exc:
        raise ConfigError(f"{what}: fit must work on a tiny example of two members; it raised "
                          f"{type(exc).__name__}: {exc}") from None
    if not isinstance(ens, Ensemble):
        raise ConfigError(f"{what}: fit must return a forgeml.ensemble.Ensemble(weights, score), got "
                          f"{type(ens).__name__}")
    w = ens.weights
    if not w or not set(w) <= set(oof) or min(w.values()) < 0 or abs(sum(w.values()) - 1) > 1e-6:
        raise ConfigError(f"{what}: the weights must be non-negative, sum to 1 and name only the members given; "
                          f"got {w!r} for members {sorted(oof)}")
    return ensembler


ENSEMBLERS: Registry[type[Ensembler]] = Registry("ensembler", {
    "greedy": "forgeml.ensemble.greedy:GreedyEnsembler",
    "super_learner": "forgeml.ensemble.super_learner:SuperLearnerEnsembler",
    "voting": "forgeml.ensemble.voting:VotingEnsembler",
    "stacking": "forgeml.ensemble.stacking:StackingEnsembler",
    "blending": "forgeml.ensemble.blending:BlendingEnsembler",
}, check=check_ensembler_class, group="forgeml.ensemblers")


def register_ensembler(name: str, ensembler: type[Ensembler] | str, *, overwrite: bool = False) -> type[Ensembler]:
    """Add an ensembler class (or ``"module:Class"``) under ``name``, after ``check_ensembler_class``; returns it.

    Its ``name`` equals ``name`` and it builds with no arguments; define it in an importable module."""
    if not isinstance(ensembler, (type, str)):
        raise ConfigError(f"register_ensembler({name!r}, ...) takes the ensembler class, not an instance; pass an "
                          "instance directly with AutoML(ensemble=...) instead")
    return ENSEMBLERS.register(name, ensembler, overwrite=overwrite)


def resolve_ensembler(spec: bool | str | Ensembler | type[Ensembler] | None, *,
                      check: bool = False) -> Ensembler | None:
    """The ensembler for ``AutoML(ensemble=spec)``: ``True`` is ``"greedy"``, ``False``/``None`` is none (the single
    best pipeline), a name is looked up in ``ENSEMBLERS``, an object is used as given (``check=True`` runs
    ``check_ensembler_class`` on it first)."""
    if spec is None or spec is False:
        return None
    if spec is True:
        spec = "greedy"
    if isinstance(spec, str):
        if spec not in ENSEMBLERS:
            raise ConfigError(f"unknown ensemble {spec!r}; choose 'auto' (compare them all), one of: "
                              f"{', '.join(ENSEMBLERS)}, or None (or False) for the single best pipeline")
        return ENSEMBLERS[spec]()
    if isinstance(spec, type) or check:
        return check_ensembler_class(None, spec)
    if not callable(getattr(spec, "fit", None)):
        raise ConfigError(f"ensemble must be True, False, None, a name ({', '.join(ENSEMBLERS)}) or an Ensembler, "
                          f"got {spec!r}")
    return spec


__all__ = ["ENSEMBLERS", "Combiner", "Ensemble", "Ensembler", "check_ensembler_class", "register_ensembler",
           "resolve_ensembler"]


def __getattr__(name: str) -> Any:
    # the protocol (and numpy and the metrics behind it) loads on first use: listing ENSEMBLERS' names, as the
    # CLI does to build its options, stays instant
    if name in ("Combiner", "Ensemble", "Ensembler"):
        from forgeml.ensemble import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
