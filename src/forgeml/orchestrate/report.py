"""How a run describes itself: a readable name per pipeline, a one-line search summary, the leaderboard."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from forgeml.metrics import Metric
from forgeml.orchestrate.loop import SearchState
from forgeml.search.base import Searcher
from forgeml.space import Config

COLUMNS = ["trial_id", "pipeline", "family", "source", "score", "fidelity", "fit_time", "predict_time",
           "ensemble_weight", "members", "beats_single", "chosen"]


def describe(config: Config) -> str:
    """A short, readable name for a configuration: family(key=value, ...)."""
    fam = config["family"]
    params = {k: v for k, v in config.sub(fam).items() if not k.startswith("prep.")}
    show = ", ".join(f"{k}={_fmt(v)}" for k, v in list(params.items())[:4])
    return f"{fam}({show})"


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def search_summary(searcher: Searcher, state: SearchState) -> str:
    """One line on how far the search got (grid coverage when the strategy reports it, and the past results on
    the same table its model began from)."""
    parts = [f"{len(state.completed(False))} of {len(state.results)} trials completed"]
    coverage = getattr(searcher, "coverage", None)
    if callable(coverage):
        parts.append(f"grid: {coverage()}")
    prior = getattr(searcher, "n_prior", 0)
    if prior:
        parts.append(f"the search began from {prior} results of past runs over the same table")
    return "; ".join(parts)


def build_leaderboard(state: SearchState, weights: dict[int, float], ens_score: float | None, metric: Metric,
                      candidates: Sequence[Any] = (), method: str | None = None,
                      measured_s_per_row: float | None = None, kept: Any = None,
                      sources: Mapping[int, str] | None = None) -> pd.DataFrame:
    """Every completed trial, best first (full fidelity before partial), and a row per ensemble method compared.

    An ensemble row (family ``"ensemble"``, negative ``trial_id``) carries the method's nested out-of-fold score
    (``ensemble.select``), its members and weights, the summed fit time of its members and its predict cost
    (``predict_s_per_1k``: measured on a 10,000-row batch for the kept one under ``infer_limit``, otherwise the
    members' cross-validation figures summed); ``chosen`` marks the one kept (``kept``, the very ensemble the model
    was built from, or by ``method`` name without it; the trial itself when a single pipeline was kept and no
    ensemble row names it). An ensemble chosen again after the comparison (a member
    could not be refit, or ``infer_limit``) is not one of the candidates: it gets a row of its own, chosen, with
    ``ens_score`` (its nested score, or none when it could not be scored). ``beats_single`` is the share of
    bootstrap resamples of the nested rows on which the method beat the single best (``ensemble.select``).
    """
    rows = []
    for r in state.completed(full_fidelity=False):
        cfg = state.proposals[r.trial_id].config
        rows.append({"trial_id": r.trial_id, "pipeline": describe(cfg), "family": cfg["family"],
                     "source": (sources or {}).get(r.trial_id, "optimizer"),
                     "score": r.score, "fidelity": r.fidelity, "fit_time": r.fit_time,
                     "predict_time": r.extra.get("predict_s_per_1k_rows", r.predict_time),
                     "ensemble_weight": weights.get(r.trial_id, 0.0), "members": "", "beats_single": float("nan"),
                     "chosen": False})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    by_id = frame.set_index("trial_id")
    ens_rows = []
    listed = [c for c in candidates if c.ensemble is not None or c.error]
    matched = any(c.ensemble is kept for c in listed) if kept is not None else True
    for i, c in enumerate(listed):
        chosen = (c.ensemble is kept) if kept is not None else c.name == method
        w = dict(weights) if chosen and weights else (dict(c.ensemble.weights) if c.ensemble is not None else {})
        known = [t for t in w if t in by_id.index]
        cost = by_id.loc[known, "predict_time"].sum() if known else float("nan")
        if chosen and measured_s_per_row is not None:
            cost = measured_s_per_row * 1000
        label = c.name if c.ensemble is None or c.ensemble.combiner is None else _combiner_name(c)
        ens_rows.append({"trial_id": -(i + 1), "pipeline": f"ensemble:{label}" + (f" ({c.error})" if c.error else ""),
                         "family": "ensemble", "source": "ensemble", "score": c.nested_score, "fidelity": 1.0,
                         "fit_time": by_id.loc[known, "fit_time"].sum() if known else float("nan"),
                         "predict_time": cost, "ensemble_weight": 1.0 if chosen else 0.0,
                         "members": _members(w), "beats_single": getattr(c, "p_better", float("nan")),
                         "chosen": chosen})
    if (not matched and (len(weights) > 1 or listed)) or (not ens_rows and len(weights) > 1 and ens_score is not None):
        members = frame[frame["trial_id"].isin(list(weights))]
        again = " (chosen again)" if not matched else ""
        ens_rows.append({"trial_id": -(len(ens_rows) + 1), "pipeline": f"ensemble:{method or 'weighted'}{again}",
                         "family": "ensemble", "source": "ensemble",
                         "score": ens_score, "fidelity": 1.0, "fit_time": members["fit_time"].sum(),
                         "predict_time": members["predict_time"].sum() if measured_s_per_row is None
                         else measured_s_per_row * 1000, "ensemble_weight": 1.0,
                         "members": _members(weights), "beats_single": float("nan"), "chosen": True})
    single = [t for t, w in weights.items() if w > 0]
    if not any(r["chosen"] for r in ens_rows) and len(single) == 1:
        frame.loc[frame["trial_id"] == single[0], "chosen"] = True  # a single pipeline kept, no ensemble row
    if ens_rows:
        frame = pd.concat([pd.DataFrame(ens_rows, columns=COLUMNS), frame], ignore_index=True)
    frame = frame.sort_values(["fidelity", "score", "trial_id"],
                              ascending=[False, not metric.greater_is_better, True], kind="stable",
                              na_position="last")
    frame = frame.rename(columns={"score": f"cv_{metric.name}", "predict_time": "predict_s_per_1k"})
    return frame.reset_index(drop=True)


def _members(weights: dict[int, float]) -> str:
    return ", ".join(f"#{t}:{w:.2f}" for t, w in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])))


def _combiner_name(c: Any) -> str:
    describe_ = getattr(c.ensemble.combiner, "describe", None)
    return describe_() if callable(describe_) else c.name


def fallback_leaderboard(row: dict[str, Any], description: str, metric: Metric) -> pd.DataFrame:
    """The one row of a run that returned its fallback pipeline: listed, with no cross-validated score."""
    return pd.DataFrame([{"trial_id": row["trial_id"], "pipeline": description, "family": row["family"],
                          "source": "fallback",
                          f"cv_{metric.name}": float("nan"), "fidelity": 1.0, "fit_time": row["fit_time"],
                          "predict_s_per_1k": float("nan"), "ensemble_weight": 1.0, "members": "", "chosen": True}])


def skipped_note(skipped: list[str]) -> str:
    """The note on families left out of a weighted run (search summary and warning)."""
    return f"not searched: {', '.join(skipped)} (cannot use sample_weight)"


def with_skipped_families(frame: pd.DataFrame, skipped: list[str], metric: Metric) -> pd.DataFrame:
    """The leaderboard with one row per family left out of a weighted run, at the bottom, unscored."""
    if not skipped:
        return frame
    rows = pd.DataFrame([{"trial_id": pd.NA, "pipeline": f"{name}: not searched (cannot use sample_weight)",
                          "family": name, f"cv_{metric.name}": float("nan"), "fidelity": float("nan"),
                          "fit_time": float("nan"), "predict_s_per_1k": float("nan"), "ensemble_weight": 0.0,
                          "members": "", "chosen": False}
                         for name in skipped], columns=frame.columns)
    out = pd.concat([frame.astype({"trial_id": "Int64"}), rows.astype({"trial_id": "Int64"})], ignore_index=True)
    out.attrs["not_searched"] = {name: "cannot use sample_weight" for name in skipped}
    return out
