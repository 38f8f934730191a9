"""``forgeml bench``: forgeml against a constant predictor and default LightGBM on a suite of datasets.

The split and the test metrics are the ones of ``shared/bench/run_peer.py``: 75/25, ``random_state=seed``,
stratified for classification; ROC AUC (binary), log loss (multiclass), RMSE (regression) as the headline.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score
from sklearn.model_selection import train_test_split

from forgeml.bench.suite import read_suite

HEADLINE = {"binary": ("roc_auc", True), "multiclass": ("log_loss", False), "regression": ("rmse", False)}


def split(df: pd.DataFrame, target: str, task: str, seed: int):
    strat = df[target] if task != "regression" else None
    return train_test_split(df, test_size=0.25, random_state=seed, stratify=strat)


def test_score(task: str, y, pred, proba, classes) -> float:
    if task == "regression":
        return float(np.sqrt(mean_squared_error(y, pred)))
    y = np.asarray(y).astype(str)
    cls = [str(c) for c in classes]
    P = np.clip(np.asarray(proba, dtype=float), 1e-15, 1)
    P = P / P.sum(1, keepdims=True)
    if task == "binary":
        return float(roc_auc_score((y == cls[1]).astype(int), P[:, 1]))
    return float(log_loss(y, P, labels=cls))


def _encode(train: pd.DataFrame, test: pd.DataFrame, target: str):
    Xtr, Xte = train.drop(columns=[target]).copy(), test.drop(columns=[target]).copy()
    for c in Xtr.columns:
        if pd.api.types.is_datetime64_any_dtype(Xtr[c]):
            Xtr[c] = Xtr[c].astype("int64") // 10**9
            Xte[c] = Xte[c].astype("int64") // 10**9
        elif not pd.api.types.is_numeric_dtype(Xtr[c]) or pd.api.types.is_bool_dtype(Xtr[c]):
            cats = pd.Categorical(Xtr[c].astype("string")).categories
            Xtr[c] = pd.Categorical(Xtr[c].astype("string"), categories=cats)
            Xte[c] = pd.Categorical(Xte[c].astype("string"), categories=cats)
    return Xtr, Xte


def reference(kind: str, train, test, target, task, seed):
    ytr, t0 = train[target], time.time()
    if kind == "constant":
        if task == "regression":
            return np.full(len(test), ytr.mean()), None, None, time.time() - t0
        freq = ytr.value_counts(normalize=True).sort_index()
        return None, np.tile(freq.values, (len(test), 1)), list(freq.index), time.time() - t0
    import lightgbm as lgb

    Xtr, Xte = _encode(train, test, target)
    M = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    m = M(random_state=seed, n_jobs=2, verbose=-1).fit(Xtr, ytr)
    if task == "regression":
        return m.predict(Xte), None, None, time.time() - t0
    return None, m.predict_proba(Xte), list(m.classes_), time.time() - t0


def split_searches(text: str) -> list[str]:
    """Split ``"random,auto(a=1;b=2),bayes"`` at the commas outside parentheses, and check every strategy and
    option name before anything runs (a typo would otherwise cost a whole suite of error rows)."""
    from forgeml.errors import ConfigError
    from forgeml.search import make_searcher, parse_search_spec

    parts = [s.strip() for s in re.findall(r"[^,(]+(?:\([^)]*\))?", text) if s.strip()]
    if ",".join(parts).replace(" ", "") != text.replace(" ", "").strip(","):
        raise ConfigError(f"cannot read the search list {text!r}; write e.g. random,auto(random_fraction=0.3)")
    for spec in parts:
        name, options = parse_search_spec(spec)
        make_searcher(name, **options)
    return parts


def _slug(spec: str) -> str:
    import hashlib

    clean = re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec)
    return clean if clean == spec else f"{clean}-{hashlib.sha1(spec.encode()).hexdigest()[:6]}"


def system_name(search: str, searches: list[str]) -> str:
    return "forgeml" if len(searches) == 1 else f"forgeml[{search}]"


def run_one(entry: dict, root: Path, *, time_budget: float, seed: int, searches: list[str],
            workdir: Path, done: set[str] = frozenset(), feature_engineering: bool = True) -> list[dict]:
    """The rows of one dataset; systems named in ``done`` (from a resumed run) are not run again."""
    df = pd.read_parquet(root / entry["file"])
    target, task = entry["target"], entry["task"]
    train, test = split(df, target, task, seed)
    rows = []
    metric, _ = HEADLINE[task]
    for kind in ("constant", "lightgbm"):
        if kind in done:
            continue
        pred, proba, classes, secs = reference(kind, train, test, target, task, seed)
        rows.append({"dataset": entry["name"], "system": kind, "task": task, "metric": metric,
                     "test_score": test_score(task, test[target], pred, proba, classes), "fit_wall_s": secs})
    for search in searches:
        system = system_name(search, searches)
        if system in done:
            continue
        rows.append(_forgeml_row(entry, train, test, target, task, metric, system, search=search,
                                 time_budget=time_budget, seed=seed,
                                 path=workdir / f"{entry['name']}-{_slug(search)}",
                                 feature_engineering=feature_engineering))
    return rows


def _forgeml_row(entry, train, test, target, task, metric, system, *, search, time_budget, seed, path,
                 feature_engineering: bool = True) -> dict:
    from forgeml import AutoML
    from forgeml.bench.strategies import anytime
    from forgeml.search import parse_search_spec

    row = {"dataset": entry["name"], "system": system, "task": task, "metric": metric}
    t0 = time.time()
    try:
        name, options = parse_search_spec(search)
        m = AutoML(time_budget=time_budget, seed=seed, verbose=0, search=name, search_options=options,
                   path=str(path), overwrite=True,  # a row not in results.csv is rerun from scratch
                   knowledge=None, portfolio=None,  # cold: neither past runs nor a portfolio built on this suite
                   feature_engineering=feature_engineering)
        m.fit(train, target=target)
        row["anytime"] = json.dumps(anytime(m.trials(), t0, time_budget, m.metric_.greater_is_better))
        row["fit_wall_s"] = time.time() - t0
        Xte = test.drop(columns=[target])
        t1 = time.time()
        if task == "regression":
            pred, proba, classes = m.predict(Xte), None, None
        else:
            pr = m.predict_proba(Xte)
            pred, proba, classes = None, pr.to_numpy(), list(pr.columns)
        row["predict_s"] = time.time() - t1
        row["test_score"] = test_score(task, test[target], pred, proba, classes)
        row["n_trials"] = m.n_trials_
        row["best"] = str(m.best_pipeline_)[:120]
    except Exception as exc:  # a failure is a result too
        row["fit_wall_s"] = time.time() - t0
        row["error"] = f"{type(exc).__name__}: {exc}"[:300]
    row["wall_over_budget"] = row["fit_wall_s"] / time_budget
    return row


def summarize(frame: pd.DataFrame) -> str:
    lines = ["| dataset | task | metric | constant | lightgbm | forgeml | forgeml fit s | wall/budget | trials |",
             "|---|---|---|---|---|---|---|---|---|"]
    wins = n = 0
    for ds, g in frame.groupby("dataset", sort=False):
        s = g.set_index("system")
        if not {"forgeml", "lightgbm", "constant"} <= set(s.index):  # a dataset still being run (resume)
            continue
        task, metric = s.loc["forgeml", "task"], s.loc["forgeml", "metric"]
        higher = HEADLINE[task][1]
        f, lg = s.loc["forgeml"].get("test_score"), s.loc["lightgbm", "test_score"]
        if pd.notna(f):
            n += 1
            wins += int(f > lg if higher else f < lg)
        lines.append(f"| {ds} | {task} | {metric} | {s.loc['constant', 'test_score']:.4f} | {lg:.4f} | "
                     f"{f:.4f} | {s.loc['forgeml', 'fit_wall_s']:.1f} | {s.loc['forgeml', 'wall_over_budget']:.2f} | "
                     f"{s.loc['forgeml'].get('n_trials', '')} |")
    fg = frame[frame.system == "forgeml"]
    lines.append("")
    lines.append(f"forgeml beats default LightGBM on {wins}/{n} datasets; failures: "
                 f"{int(fg['test_score'].isna().sum())}; max wall/budget: {fg['wall_over_budget'].max():.2f}")
    return "\n".join(lines)


def write_reports(frame: pd.DataFrame, outdir: Path, searches: list[str], time_budget: float) -> None:
    from forgeml.bench.strategies import anytime_svg, mean_curves, paired_table, per_dataset_table, strategy_table

    higher = {t: h for t, (_, h) in HEADLINE.items()}
    if len(searches) == 1:
        (outdir / "results.md").write_text(summarize(frame) + "\n")
        return
    # Normalised scores and ranks compare strategies on the same datasets: use only datasets that all have run.
    wanted = {system_name(s, searches) for s in searches} | {"constant"}
    complete = [d for d, g in frame.groupby("dataset", sort=False) if wanted <= set(g.system)]
    frame = frame[frame.dataset.isin(complete)]
    text = (f"Search strategies, {time_budget:g} s per dataset, {len(complete)} datasets with every strategy\n\n"
            + strategy_table(frame, higher) + "\n\n" + paired_table(frame, higher)
            + "\n\nTest score per dataset (best in bold)\n\n"
            + per_dataset_table(frame, higher) + "\n")
    (outdir / "results.md").write_text(text)
    (outdir / "anytime.svg").write_text(anytime_svg(mean_curves(frame, higher),
                                                    f"Best CV score so far (scaled), {time_budget:g} s budget"))


def run_bench(suite: str, out: str, *, time_budget: float = 60.0, seed: int = 0, only: list[str] | None = None,
              search: str = "auto", max_rows: int | None = None, resume: bool = False,
              feature_engineering: bool = True) -> pd.DataFrame:
    """Run the suite; ``search`` may list several strategies (comma-separated) to compare them, each with
    options if wanted: ``"auto,auto(random_fraction=0.3)"``.

    With ``resume``, rows already in ``OUT/results.csv`` are kept and their (dataset, system) pairs are not
    run again, so a long comparison can be spread over several sittings or extended by a strategy.
    ``feature_engineering=False`` (``forgeml bench --no-feature-engineering``) runs forgeml without it, so
    on-vs-off can be compared with two output folders.
    """
    searches = split_searches(search)
    datasets, root = read_suite(suite)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    if resume and (outdir / "results.csv").exists():
        rows = pd.read_csv(outdir / "results.csv").to_dict("records")
    for entry in datasets:
        if only and entry["name"] not in only:
            continue
        if max_rows and entry.get("rows", 0) > max_rows:
            continue
        done = {r["system"] for r in rows if r["dataset"] == entry["name"]}
        if {"constant", "lightgbm"} | {system_name(s, searches) for s in searches} <= done:
            continue
        new = run_one(entry, root, time_budget=time_budget, seed=seed, searches=searches,
                      workdir=outdir / "runs", done=done, feature_engineering=feature_engineering)
        rows.extend(new)
        frame = pd.DataFrame(rows)
        frame.to_csv(outdir / "results.csv", index=False)
        write_reports(frame, outdir, searches, time_budget)
        ref = next(r["test_score"] for r in rows if r["dataset"] == entry["name"] and r["system"] == "lightgbm")
        for r in new:
            if not r["system"].startswith("forgeml"):
                continue
            print(f"{entry['name']}: {r['system']} {r.get('test_score', float('nan')):.4f} (lightgbm {ref:.4f}) "
                  f"in {r['fit_wall_s']:.1f}s" + (f" ERROR {r['error']}" if "error" in r else ""), flush=True)
    frame = pd.DataFrame(rows)
    print((outdir / "results.md").read_text())
    os.makedirs(outdir, exist_ok=True)
    return frame
