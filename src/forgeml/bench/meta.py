"""Learning from experience, measured: the zero-shot portfolio's build and the leave-one-dataset-out evaluation.

Both start from finished runs over a suite (``forgeml bench --out DIR`` keeps one run directory per dataset, on
the same 75/25 split as every benchmark here, so nothing below ever sees a test row):

- ``candidates``: the best configurations of each dataset's run;
- ``score_matrix``: every candidate cross-validated on every dataset's training rows, with the run's own
  machinery (``prepare``, worker processes, a timeout per evaluation);
- ``build_portfolio``: ``meta.portfolio.greedy`` over the normalised matrix, leaving out a dataset if asked;
- ``build_knowledge``: a knowledge base holding each dataset's run (meta-features and every trial);
- ``leave_one_out``: per dataset D, a cold run (hand-written defaults, no knowledge base) against a warm one
  (a portfolio and a knowledge base built without D) at the same budget, scored on D's test rows.

``scripts/build_portfolio.py`` and ``scripts/eval_meta.py`` are the command lines.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgeml.bench.runner import HEADLINE, split, test_score
from forgeml.bench.suite import read_suite
from forgeml.meta import portfolio as pf
from forgeml.trial import TrialSpec, TrialStatus


def load_train_test(entry: dict, root: Path, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.read_parquet(root / entry["file"])
    return split(df, entry["target"], entry["task"], seed)


def _prepared(entry: dict, root: Path, seed: int) -> tuple[Any, Any]:
    """The dataset's training rows prepared exactly as a cold run prepares them (schema, metric, folds, space)."""
    from forgeml.orchestrate.prepare import prepare
    from forgeml.orchestrate.settings import RunSettings

    train, _ = load_train_test(entry, root, seed)
    settings = RunSettings(time_budget=None, max_trials=1, seed=seed, verbose=0, knowledge=None, portfolio=None)
    return settings, prepare(settings, train, entry["target"])


def _completed(trials: pd.DataFrame) -> pd.DataFrame:
    """The completed full-fidelity cross-validation trials, in the order they ended."""
    done = trials[(trials.kind == "cv") & (trials.status == "complete") & (trials.fidelity >= 0.999)]
    return done.sort_values("ended_at")


def _run_dir(runs: Path, name: str, search: str = "auto") -> Path | None:
    """The run directory ``forgeml bench`` made for dataset ``name`` and strategy ``search``."""
    d = Path(runs) / f"{name}-{search}"
    return d if (d / "forgeml.db").exists() else None


def _trials(run_dir: Path) -> list[tuple[dict, Any]]:
    """(config, result) of every completed full-fidelity cross-validation trial of the run's latest run."""
    from forgeml.store.sqlite import Store

    with Store.open(run_dir, create=False) as store:
        run_id = store.latest_run()
        specs = {s.trial_id: s for s in store.trial_specs(run_id)}
        out = []
        for r in store.trial_results(run_id):
            s = specs.get(r.trial_id)
            if (s is not None and s.kind == "cv" and s.fidelity >= 0.999 and r.status == TrialStatus.COMPLETE
                    and r.loss is not None and np.isfinite(r.loss)):
                out.append((dict(s.config), r))
    return out


def candidates(runs: str | Path, datasets: list[dict], per_dataset: int = 1, *, root: Path | None = None,
               seed: int = 0) -> list[dict[str, Any]]:
    """The ``per_dataset`` best configurations (of different families) of each dataset's run in ``runs``; with
    the suite's ``root``, each with its ``cost`` there (the trial's seconds and the training rows' size), which a
    portfolio entry keeps so that a run can leave out what its budget cannot afford (``warmstart.warm_start``)."""
    from forgeml.meta.metafeatures import size

    out = []
    for entry in datasets:
        d = _run_dir(Path(runs), entry["name"])
        if d is None:
            continue
        where: dict[str, float] = {}
        if root is not None:
            _, prep = _prepared(entry, root, seed)
            where = size(prep.X, prep.schema)
        seen: set[str] = set()
        for config, r in sorted(_trials(d), key=lambda t: (t[1].loss, t[1].trial_id)):
            family = str(config.get("family"))
            if family in seen:
                continue
            seen.add(family)
            cand = {"dataset": entry["name"], "family": family, "cv_score": float(r.score), "config": config}
            if where and r.cost is not None:
                cand["cost"] = {"seconds": round(float(r.cost), 3), "log_rows": round(where["log_rows"], 4),
                                "log_features": round(where["log_features"], 4)}
            out.append(cand)
            if len(seen) >= per_dataset:
                break
    return out


