"""How a run describes itself: a readable name per pipeline, a one-line search summary, the leaderboard."""
from __future__ import annotations

from typing import Any

import pandas as pd

from forgeml.metrics import Metric
from forgeml.orchestrate.loop import SearchState
from forgeml.search.base import Searcher
from forgeml.space import Config

COLUMNS = ["trial_id", "pipeline", "family", "score", "fidelity", "fit_time", "predict_time", "ensemble_weight"]


def describe(config: Config) -> str:
    """A short, readable name for a configuration: family(key=value, ...)."""
    fam = config["family"]
    params = {k: v for k, v in config.sub(fam).items() if not k.startswith("prep.")}
    show = ", ".join(f"{k}={_fmt(v)}" for k, v in list(params.items())[:4])
    return f"{fam}({show})"


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def search_summary(searcher: Searcher, state: SearchState) -> str:
    """One line on how far the search got (grid coverage when the strategy reports it)."""
    parts = [f"{len(state.completed(False))} of {len(state.results)} trials completed"]
    coverage = getattr(searcher, "coverage", None)
    if callable(coverage):
        parts.append(f"grid: {coverage()}")
    return "; ".join(parts)


def build_leaderboard(state: SearchState, weights: dict[int, float], ens_score: float | None,
                      metric: Metric) -> pd.DataFrame:
    """Every completed trial, best first (full fidelity before partial), with the ensemble as a row of its own."""
    rows = []
    for r in state.completed(full_fidelity=False):
        cfg = state.proposals[r.trial_id].config
        rows.append({"trial_id": r.trial_id, "pipeline": describe(cfg), "family": cfg["family"],
                     "score": r.score, "fidelity": r.fidelity, "fit_time": r.fit_time,
                     "predict_time": r.extra.get("predict_s_per_1k_rows", r.predict_time),
                     "ensemble_weight": weights.get(r.trial_id, 0.0)})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if len(weights) > 1 and ens_score is not None:
        members = frame[frame["trial_id"].isin(list(weights))]
        ens = {"trial_id": -1, "pipeline": "ensemble(" + ", ".join(
            f"{weights[t]:.2f}×#{t}" for t in weights) + ")", "family": "ensemble", "score": ens_score,
            "fidelity": 1.0, "fit_time": members["fit_time"].sum(), "predict_time": members["predict_time"].sum(),
            "ensemble_weight": 1.0}
        frame = pd.concat([pd.DataFrame([ens]), frame], ignore_index=True)
    frame = frame.sort_values(["fidelity", "score", "trial_id"],
                              ascending=[False, not metric.greater_is_better, True], kind="stable")
    frame = frame.rename(columns={"score": f"cv_{metric.name}", "predict_time": "predict_s_per_1k"})
    return frame.reset_index(drop=True)


def fallback_leaderboard(row: dict[str, Any], description: str, metric: Metric) -> pd.DataFrame:
    """The one row of a run that returned its fallback pipeline: listed, with no cross-validated score."""
    return pd.DataFrame([{"trial_id": row["trial_id"], "pipeline": description, "family": row["family"],
                          f"cv_{metric.name}": float("nan"), "fidelity": 1.0, "fit_time": row["fit_time"],
                          "predict_s_per_1k": float("nan"), "ensemble_weight": 1.0}])


def skipped_note(skipped: list[str]) -> str:
    """The note on families left out of a weighted run (search summary and warning)."""
    return f"not searched: {', '.join(skipped)} (cannot use sample_weight)"


def with_skipped_families(frame: pd.DataFrame, skipped: list[str], metric: Metric) -> pd.DataFrame:
    """The leaderboard with one row per family left out of a weighted run, at the bottom, unscored."""
    if not skipped:
        return frame
    rows = pd.DataFrame([{"trial_id": pd.NA, "pipeline": f"{name}: not searched (cannot use sample_weight)",
                          "family": name, f"cv_{metric.name}": float("nan"), "fidelity": float("nan"),
                          "fit_time": float("nan"), "predict_s_per_1k": float("nan"), "ensemble_weight": 0.0}
                         for name in skipped], columns=frame.columns)
    out = pd.concat([frame.astype({"trial_id": "Int64"}), rows.astype({"trial_id": "Int64"})], ignore_index=True)
    out.attrs["not_searched"] = {name: "cannot use sample_weight" for name in skipped}
    return out
