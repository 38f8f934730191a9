"""The HTML report of a fitted ``AutoML``: one self-contained file (inline CSS and SVG, no script, nothing fetched).

Every section is drawn from what a saved model keeps: its leaderboard, schema and pipeline, the run's trials (from
the store in its run directory, or kept in memory for a run without one), ``feature_report()`` and
``report_data_`` (``capture.py``). A section whose source is missing (a model saved before ``report_data_``
existed, a run directory moved away) says so instead of failing the report.
"""
from __future__ import annotations

import datetime as _dt
import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgeml.report import charts

Progress = Callable[[str], None]
TOP_FEATURES = 20
MAX_LEADERBOARD_ROWS = 100

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;
color:#1a202c;background:#f7fafc;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:1.7em;margin:0 0 4px}h2{font-size:1.25em;margin:0 0 10px;border-bottom:2px solid #e2e8f0;
padding-bottom:4px}h3{font-size:1.02em;margin:16px 0 6px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:16px 20px;margin:18px 0}
nav a{margin-right:14px;color:#2b6cb0;text-decoration:none;font-size:.92em}
.meta{color:#4a5568;font-size:.92em}.note{color:#4a5568;font-size:.88em;margin:6px 0}
.stats{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.stat{background:#ebf4ff;border-radius:6px;padding:6px 12px}.stat b{display:block;font-size:1.1em}
.stat span{font-size:.8em;color:#4a5568}
table{border-collapse:collapse;font-size:.85em;width:100%;margin:6px 0}
th,td{border-bottom:1px solid #edf2f7;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f7fafc;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.chosen td{background:#fefcbf;font-weight:600}
.scroll{max-height:420px;overflow:auto;border:1px solid #edf2f7}
figure.chart{margin:10px 0}figure.chart svg{display:block;width:100%;max-width:820px;height:auto}
figcaption{color:#4a5568;font-size:.85em}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px}
code{background:#edf2f7;border-radius:3px;padding:0 3px;font-size:.9em}
"""

SECTIONS = [("dataset", "Dataset"), ("leaderboard", "Leaderboard"), ("search", "Search over time"),
            ("ensemble", "Ensemble"), ("features", "Feature importance"), ("predictions", "Out-of-fold predictions"),
            ("pipeline", "Final pipeline")]


def write_report(model: Any, path: str | Path, progress: Progress | None = None) -> str:
    """Write ``render_report(model)`` to ``path`` (parent folders created); returns the path."""
    out = Path(path)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(model, progress), encoding="utf-8")
    return str(out)


def render_report(model: Any, progress: Progress | None = None) -> str:
    """The report of a fitted ``AutoML`` as one HTML document."""
    say = progress or (lambda _msg: None)
    data = getattr(model, "report_data_", None)
    leaderboard = model.leaderboard()
    trials, trials_note = _trials(model)
    say("report: drawing charts ...")
    body = [_header(model, data, leaderboard),
            _dataset(model, data), _leaderboard(model, leaderboard), _search(model, trials, trials_note),
            _ensemble(model, leaderboard), _features(model), _predictions(model, data),
            _pipeline(model, trials)]
    title = f"forgeml report: {model.schema_.target}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<link rel=\"icon\" href=\"data:,\"><title>{_e(title)}</title><style>{CSS}</style></head>\n"
            "<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n")


# ------------------------------------------------------------------------------------------------ sections
def _header(model: Any, data: dict | None, leaderboard: pd.DataFrame) -> str:
    from forgeml import __version__

    metric = model.metric_.name
    chosen = leaderboard[leaderboard["chosen"].fillna(False).astype(bool)] if "chosen" in leaderboard else None
    best = chosen.iloc[0] if chosen is not None and len(chosen) else (leaderboard.iloc[0] if len(leaderboard)
                                                                      else None)
    score = best.get(f"cv_{metric}") if best is not None else None
    stats = [("target", model.schema_.target), ("task", model.task_), ("metric", metric),
             ("CV score of the model", _fmt(score)), ("kept", best["pipeline"] if best is not None else "?"),
             ("trials", model.n_trials_), ("fit seconds", _fmt(getattr(model, "fit_seconds_", None)))]
    if data is not None:
        stats[2:2] = [("rows", data["n_rows"]), ("columns", data["n_columns"])]
    cards = "".join(f"<div class=\"stat\"><span>{_e(k)}</span><b>{_e(v)}</b></div>" for k, v in stats)
    nav = "".join(f"<a href=\"#{sid}\">{_e(name)}</a>" for sid, name in SECTIONS)
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    where = getattr(model, "run_dir_", None)
    return (f"<header><h1>forgeml report: {_e(model.schema_.target)}</h1>"
            f"<div class=\"meta\">forgeml {_e(__version__)} · run {_e(getattr(model, 'run_id_', '?'))}"
            f"{' · ' + _e(where) if where else ''} · generated {when}</div>"
            f"<div class=\"stats\">{cards}</div><nav>{nav}</nav>"
            f"{_p(getattr(model, 'search_summary_', ''))}</header>")


def _dataset(model: Any, data: dict | None) -> str:
    if data is None:
        rows = [[c.name, c.kind, c.dtype, _fmt(c.missing_frac * 100, 3) + " %", c.n_unique]
                for c in model.schema_.columns]
        return _section("dataset", _p("This model was saved without report data: the schema only.")
                        + _table(["column", "kind", "dtype", "missing", "distinct"], rows))
    rows = [[c["name"], c["kind"], c["dtype"], c["n_missing"], c["n_unique"]] for c in data["columns"]]
    dist = data["target_distribution"]
    missing = dist.get("n_missing", 0)
    note = (f"{data['n_rows']} training rows, {data['n_columns']} feature columns; kinds as forgeml inferred them "
            "(id-like and constant columns are not modelled).")
    chart = _chart(charts.target_distribution(dist, data["target"]), "target",
                   f"The target {data['target']!r}" + (f"; {missing} rows without a target were dropped"
                                                       if missing else ""))
    return _section("dataset", _p(note) + "<div class=\"scroll\">" + _table(
        ["column", "kind", "dtype", "missing values", "distinct values"], rows, numeric={3, 4}) + "</div>" + chart)


def _leaderboard(model: Any, lb: pd.DataFrame) -> str:
    shown = lb.head(MAX_LEADERBOARD_ROWS)
    cols = [c for c in shown.columns]
    rows = [[_cell(v) for v in r] for r in shown.itertuples(index=False)]
    chosen = [bool(v) if v is not None and v is not pd.NA and not (isinstance(v, float) and math.isnan(v))
              else False for v in shown.get("chosen", pd.Series([False] * len(shown)))]
    note = (f"Pipelines and ensemble methods, best first by cross-validated {model.metric_.name} (ensemble rows: "
            "the nested out-of-fold score, which none of them was fitted on). The highlighted row is the model.")
    if len(lb) > len(shown):
        note += f" The first {len(shown)} of {len(lb)} rows."
    numeric = {i for i, c in enumerate(cols) if pd.api.types.is_numeric_dtype(shown[c]) and c != "chosen"}
    return _section("leaderboard", _p(note) + "<div class=\"scroll\">"
                    + _table(cols, rows, numeric=numeric, highlight=chosen) + "</div>")


def _search(model: Any, trials: pd.DataFrame | None, note: str) -> str:
    if trials is None:
        return _section("search", _p(note))
    done = _search_trials(trials)
    if not len(done):
        return _section("search", _p("No search trial completed with a score."))
    metric = model.metric_
    chart = charts.search_over_time(done, metric.greater_is_better, metric.name)
    per_family = done.groupby("family").agg(trials=("trial_id", "size"),
                                            best=("score", "max" if metric.greater_is_better else "min"))
    per_family = per_family.sort_values("best", ascending=not metric.greater_is_better)
    rows = [[f, int(r.trials), _fmt(r.best)] for f, r in per_family.iterrows()]
    failed = int((trials["status"] != "complete").sum())
    text = (f"{len(done)} completed search trials" + (f", {failed} failed or timed out" if failed else "")
            + ". Lines: the best score so far per model family; dots: each trial's own score.")
    return _section("search", _p(text) + _chart(chart, "search", "Best cross-validated score against time")
                    + _table(["family", "trials", f"best CV {metric.name}"], rows, numeric={1, 2}))


def _ensemble(model: Any, lb: pd.DataFrame) -> str:
    pipe = model.best_pipeline_
    ids = pipe.member_ids or [None] * len(pipe.members)
    names = [f"#{i} {d}" if i is not None else d for i, d in zip(ids, pipe.descriptions)]
    chosen = lb[lb["chosen"].fillna(False).astype(bool)] if "chosen" in lb else lb.iloc[:0]
    method = str(chosen["pipeline"].iloc[0]) if len(chosen) else "the best single pipeline"
    combiner = getattr(pipe, "combiner", None)
    how = (f"A meta-learner ({_e(combiner.describe())}) combines the members' predictions; the weights below "
           "are the members' shares." if combiner is not None and hasattr(combiner, "describe")
           else "The model averages its members' predictions with these weights.")
    rows = [[i if i is not None else "", d, _fmt(w)] for i, d, w in zip(ids, pipe.descriptions, pipe.weights)]
    chart = charts.horizontal_bars(names, pipe.weights, xlabel="weight", name="weights")
    text = f"Kept: <code>{_e(method)}</code>, {len(pipe.members)} member(s). {how}"
    return _section("ensemble", f"<p>{text}</p>" + _chart(chart, "weights", "Members and their weights")
                    + _table(["trial", "pipeline", "weight"], rows, numeric={2}))


def _features(model: Any) -> str:
    try:
        fr = model.feature_report()
    except Exception as exc:  # noqa: BLE001 - one section fails, the report stands
        return _section("features", _p(f"The feature report failed: {type(exc).__name__}: {exc}"))
    inputs = fr.iloc[: len(model.schema_.names())]
    top = inputs.sort_values("importance", ascending=False, kind="stable").head(TOP_FEATURES)
    chart = charts.horizontal_bars(top["feature"].astype(str).tolist(), top["importance"].astype(float).tolist(),
                                   xlabel="importance (input columns sum to 1)", name="importance")
    text = ("Importance per input column: built-in importances or |coefficients|, else permutation importance, "
            "each feature made from a column counted toward it, weighted by the ensemble weights "
            "(<code>automl.feature_report()</code>).")
    if not (inputs["importance"] > 0).any():
        text += (" All are 0 here: the members need permutation importance, which needs training rows, and a "
                 "saved model carries none (call <code>feature_report(X, y)</code> and report from the fitted "
                 "object instead).")
    made = len(fr) - len(inputs)
    if made:
        text += f" The pipeline(s) also made {made} engineered feature(s), listed in the feature report."
    return _section("features", f"<p class=\"note\">{text}</p>"
                    + _chart(chart, "importance", f"The {len(top)} most important input columns"))


def _predictions(model: Any, data: dict | None) -> str:
    oof = None if data is None else data.get("oof")
    if not oof:
        return _section("predictions", _p("No out-of-fold predictions were kept for this model (saved before "
                                          "report data existed, or no trial was validated)."))
    y = np.asarray(oof["y"])
    text = _p(f"{oof['n_rows']} rows: {oof['source']}.")
    if model.task_ == "regression":
        pred = np.asarray(oof["pred"], dtype=float)
        return _section("predictions", text + _chart(charts.residuals(y.astype(float), pred, model.schema_.target),
                                                     "residuals", "Residuals on out-of-fold predictions"))
    classes = data["classes"]
    figs = [_chart(charts.confusion_matrix(y.astype(int), np.asarray(oof["label"], dtype=int), classes),
                   "confusion", "Confusion matrix (predicted class: the most probable)")]
    if "proba" in oof:
        figs.append(_chart(charts.roc_curves(y.astype(int), np.asarray(oof["proba"], dtype=float), classes), "roc",
                           "ROC on out-of-fold probabilities"))
    else:
        text += _p(f"No ROC curves: more than {len(classes) - 1} classes.")
    return _section("predictions", text + "<div class=\"grid2\">" + "".join(figs) + "</div>")


def _pipeline(model: Any, trials: pd.DataFrame | None) -> str:
    pipe = model.best_pipeline_
    ids = pipe.member_ids or [None] * len(pipe.members)
    configs = {} if trials is None else {int(r.trial_id): r.config for r in trials.itertuples()
                                         if isinstance(r.config, dict)}
    parts = []
    for tid, desc, w, member in zip(ids, pipe.descriptions, pipe.weights, pipe.members):
        head = f"#{tid} " if tid is not None else ""
        bag = getattr(member, "pipelines", None)
        steps_of = bag[0] if bag else member
        how = f" · bagged: the mean of {len(bag)} fold models" if bag else " · refit on all rows"
        parts.append(f"<h3>{_e(head + desc)} <span class=\"note\">weight {_fmt(w)}{how}</span></h3>")
        steps = [[name, type(step).__name__, _params(step)] for name, step in getattr(steps_of, "steps", [])]
        if steps:
            parts.append(_table(["step", "class", "parameters"], steps))
        config = configs.get(tid) if tid is not None else None
        if config:
            family = config.get("family", "")
            rows = [[k[len(family) + 1:] if k.startswith(f"{family}.") else k, _cell(v)]
                    for k, v in config.items() if k != "family"]
            parts.append("<p class=\"note\">Searched hyperparameters (the trial's configuration):</p>"
                         + _table(["hyperparameter", "value"], rows))
    combiner = getattr(pipe, "combiner", None)
    if combiner is not None:
        parts.append(_p(f"Combined by {combiner.describe() if hasattr(combiner, 'describe') else combiner}."))
    intro = _p("The deployable model: schema check, then each member's preprocessing and model, then the "
               "combination, then label decoding.")
    return _section("pipeline", intro + "".join(parts))


# ------------------------------------------------------------------------------------------------ helpers
def _trials(model: Any) -> tuple[pd.DataFrame | None, str]:
    try:
        return model.trials(), ""
    except Exception as exc:  # noqa: BLE001 - e.g. the run directory was moved: the other sections still work
        return None, f"The run's trials could not be read ({type(exc).__name__}: {exc})."


def _search_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Completed cross-validated search trials (no refits) with a score and times, and their family."""
    t = trials[(trials["status"] == "complete") & (trials["kind"] != "refit")].copy()
    t = t[t["score"].notna() & t["started_at"].notna() & t["ended_at"].notna()]
    t["family"] = [c.get("family", "?") if isinstance(c, dict) else "?" for c in t["config"]]
    t["score"] = t["score"].astype(float)
    return t


def _params(step: Any, limit: int = 12) -> str:
    """A step's scalar parameters (long tuples such as column lists left out)."""
    try:
        params = step.get_params(deep=False)
    except Exception:  # noqa: BLE001 - not an estimator: no parameters to show
        return ""
    shown = [f"{k}={_cell(v)}" for k, v in params.items()
             if isinstance(v, (int, float, str, bool, type(None))) and len(str(v)) <= 40][:limit]
    return ", ".join(shown)


def _section(sid: str, inner: str) -> str:
    title = dict(SECTIONS)[sid]
    return f"<section id=\"{sid}\"><h2>{_e(title)}</h2>{inner}</section>"


def _chart(svg: str, name: str, caption: str) -> str:
    return f"<figure class=\"chart\" data-chart=\"{_e(name)}\">{svg}<figcaption>{_e(caption)}</figcaption></figure>"


def _table(header: list[str], rows: list[list[Any]], numeric: set[int] | None = None,
           highlight: list[bool] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for n, row in enumerate(rows):
        cls = " class=\"chosen\"" if highlight and highlight[n] else ""
        cells = "".join(f"<td class=\"num\">{_e(_cell(v))}</td>" if i in numeric else f"<td>{_e(_cell(v))}</td>"
                        for i, v in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _p(text: str) -> str:
    return f"<p class=\"note\">{_e(text)}</p>" if text else ""


def _cell(v: Any) -> str:
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else ""
    if isinstance(v, (float, np.floating)):
        return _fmt(v)
    return str(v)


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "" if math.isnan(f) else f"{f:.{digits}g}"


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)
