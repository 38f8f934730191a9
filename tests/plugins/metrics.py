"""Metric plug-ins: plain functions of ``(y_true, y_pred)``, as for scikit-learn.

For classification they receive your own labels (here the target holds "yes"/"no"), not integer codes.
"""
from __future__ import annotations

import numpy as np


def recall_of_yes(y_true, y_pred) -> float:
    """Share of the "yes" rows predicted "yes" (higher is better)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_pred[y_true == "yes"] == "yes"))


def brier_of_yes(y_true, p_yes) -> float:
    """Mean squared error of the probability of "yes" (lower is better; needs probabilities)."""
    return float(np.mean((np.asarray(p_yes) - (np.asarray(y_true) == "yes")) ** 2))


def median_abs_error(y_true, y_pred) -> float:
    """A regression metric (lower is better)."""
    return float(np.median(np.abs(np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float))))
