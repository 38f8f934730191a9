"""The report's charts: matplotlib figures returned as inline SVG text.

Figures are built as ``matplotlib.figure.Figure`` objects, never through ``pyplot``: no global figure registry to
leak into (nothing to close) and no GUI backend chosen behind the user's back; ``savefig`` draws them with the
non-interactive SVG canvas. Text is drawn as paths (``svg.fonttype="path"``), so no font is needed to view them,
and each chart gets its own id salt, so the ids of several SVGs in one page never collide.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

WIDTH = 7.2  # inches; the page scales the SVG to its column
PALETTE = ["#2b6cb0", "#dd6b20", "#2f855a", "#c53030", "#6b46c1", "#b7791f", "#319795", "#d53f8c", "#4a5568",
           "#718096"]
ACCENT = "#2b6cb0"


def _figure(height: float = 3.6, ncols: int = 1) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    axes = fig.subplots(1, ncols)
    for ax in np.atleast_1d(axes):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(True, color="#e2e8f0", linewidth=0.6)
        ax.set_axisbelow(True)
    return fig, axes


def to_svg(fig: Any, name: str) -> str:
    """The figure as an ``<svg>`` element (no XML prolog), its ids salted with ``name``."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"forgeml-{name}", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def target_distribution(dist: dict[str, Any], target: str) -> str:
    """Class counts (bars) or the target's histogram."""
    fig, ax = _figure(3.0)
    if dist["kind"] == "classes":
        labels, counts = dist["labels"], dist["counts"]
        many = len(labels) > 30
        shown = np.argsort(counts)[::-1][:30] if many else np.arange(len(labels))
        ax.bar([_short(labels[i], 14) for i in shown], [counts[i] for i in shown], color=ACCENT)
        ax.set_ylabel("rows")
        ax.set_title(f"{target}: rows per class" + (" (30 largest)" if many else ""), fontsize=10)
        if len(shown) > 6:
            ax.tick_params(axis="x", labelrotation=45)
    else:
        edges = np.asarray(dist["edges"], dtype=float)
        if len(edges) > 1:
            ax.stairs(dist["counts"], edges, fill=True, color=ACCENT, alpha=0.85)
        ax.set_xlabel(target)
        ax.set_ylabel("rows")
        ax.set_title(f"{target}: distribution", fontsize=10)
    return to_svg(fig, "target")


def search_over_time(trials: pd.DataFrame, greater_is_better: bool, metric: str) -> str:
    """Best score so far against seconds since the first trial started, one step line per model family."""
    fig, ax = _figure(3.6)
    t0 = trials["started_at"].min()
    done = trials.sort_values("ended_at")
    for i, (family, rows) in enumerate(done.groupby("family", sort=True)):
        t = (rows["ended_at"] - t0).to_numpy(dtype=float)
        s = rows["score"].to_numpy(dtype=float)
        best = np.maximum.accumulate(s) if greater_is_better else np.minimum.accumulate(s)
        color = PALETTE[i % len(PALETTE)]
        ax.step(t, best, where="post", color=color, linewidth=1.8, label=str(family))
        ax.plot(t, s, "o", color=color, markersize=3, alpha=0.45)
    t = (done["ended_at"] - t0).to_numpy(dtype=float)
    s = done["score"].to_numpy(dtype=float)
    overall = np.maximum.accumulate(s) if greater_is_better else np.minimum.accumulate(s)
    ax.step(t, overall, where="post", color="#1a202c", linewidth=1.0, linestyle="--", label="all families")
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since the search started")
    ax.set_ylabel(f"best CV {metric} so far")
    ax.legend(fontsize=8, frameon=False, loc="best")
    return to_svg(fig, "search")


def horizontal_bars(names: Sequence[str], values: Sequence[float], *, xlabel: str, name: str,
                    title: str = "") -> str:
    """One bar per name, the first at the top (ensemble weights, feature importances)."""
    n = max(len(names), 1)
    fig, ax = _figure(min(0.9 + 0.28 * n, 7.5))
    y = np.arange(len(names))[::-1]
    ax.barh(y, values, color=ACCENT, height=0.7)
    ax.set_yticks(y, [_short(s, 48) for s in names], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.grid(False, axis="y")
    if title:
        ax.set_title(title, fontsize=10)
    return to_svg(fig, name)


def confusion_matrix(y: np.ndarray, label: np.ndarray, classes: Sequence[str]) -> str:
    """Counts of true class (rows) against predicted class (columns), each cell annotated."""
    k = len(classes)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y, label), 1)
    fig, ax = _figure(min(2.4 + 0.35 * k, 7.0))
    ax.grid(False)
    ax.imshow(cm, cmap="Blues", aspect="auto")
    if k <= 20:
        peak = cm.max() or 1
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > 0.6 * peak else "#1a202c")
    ticks = np.arange(k)
    names = [_short(c, 12) for c in classes]
    ax.set_xticks(ticks, names, fontsize=8, rotation=45 if k > 5 else 0)
    ax.set_yticks(ticks, names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = float(np.trace(cm)) / max(cm.sum(), 1)
    ax.set_title(f"confusion matrix (accuracy {acc:.3f}, {cm.sum()} rows)", fontsize=10)
    return to_svg(fig, "confusion")


def roc_curves(y: np.ndarray, proba: np.ndarray, classes: Sequence[str]) -> str:
    """The ROC curve of a binary task (positive class = the second), or one-vs-rest per class."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = _figure(3.8)
    pairs = [(1, classes[1])] if len(classes) == 2 else list(enumerate(classes))
    for n, (i, name) in enumerate(pairs):
        truth = (y == i).astype(int)
        if truth.min() == truth.max():
            continue  # a class absent from (or alone in) the rows has no curve
        fpr, tpr, _ = roc_curve(truth, proba[:, i])
        auc = roc_auc_score(truth, proba[:, i])
        label = f"AUC {auc:.3f}" if len(classes) == 2 else f"{_short(name, 16)} (AUC {auc:.3f})"
        ax.plot(fpr, tpr, color=PALETTE[n % len(PALETTE)], linewidth=1.6, label=label)
    ax.plot([0, 1], [0, 1], color="#a0aec0", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve" + (f" (positive class: {_short(classes[1], 20)})" if len(classes) == 2
                                else "s, one class against the rest"), fontsize=10)
    ax.set_aspect("equal")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    return to_svg(fig, "roc")


def residuals(y: np.ndarray, pred: np.ndarray, target: str) -> str:
    """Predicted against actual values, and residuals against predictions."""
    fig, (ax1, ax2) = _figure(3.6, ncols=2)
    ax1.scatter(y, pred, s=8, alpha=0.5, color=ACCENT, linewidths=0)
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    ax1.plot([lo, hi], [lo, hi], color="#c53030", linewidth=1, linestyle="--")
    ax1.set_xlabel(f"actual {target}")
    ax1.set_ylabel("predicted")
    ax1.set_title("predicted against actual", fontsize=10)
    res = y - pred
    ax2.scatter(pred, res, s=8, alpha=0.5, color=ACCENT, linewidths=0)
    ax2.axhline(0, color="#c53030", linewidth=1, linestyle="--")
    ax2.set_xlabel("predicted")
    ax2.set_ylabel("residual (actual - predicted)")
    rmse = float(np.sqrt(np.mean(res ** 2)))
    ax2.set_title(f"residuals (RMSE {rmse:.4g})", fontsize=10)
    return to_svg(fig, "residuals")


def _short(text: Any, n: int) -> str:
    s = str(text)
    return s if len(s) <= n else s[: n - 1] + "…"
