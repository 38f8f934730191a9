"""Comparing search strategies: mean normalised test score, mean rank, and anytime curves as an SVG.

Normalised score per dataset: 0 = constant predictor, 1 = the best strategy of the run on that dataset
(the scale of ``shared/bench``). Anytime curves: each strategy's best cross-validation score so far, at 20
points of the budget, scaled per dataset to [0, 1] over all strategies, then averaged over datasets.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

GRID = np.linspace(0.05, 1.0, 20)
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"]


def anytime(trials: pd.DataFrame, start: float, budget: float, greater_is_better: bool) -> list[float | None]:
    """Best CV score reached by each point of ``GRID`` (fractions of the budget); None before the first."""
    done = trials[(trials.kind == "cv") & (trials.status == "complete") & (trials.fidelity >= 0.999)]
    done = done.sort_values("ended_at")
    out: list[float | None] = []
    for g in GRID:
        seen = done[done.ended_at - start <= g * budget]["score"]
        out.append(None if seen.empty else float(seen.max() if greater_is_better else seen.min()))
    return out


def normalized_scores(frame: pd.DataFrame, higher: dict[str, bool]) -> pd.DataFrame:
    """Add ``norm`` (0 constant, 1 best strategy) and ``rank`` per dataset to the forgeml rows, and ``cv_rank``:
    the rank of each strategy's best cross-validation score (on all training rows, so less noisy than the
    test score on a quarter of the rows). A failed run scores as the constant predictor and ranks last."""
    rows = []
    for _, g in frame.groupby("dataset", sort=False):
        hi = higher[g["task"].iloc[0]]
        const = g.loc[g.system == "constant", "test_score"].iloc[0]
        f = g[g.system.str.startswith("forgeml")].copy()
        best = f["test_score"].max() if hi else f["test_score"].min()
        span = (best - const) if hi else (const - best)
        score = f["test_score"].fillna(const)
        span = span if np.isfinite(span) and span > 0 else 1.0  # all failed, or none beat the constant
        f["norm"] = ((score - const) if hi else (const - score)) / span
        f["rank"] = f["test_score"].rank(ascending=not hi, method="average", na_option="bottom")
        cv = f["anytime"].map(_last) if "anytime" in f else pd.Series(np.nan, index=f.index)
        f["cv_rank"] = cv.rank(ascending=not hi, method="average", na_option="bottom")
        rows.append(f)
    return pd.concat(rows, ignore_index=True) if rows else frame.iloc[:0]


def _last(curve: object) -> float:
    values = [v for v in json.loads(curve) if v is not None] if isinstance(curve, str) else []
    return values[-1] if values else np.nan


def strategy_table(frame: pd.DataFrame, higher: dict[str, bool]) -> str:
    f = normalized_scores(frame, higher)
    agg = f.groupby("system").agg(mean_norm=("norm", "mean"), mean_rank=("rank", "mean"),
                                  cv_rank=("cv_rank", "mean"),
                                  failures=("test_score", lambda s: int(s.isna().sum())),
                                  max_wall_over_budget=("wall_over_budget", "max")).sort_values("mean_rank")
    lines = ["| strategy | mean norm | mean rank | mean CV rank | failures | max wall/budget |",
             "|---|---|---|---|---|---|"]
    for name, r in agg.iterrows():
        lines.append(f"| {name} | {r.mean_norm:.3f} | {r.mean_rank:.2f} | {r.cv_rank:.2f} | {int(r.failures)} | "
                     f"{r.max_wall_over_budget:.2f} |")
    return "\n".join(lines)


def paired_table(frame: pd.DataFrame, higher: dict[str, bool], reference: str = "forgeml[auto]") -> str:
    """``reference`` against each other strategy, dataset by dataset: wins, ties and losses on the test score,
    and a two-sided Wilcoxon signed-rank test on the normalised scores. With one seed per dataset and test
    sets of a few hundred rows, a difference in mean rank alone is mostly noise; the test says whether a
    strategy is reliably better or worse than the reference."""
    from scipy.stats import wilcoxon

    f = normalized_scores(frame, higher)
    norm = f.pivot_table(index="dataset", columns="system", values="norm")
    if reference not in norm:
        candidates = [c for c in norm.columns if c.startswith(reference.rstrip("]"))]
        if not candidates:
            return ""
        reference = candidates[0]
    lines = [f"| {reference} against | wins | ties | losses | mean norm difference | Wilcoxon p |",
             "|---|---|---|---|---|---|"]
    for other in sorted(c for c in norm.columns if c != reference):
        d = (norm[reference] - norm[other]).dropna()
        wins, losses = int((d > 1e-12).sum()), int((d < -1e-12).sum())
        nonzero = d[d.abs() > 1e-12]
        p = float(wilcoxon(nonzero).pvalue) if len(nonzero) >= 3 else float("nan")
        lines.append(f"| {other} | {wins} | {len(d) - wins - losses} | {losses} | {d.mean():+.4f} | {p:.3f} |")
    if len(norm) < 6:
        lines.append(f"\nWith {len(norm)} datasets the Wilcoxon test cannot reach p < 0.05 (6 are needed).")
    return "\n".join(lines)


def per_dataset_table(frame: pd.DataFrame, higher: dict[str, bool]) -> str:
    """Test score of every strategy on every dataset, the best of each row in bold."""
    f = frame[frame.system.str.startswith("forgeml")]
    systems = sorted(f.system.unique())
    names = [s[len("forgeml["):-1] if s.startswith("forgeml[") else s for s in systems]
    lines = ["| dataset | metric | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(systems)]
    for ds, g in f.groupby("dataset", sort=False):
        hi = higher[g["task"].iloc[0]]
        s = g.set_index("system")["test_score"]
        best = s.max() if hi else s.min()
        cells = []
        for name in systems:
            v = s.get(name)
            cells.append("fail" if v is None or pd.isna(v) else f"**{v:.4f}**" if v == best else f"{v:.4f}")
        lines.append(f"| {ds} | {g['metric'].iloc[0]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mean_curves(frame: pd.DataFrame, higher: dict[str, bool]) -> dict[str, list[float]]:
    curves: dict[str, list[list[float]]] = {}
    for _, g in frame[frame.system.str.startswith("forgeml")].groupby("dataset", sort=False):
        hi = higher[g["task"].iloc[0]]
        per = {r.system: json.loads(r.anytime) for r in g.itertuples() if isinstance(getattr(r, "anytime", None), str)}
        vals = [v for c in per.values() for v in c if v is not None]
        if not vals:
            continue
        lo, top = (min(vals), max(vals)) if hi else (max(vals), min(vals))
        span = (top - lo) or 1.0
        for name, c in per.items():
            curves.setdefault(name, []).append([0.0 if v is None else (v - lo) / span for v in c])
    return {k: list(np.mean(v, axis=0)) for k, v in curves.items()}


def anytime_svg(curves: dict[str, list[float]], title: str, width: int = 640, height: int = 400) -> str:
    """A dependency-free line plot: x = share of the budget, y = mean scaled best CV score."""
    left, right, top, bottom = 60, 170, 40, 50
    w, h = width - left - right, height - top - bottom

    def xy(x: float, y: float) -> str:
        return f"{left + x * w:.1f},{top + (1 - y) * h:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left}" y="22" font-size="14">{title}</text>',
             f'<polyline points="{xy(0, 0)} {xy(1, 0)}" stroke="black" fill="none"/>',
             f'<polyline points="{xy(0, 0)} {xy(0, 1)}" stroke="black" fill="none"/>']
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x0, y0 = xy(t, 0).split(",")
        parts.append(f'<text x="{x0}" y="{float(y0) + 18}" text-anchor="middle">{t:.2f}</text>')
        xl, yl = xy(0, t).split(",")
        parts.append(f'<text x="{float(xl) - 8}" y="{float(yl) + 4}" text-anchor="end">{t:.2f}</text>')
    parts.append(f'<text x="{left + w / 2}" y="{height - 10}" text-anchor="middle">share of the time budget</text>')
    for i, (name, c) in enumerate(sorted(curves.items())):
        color = COLORS[i % len(COLORS)]
        pts = " ".join(xy(g, v) for g, v in zip(GRID, c))
        parts.append(f'<polyline points="{pts}" stroke="{color}" stroke-width="2" fill="none"/>')
        ly = top + 16 * i
        parts.append(f'<line x1="{left + w + 15}" y1="{ly}" x2="{left + w + 35}" y2="{ly}" stroke="{color}" '
                     f'stroke-width="3"/><text x="{left + w + 40}" y="{ly + 4}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
