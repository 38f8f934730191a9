"""Explanations of a fitted model over its INPUT columns (the columns the user passed, not engineered features):
global importance (``permutation_importance``, ``shap_importance``) and per-row Shapley attributions
(``shap_values``). ``AutoML.feature_importance()`` and ``AutoML.explain(X)`` are the user's entry points;
docs/explain.md says what each number means."""
from forgeml.explain.importance import permutation_importance, shap_importance
from forgeml.explain.shapley import METHODS, Attributions, shap_values

__all__ = ["METHODS", "Attributions", "permutation_importance", "shap_importance", "shap_values"]