def _sourced_trials(entry: dict, root: Path, run_dir: Path, seed: int) -> tuple[Any, list[tuple[dict, Any, bool]]]:
    """The dataset prepared as a cold run prepares it, and its run's trials, each marked True when it is one of the
    families' defaults (the configurations a cold run starts with, matched by id)."""
    from forgeml.meta.warmstart import admissible

    _, prep = _prepared(entry, root, seed)
    ids = {c.id for c in prep.warm}  # knowledge=None, portfolio=None: the warm start is the defaults
    out = []
    for config, r in _trials(run_dir):
        cfg = admissible(prep.space, config)
        out.append((config, r, cfg is not None and cfg.id in ids))
    return prep, out


def default_scores(out: str | Path, datasets: list[dict], root: Path, runs: str | Path, *,
                   seed: int = 0) -> dict[str, float]:
    """Per dataset, the best cross-validated score of the families' defaults in its run: what a run gets there
    without a portfolio, the zero of the portfolio's normalisation (``portfolio.normalise``). Kept in
    ``OUT/defaults.json`` with what it was computed from (the runs' folder, seed and run files' times), and
    computed again when those differ."""
    path = Path(out) / "defaults.json"
    dirs = {e["name"]: d for e in datasets if (d := _run_dir(Path(runs), e["name"])) is not None}
    key = {"runs": str(Path(runs).resolve()), "seed": seed,
           "stamps": {n: (d / "forgeml.db").stat().st_mtime for n, d in dirs.items()}}
    try:
        doc = json.loads(path.read_text())
        if isinstance(doc, dict) and doc.get("key") == key:
            return {k: float(v) for k, v in doc["scores"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # none yet, or unreadable: compute it
    scores: dict[str, float] = {}
    for entry in datasets:
        if entry["name"] not in dirs:
            continue
        _, trials = _sourced_trials(entry, root, dirs[entry["name"]], seed)
        losses = [(r.loss, r.score) for _, r, is_default in trials if is_default]
        if losses:
            scores[entry["name"]] = float(min(losses)[1])
    path.write_text(json.dumps({"key": key, "scores": scores}, indent=1, sort_keys=True) + "\n")
    return scores


def score_matrix(cands: list[dict], datasets: list[dict], root: Path, csv: str | Path, *, seed: int = 0,
                 timeout: float = 30.0) -> pd.DataFrame:
    """Cross-validated score of every candidate (rows) on every dataset (columns); appended to ``csv`` one dataset
    at a time, so an interrupted build resumes where it stopped. A failed or timed-out evaluation is NaN."""
    csv = Path(csv)
    rows: list[dict] = pd.read_csv(csv).to_dict("records") if csv.exists() else []
    done = {r["dataset"] for r in rows}
    for entry in datasets:
        if entry["name"] in done:
            continue
        t0 = time.time()
        scores, higher = _evaluate_all(cands, entry, root, seed=seed, timeout=timeout)
        rows += [{"dataset": entry["name"], "candidate": i, "score": s, "greater_is_better": higher}
                 for i, s in enumerate(scores)]
        pd.DataFrame(rows).to_csv(csv, index=False)
        print(f"{entry['name']}: {np.isfinite(scores).sum()}/{len(cands)} candidates scored in "
              f"{time.time() - t0:.0f} s", flush=True)
    return pd.DataFrame(rows)


def _evaluate_all(cands: list[dict], entry: dict, root: Path, *, seed: int, timeout: float
                  ) -> tuple[list[float], bool]:
    from forgeml.evaluate.evaluator import EvalContext, run_trial, shipped_plugins
    from forgeml.meta.warmstart import admissible
    from forgeml.orchestrate.run import build_executor

    settings, prep = _prepared(entry, root, seed)
    scores = [float("nan")] * len(cands)
    with tempfile.TemporaryDirectory(prefix="forgeml-portfolio-") as tmp:
        ctx = EvalContext(X=prep.X, y=prep.y, folds=prep.folds, schema_json=prep.schema.to_json(),
                          metric=prep.metric.name, run_dir=tmp, plugins=shipped_plugins(prep.metric, prep.families))
        executor = build_executor(settings, prep.n_workers, prep.n_threads)
        try:
            executor.start(run_trial, ctx)
            pending = 0
            for i, c in enumerate(cands):
                cfg = admissible(prep.space, c["config"])
                if cfg is None:
                    continue
                executor.submit(TrialSpec(trial_id=i, config=dict(cfg), seed=seed, timeout=timeout,
                                          n_threads=prep.n_threads))
                pending += 1
            while pending:
                for r in executor.poll(1.0):
                    pending -= 1
                    if r.status == TrialStatus.COMPLETE and r.score is not None:
                        scores[r.trial_id] = float(r.score)
        finally:
            executor.shutdown()
    return scores, bool(prep.metric.greater_is_better)


def wide(matrix: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, bool]]:
    """The long matrix as candidates x datasets, and each dataset's direction."""
    table = matrix.pivot(index="candidate", columns="dataset", values="score").sort_index()
    higher = matrix.groupby("dataset")["greater_is_better"].first().astype(bool).to_dict()
    return table, higher


def build_portfolio(cands: list[dict], matrix: pd.DataFrame, *, size: int = 8, exclude: str | None = None,
                    zero: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """The greedy portfolio over the matrix; ``exclude`` leaves a dataset out entirely: its column and the
    candidates taken from its run. With ``zero`` (``default_scores``) a candidate earns credit on a dataset only
    for beating the defaults there, which every run tries first: the portfolio adds to them."""
    table, higher = wide(matrix)
    if exclude is not None:
        table = table.drop(columns=[exclude], errors="ignore")
        table = table.loc[[i for i in table.index if cands[i]["dataset"] != exclude]]
    norm = pf.normalise(table, higher, zero)
    return [{"config": cands[i]["config"], "from": cands[i]["dataset"], "family": cands[i]["family"],
             "mean_norm": round(m, 4), **({"cost": cands[i]["cost"]} if "cost" in cands[i] else {})}
            for i, m in pf.greedy(norm, size)]


def build_knowledge(path: str | Path, datasets: list[dict], root: Path, runs: str | Path, *, seed: int = 0) -> None:
    """A knowledge base with one run per dataset of ``runs``: its meta-features (of the training rows, exactly as
    a run computes them) and every completed trial."""
    from forgeml.meta.knowledge import DEFAULT_SOURCE, ConfigRecord, KnowledgeBase, RunRecord
    from forgeml.meta.metafeatures import compute
    from forgeml.meta.warmstart import fingerprint, row_sketch, table_signature

    with KnowledgeBase.open(path) as kb:
        for entry in datasets:
            d = _run_dir(Path(runs), entry["name"])
            if d is None:
                continue
            prep, trials = _sourced_trials(entry, root, d, seed)
            sketch = row_sketch(prep.X, prep.y)
            records = [ConfigRecord(c, score=float(r.score), loss=float(r.loss), fit_time=r.cost,
                                    source=DEFAULT_SOURCE if is_default else "bench") for c, r, is_default in trials]
            kb.add_run(RunRecord(entry["name"], fingerprint(sketch, prep.X.columns), prep.metric.name,
                                 bool(prep.metric.greater_is_better), compute(prep.X, prep.y, prep.schema, seed=seed),
                                 records, time_budget=None, forgeml_version="bench", row_sketch=sketch,
                                 columns=table_signature(prep.X.columns)))


def without(kb_path: Path, dataset: str, out: Path) -> Path:
    """A copy of the knowledge base without ``dataset``'s runs."""
    shutil.copyfile(kb_path, out)
    conn = sqlite3.connect(out)
    try:
        with conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE dataset = ?", (dataset,))]
            conn.executemany("DELETE FROM configs WHERE run_id = ?", [(i,) for i in ids])
            conn.execute("DELETE FROM runs WHERE dataset = ?", (dataset,))
    finally:
        conn.close()
    return out


def leave_one_out(suite: str | Path, runs: str | Path, out: str | Path, *, time_budget: float = 30.0,
                  seeds: tuple[int, ...] = (0,), size: int = 8, only: list[str] | None = None,
                  fit_options: dict[str, Any] | None = None) -> pd.DataFrame:
    """Cold against warm on each dataset, the warm run's portfolio and knowledge base built without it, once per
    seed in ``seeds`` (each its own 75/25 split and run seed: one split's noise is the size of most differences).
    Needs ``OUT/candidates.json``, ``OUT/matrix.csv`` (``scripts/build_portfolio.py --out OUT``) and builds
    ``OUT/knowledge.db`` and ``OUT/defaults.json`` from the seed-0 runs in ``runs``; writes ``OUT/loo.csv`` row
    by row (rerunning skips the (dataset, seed) pairs it holds). ``fit_options`` go to both arms' ``AutoML``
    (tests use them to make runs small)."""
    from forgeml import AutoML

    datasets, root = read_suite(suite)
    out = Path(out)
    cands = json.loads((out / "candidates.json").read_text())
    matrix = pd.read_csv(out / "matrix.csv")
    zero = default_scores(out, datasets, root, runs)
    kb_all = out / "knowledge.db"
    if kb_all.exists() and not _marks_defaults(kb_all):  # built before sources were recorded: build it again
        kb_all.unlink()
    if not kb_all.exists():
        build_knowledge(kb_all, datasets, root, runs)
    csv = out / "loo.csv"
    rows: list[dict] = _with_seed(pd.read_csv(csv)).to_dict("records") if csv.exists() else []
    done = {(r["dataset"], int(r["seed"])) for r in rows}
    work = out / "loo"
    work.mkdir(exist_ok=True)
    for seed in seeds:
        for entry in datasets:
            name, task = entry["name"], entry["task"]
            if (only and name not in only) or (name, seed) in done:
                continue
            train, test = load_train_test(entry, root, seed)
            portfolio = build_portfolio(cands, matrix, size=size, exclude=name, zero=zero)
            pf_path = work / f"portfolio-without-{name}.json"  # as a file: its entries' costs are used too
            pf.write(pf_path, portfolio, built_from=[])
            kb = without(kb_all, name, work / f"knowledge-without-{name}.db")
            row: dict[str, Any] = {"dataset": name, "seed": seed, "task": task, "metric": HEADLINE[task][0]}
            for arm, options in (("cold", {"knowledge": None, "portfolio": None}),
                                 ("warm", {"knowledge": str(kb), "portfolio": str(pf_path)})):
                t0 = time.time()
                m = AutoML(**{"time_budget": time_budget, "seed": seed, "verbose": 0,
                              "path": str(work / f"{name}-{arm}"), "overwrite": True, **options, **(fit_options or {})})
                m.fit(train, target=entry["target"])
                row[f"{arm}_wall_s"] = time.time() - t0
                X = test.drop(columns=[entry["target"]])
                if task == "regression":
                    row[arm] = test_score(task, test[entry["target"]], m.predict(X), None, None)
                else:
                    p = m.predict_proba(X)
                    row[arm] = test_score(task, test[entry["target"]], None, p.to_numpy(), list(p.columns))
                lb = m.leaderboard()
                cv = next(c for c in lb.columns if c.startswith("cv_"))
                row[f"{arm}_cv"] = float(lb.loc[lb["chosen"], cv].iloc[0]) if lb["chosen"].any() else np.nan
                row[f"{arm}_best_source"] = _best_source(lb)
            rows.append(row)
            pd.DataFrame(rows).to_csv(csv, index=False)
            print(f"{name} seed {seed}: cold {row['cold']:.4f} warm {row['warm']:.4f}", flush=True)
    frame = pd.DataFrame(rows)
    (out / "loo.md").write_text(summarize_loo(frame) + "\n")
    return frame


def _marks_defaults(kb_path: Path) -> bool:
    """Whether a knowledge base built by ``build_knowledge`` recorded which trials were defaults."""
    conn = sqlite3.connect(kb_path)
    try:
        return conn.execute("SELECT 1 FROM configs WHERE source = 'default' LIMIT 1").fetchone() is not None
    finally:
        conn.close()


def _with_seed(frame: pd.DataFrame) -> pd.DataFrame:
    """A leave-one-out table with its ``seed`` column as ints: files written before seeds were seed 0."""
    seed = frame["seed"] if "seed" in frame else pd.Series(0, index=frame.index)
    return frame.assign(seed=seed.fillna(0).astype(int))


def _best_source(lb: pd.DataFrame) -> str:
    """Where the best single pipeline came from (the leaderboard is sorted best first)."""
    single = lb[lb["source"].isin(["neighbour", "portfolio", "default", "optimizer"])]
    return str(single["source"].iloc[0]) if len(single) else ""


def summarize_loo(frame: pd.DataFrame) -> str:
    """The table for docs/meta.md: per dataset cold and warm (the mean over seeds when there are several), who
    wins; then wins and the mean relative change of the error (1 - AUC, log loss, RMSE), positive when warm is
    better; with several seeds also the wins counted seed by seed."""
    if frame.empty:
        return "no dataset evaluated yet"
    frame = _with_seed(frame)
    seeds = sorted(frame["seed"].unique())

    def error(task: str, value: float) -> float:
        return 1 - value if HEADLINE[task][1] else value

    def verdict(err_c: float, err_w: float) -> str:
        return "warm" if err_w < err_c - 1e-9 else "cold" if err_c < err_w - 1e-9 else "tie"

    per_seed = [verdict(error(r.task, r.cold), error(r.task, r.warm)) for r in frame.itertuples()]
    grouped = frame.groupby("dataset", sort=False).agg(
        task=("task", "first"), metric=("metric", "first"), cold=("cold", "mean"), warm=("warm", "mean"),
        n=("seed", "count"), source=("warm_best_source", lambda v: "/".join(str(x) for x in v)))
    many = len(seeds) > 1
    head = "| dataset | metric | cold | warm | warm's best from | better |" + (" seeds |" if many else "")
    lines = [head, "|---" * (7 if many else 6) + "|"]
    wins = ties = 0
    gains = []
    for name, r in grouped.iterrows():
        err_c, err_w = error(r.task, r.cold), error(r.task, r.warm)
        gains.append((err_c - err_w) / err_c if err_c > 0 else 0.0)
        better = verdict(err_c, err_w)
        wins += better == "warm"
        ties += better == "tie"
        lines.append(f"| {name} | {r.metric} | {r.cold:.4f} | {r.warm:.4f} | {r.source} | {better} |"
                     + (f" {r.n} |" if many else ""))
    n = len(grouped)
    lines += ["", f"warm better on {wins}/{n} datasets ({wins / max(n, 1):.0%}), tied on {ties}; mean relative "
              f"error change {np.mean(gains) if gains else 0:+.2%} (positive: warm has the lower error)"]
    if many:
        lines[-1] += " (cold and warm: the means over each dataset's seeds)"
        lines.append(f"seed by seed: warm better on {per_seed.count('warm')}/{len(per_seed)} runs, tied on "
                     f"{per_seed.count('tie')} (seeds {', '.join(str(s) for s in seeds)})")
    return "\n".join(lines)


def reached_at(trials: pd.DataFrame, start: float, target: float, higher: bool) -> float | None:
    """Seconds from ``start`` until a completed full-fidelity trial first scored ``target`` or better."""
    done = _completed(trials)
    ok = done[done["score"] >= target - 1e-12] if higher else done[done["score"] <= target + 1e-12]
    return float(ok["ended_at"].min() - start) if len(ok) else None


def anytime(curve: Sequence[Sequence[float]], at: Sequence[float]) -> list[float | None]:
    """A best-so-far curve (``(seconds, score)`` pairs in time order, as ``second_run`` writes them) read at each
    time in ``at``: the last score at or before it, None before the first trial ended."""
    out: list[float | None] = []
    for t in at:
        seen = [score for s, score in curve if s <= t + 1e-9]
        out.append(float(seen[-1]) if seen else None)
    return out


def second_run(entry: dict, root: Path, out: str | Path, *, time_budget: float = 30.0, seed: int = 0,
               fit_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """A knowledge base learns one half of a dataset's training rows (the first run); on the other half (similar
    data, no row in common) a cold run and a run with that knowledge base (the second run) are compared: when
    each reaches the cold run's final best CV score, and their best-so-far curves."""
    from sklearn.model_selection import train_test_split

    from forgeml import AutoML
    from forgeml.bench.strategies import GRID

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train, _ = load_train_test(entry, root, seed)
    strat = train[entry["target"]] if entry["task"] != "regression" else None
    first_half, second_half = train_test_split(train, test_size=0.5, random_state=seed, stratify=strat)
    kb = out / f"{entry['name']}-knowledge.db"
    kb.unlink(missing_ok=True)
    base = {"time_budget": time_budget, "seed": seed, "verbose": 0, "portfolio": None, **(fit_options or {})}
    curves, ends, starts, models = {}, {}, {}, {}
    for arm, data, knowledge in (("first", first_half, kb), ("cold", second_half, None),
                                 ("second", second_half, kb)):
        starts[arm] = time.time()
        models[arm] = AutoML(knowledge=str(knowledge) if knowledge else None, **base).fit(
            data, target=entry["target"])
        ends[arm] = time.time() - starts[arm]
    higher = bool(models["cold"].metric_.greater_is_better)
    trials = {arm: m.trials() for arm, m in models.items()}  # each read from its store once
    for arm in models:
        done = _completed(trials[arm])
        best = done["score"].cummax() if higher else done["score"].cummin()
        curves[arm] = [(float(e - starts[arm]), float(s)) for e, s in zip(done["ended_at"], best)]
    if not curves["cold"]:
        raise RuntimeError(f"{entry['name']}: the cold run completed no trial in {time_budget} s; give more time")
    target = curves["cold"][-1][1]
    row = {"dataset": entry["name"], "metric": models["cold"].metric_.name, "time_budget": time_budget,
           "cold_final": target, "second_final": curves["second"][-1][1] if curves["second"] else None,
           "first_final": curves["first"][-1][1] if curves["first"] else None,
           "cold_reached_s": reached_at(trials["cold"], starts["cold"], target, higher),
           "second_reached_s": reached_at(trials["second"], starts["second"], target, higher),
           "second_sources": sorted(set(models["second"].leaderboard()["source"])), "grid": list(GRID)}
    # one standard error of the cold run's best trial (over its folds): how far apart two runs' finals may be by
    # the folds' noise alone; "reached" within it is the one-standard-error reading of the same question
    cold_done = _completed(trials["cold"])
    best_row = cold_done.loc[cold_done["score"].idxmax() if higher else cold_done["score"].idxmin()]
    folds = [float(v) for v in best_row["fold_scores"] if v is not None and np.isfinite(v)]
    se = float(np.std(folds, ddof=1) / np.sqrt(len(folds))) if len(folds) > 1 else 0.0
    near = target - se if higher else target + se
    row.update(cold_se=se, cold_reached_1se_s=reached_at(trials["cold"], starts["cold"], near, higher),
               second_reached_1se_s=reached_at(trials["second"], starts["second"], near, higher))
    if row["first_final"] is not None:  # the literal reading: the first run's final, on the other half
        row.update(first_reached_s=reached_at(trials["first"], starts["first"], row["first_final"], higher),
                   second_reached_first_s=reached_at(trials["second"], starts["second"],
                                                     row["first_final"], higher))
    row["curves"] = curves
    (out / f"{entry['name']}-second-run.json").write_text(json.dumps(row, indent=1))
    return row
