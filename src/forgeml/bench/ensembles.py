"""``forgeml bench-ensembles``: every ensemble method against the single best pipeline, on held-out test rows.

One search per dataset (``AutoML(ensemble="auto")`` at the given budget, the split of ``forgeml bench``) gives
the trials; every method the run compared (``single``, ``voting``, ``greedy``, ``super_learner``, ``blending``,
``stacking``) is then built from the same trials: its ensemble as fitted on the out-of-fold rows, its members
refit on all training rows (members the run already refit are reused), and scored on the test rows. ``auto`` is
the model the run returned. Comparing the methods on one search isolates the combiner from the luck of the
search; the extra refits are outside the budget, which only flatters the fixed methods that ``auto`` did not pick.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forgeml.bench.runner import HEADLINE, reference, split, test_score
from forgeml.bench.suite import read_suite

METHODS = ("single", "voting", "greedy", "super_learner", "blending", "stacking")


def run_one(entry: dict, root: Path, *, time_budget: float, seed: int, workdir: Path) -> list[dict]:
    """One row per method (and ``auto`` and ``constant``) on one dataset."""
    from forgeml import AutoML

    df = pd.read_parquet(root / entry["file"])
    target, task = entry["target"], entry["task"]
    train, test = split(df, target, task, seed)
    metric, _ = HEADLINE[task]
    base = {"dataset": entry["name"], "task": task, "metric": metric}
    pred, proba, classes, _ = reference("constant", train, test, target, task, seed)
    rows = [{**base, "method": "constant", "test_score": test_score(task, test[target], pred, proba, classes)}]
    t0 = time.time()
    model = AutoML(time_budget=time_budget, seed=seed, verbose=0, path=str(workdir / entry["name"]), overwrite=True,
                   knowledge=None, portfolio=None)  # cold: no past runs, no portfolio built on this suite
    model.fit(train, target=target)
    wall = time.time() - t0
    Xte = test.drop(columns=[target])
    out = _output(model.best_pipeline_, Xte, task)
    auto = {**base, "method": "auto", "chosen": _chosen(model), "fit_wall_s": wall,
            "test_score": _score_output(out, test[target], task, model.best_pipeline_)}
    rows.append(auto)
    rebuild = _Rebuild(model, train, target, seed)
    for cand in getattr(model, "_ensemble_candidates", []):
        row = {**base, "method": cand.name, "nested_cv": cand.nested_score, "chosen": cand.name == _chosen(model),
               "beats_single": cand.p_better}
        if cand.ok:
            try:
                pipe = rebuild.pipeline(cand.ensemble)
                mine = _output(pipe, Xte, task)
                row["test_score"] = _score_output(mine, test[target], task, pipe)
                row["n_members"] = len(pipe.members)
                if cand.name == "single":
                    auto["p_worse"] = p_worse(out, mine, test[target], task, pipe, seed)
            except Exception as exc:  # noqa: BLE001 - a failure is a result too
                row["error"] = f"{type(exc).__name__}: {exc}"[:300]
        else:
            row["error"] = cand.error
        rows.append(row)
    return rows


def _chosen(model) -> str:
    board = model.leaderboard_
    kept = board[board["chosen"].astype(bool) & (board["family"] == "ensemble")]
    return kept["pipeline"].iloc[0].split(":", 1)[1].split(" ")[0].split("(")[0] if len(kept) else "single"


def _output(pipe, X: pd.DataFrame, task: str) -> np.ndarray:
    return np.asarray(pipe.predict(X) if task == "regression" else pipe.predict_proba(X))


def _score_output(out: np.ndarray, y: pd.Series, task: str, pipe) -> float:
    if task == "regression":
        return test_score(task, y, out, None, None)
    return test_score(task, y, None, out, list(pipe.classes_))


def p_worse(auto: np.ndarray, single: np.ndarray, y: pd.Series, task: str, pipe, seed: int, n_boot: int = 500
            ) -> float:
    """Share of bootstrap resamples of the test rows on which ``auto`` scores worse than ``single`` (paired):
    near 0.5 the difference is test-set noise, near 1 it is a real loss."""
    higher = HEADLINE[task][1]
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    worse = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        try:
            a = _score_output(auto[i], pd.Series(y[i]), task, pipe)
            b = _score_output(single[i], pd.Series(y[i]), task, pipe)
        except ValueError:  # one class only in the resample
            continue
        worse.append(a < b if higher else a > b)
    return float(np.mean(worse)) if worse else float("nan")


class _Rebuild:
    """Members refit on all training rows, as the run would (cached across methods)."""

    def __init__(self, model, train: pd.DataFrame, target: str, seed: int) -> None:
        self.model, self.seed = model, seed
        from forgeml.pipeline.bagged import BaggedPipeline

        fitted = model.best_pipeline_  # its members refit on all rows are reused; fold models are not
        self.models = {k: m for k, m in zip(fitted.member_ids or (), fitted.members)
                       if not isinstance(m, BaggedPipeline)}
        self.configs = {int(r.trial_id): r.config for r in model.trials().itertuples() if r.kind == "cv"}
        self.train, self.target = train, target
        self._ctx = None

    def ctx(self):
        if self._ctx is None:
            from forgeml.evaluate.evaluator import EvalContext, shipped_plugins
            from forgeml.orchestrate.prepare import prepare

            prep = prepare(self.model._settings(), self.train, self.target)
            self._ctx = EvalContext(X=prep.X, y=prep.y, folds=prep.folds, schema_json=prep.schema.to_json(),
                                    metric=prep.metric.name, run_dir=self.model.run_dir_ or ".",
                                    plugins=shipped_plugins(prep.metric, prep.families))
        return self._ctx

    def pipeline(self, ens):
        from forgeml.evaluate.refit import refit_in_process
        from forgeml.pipeline.fitted import FittedPipeline
        from forgeml.space import Config

        members = sorted(ens.members)
        for k in members:
            if k not in self.models:
                self.models[k], _ = refit_in_process(Config(self.configs[k]), self.ctx(), self.seed,
                                                     os.cpu_count() or 1)
        total = sum(ens.weights.get(k, 0.0) for k in members) or 1.0
        return FittedPipeline(self.model.best_pipeline_.schema, [self.models[k] for k in members],
                              [ens.weights.get(k, 0.0) / total for k in members], combiner=ens.combiner,
                              member_ids=members)


def _over_splits(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset and method: the mean test score over the splits (seeds) on which the dataset's single
    best pipeline was scored. A method missing on any of them gets no score, so every mean is over the same
    splits; ``p_worse`` becomes the mean of the splits' shares."""
    if "seed" not in frame or frame["seed"].nunique(dropna=False) <= 1:
        return frame
    rows = []
    for _ds, g in frame.groupby("dataset", sort=False):
        single = g[(g["method"] == "single")].dropna(subset=["test_score"]) if "test_score" in g else g.iloc[:0]
        seeds = set(single["seed"]) or set(g["seed"])  # a split that failed as a whole is not held against anyone
        for method, m in g[g["seed"].isin(seeds)].groupby("method", sort=False):
            scored = m.dropna(subset=["test_score"]) if "test_score" in m else m.iloc[:0]
            row = {**m.iloc[0].to_dict(), "n_splits": len(seeds),
                   "test_score": scored["test_score"].mean() if set(scored["seed"]) == seeds else np.nan}
            if "chosen" in m and method == "auto":
                row["chosen"] = "/".join(str(c) for c in m.sort_values("seed")["chosen"])
            if "p_worse" in m:
                row["p_worse"] = m["p_worse"].mean()
            rows.append(row)
    return pd.DataFrame(rows)


def _at_least(auto: pd.Series, single: pd.Series, higher: np.ndarray) -> np.ndarray:
    """auto at least as good as single, within a relative 1e-4 (a tie)."""
    tol = 1e-4 * np.maximum(single.abs(), 1.0)
    return np.where(higher, auto >= single - tol, auto <= single + tol)


def _auto_against_single(frame: pd.DataFrame) -> list[str]:
    """auto against the single best on every dataset that has both (whatever else is missing), per split and on
    the mean over splits: with a few hundred test rows, one split's difference is mostly noise."""
    if "seed" not in frame or "test_score" not in frame or not {"auto", "single"} <= set(frame["method"]):
        return []
    both = frame[frame["method"].isin(["auto", "single"])].pivot_table(
        index=["dataset", "seed"], columns="method", values="test_score", aggfunc="first"
    ).reindex(columns=["auto", "single"]).dropna()
    if both.empty:
        return []
    task = frame.drop_duplicates("dataset").set_index("dataset")["task"]
    higher = both.index.get_level_values("dataset").map(lambda d: HEADLINE[task[d]][1]).to_numpy(bool)
    both = both.assign(ok=_at_least(both["auto"], both["single"], higher))
    per_seed = both.groupby(level="seed")["ok"].agg(["sum", "count"])
    lines = ["", "auto at least as good as the single best, per split: "
             + ", ".join(f"seed {s}: {int(r['sum'])}/{int(r['count'])}" for s, r in per_seed.iterrows())]
    seeds = both.groupby(level="dataset").size()
    if seeds.max() > 1:
        full = seeds[seeds == seeds.max()].index
        mean = both.loc[list(full)].groupby(level="dataset").agg(auto=("auto", "mean"), single=("single", "mean"),
                                                                 wins=("ok", "sum"))
        hi = mean.index.map(lambda d: HEADLINE[task[d]][1]).to_numpy(bool)
        good = _at_least(mean["auto"], mean["single"], hi)
        lost = ", ".join(f"{d} ({int(w)} of {seeds.max()} splits)" for d, w, g in
                         zip(mean.index, mean["wins"], good) if not g)
        nonzero = mean["single"] != 0
        gain = (np.where(hi, 1, -1) * (mean["auto"] - mean["single"]))[nonzero] / mean["single"].abs()[nonzero]
        lines.append(f"on the mean over {seeds.max()} splits: {int(good.sum())}/{len(mean)}"
                     + (f"; worse on {lost}" if lost else "")
                     + f"; relative gain of auto over single: median {100 * np.median(gain):+.2f}%, "
                       f"mean {100 * np.mean(gain):+.2f}%")
    return lines


def summarize(frame: pd.DataFrame) -> str:
    """Per method: mean normalised test score (0 = constant predictor, 1 = best method on the dataset), mean rank,
    and on how many datasets it is at least as good as the single best pipeline; then the scores per dataset.
    With several splits (a ``seed`` column), every score is the mean over them."""
    lines_after = _auto_against_single(frame)
    frame = _over_splits(frame)
    methods = [m for m in ("auto", *METHODS) if m in set(frame["method"])]
    if "single" not in methods:
        return "no dataset has the single best pipeline's row"
    per = []
    for ds, g in frame.groupby("dataset", sort=False):
        s = g.set_index("method")["test_score"]
        higher = HEADLINE[g["task"].iloc[0]][1]
        scores = s.reindex(methods)
        if scores[[m for m in ("auto", "single") if m in methods]].isna().any():
            continue  # a method missing here is left out of this dataset's norm and rank, not the dataset
        have = scores.dropna()
        best, const = (have.max(), have.min()) if higher else (have.min(), have.max())
        const = s.get("constant", const)
        span = (best - const) if higher else (const - best)
        norm = ((scores - const) if higher else (const - scores)) / span if span else scores * 0 + 1
        rank = (-scores if higher else scores).rank(method="average")
        single = pd.Series(s["single"], index=scores.index)
        ok = pd.Series(_at_least(scores, single, np.full(len(scores), higher)), index=scores.index)
        auto = g[g["method"] == "auto"].iloc[0] if "auto" in methods else {}
        per.append((ds, g["metric"].iloc[0], scores, norm, rank, ok, auto.get("chosen", ""),
                    auto.get("p_worse", float("nan"))))
    if not per:
        return "no dataset has both auto and the single best pipeline"
    lines = [f"{len(per)} datasets (a method not scored on a dataset is left out of that dataset's norm and rank)\n",
             "| method | scored on | mean norm | mean rank | ≥ single best |", "|---|---|---|---|---|"]
    for m in methods:
        got = [p for p in per if not np.isnan(p[2][m])]
        if not got:
            lines.append(f"| {m} | 0/{len(per)} | — | — | — |")
            continue
        lines.append(f"| {m} | {len(got)}/{len(per)} | {np.mean([p[3][m] for p in got]):.4f} | "
                     f"{np.mean([p[4][m] for p in got]):.2f} | {sum(bool(p[5][m]) for p in got)}/{len(got)} |")
    if "auto" in methods:
        lost = [(p[0], p[7]) for p in per if not p[5]["auto"]]
        real = [ds for ds, pw in lost if pw >= 0.95]
        lines += ["", f"auto is worse than the single best on {len(lost)} of {len(per)} datasets"
                  + (": " + ", ".join(ds + (f" (worse on {pw:.0%} of test resamples)" if pw == pw else "")
                                      for ds, pw in lost) if lost else "")
                  + f"; beyond test-set noise (worse on at least 95% of 500 paired bootstrap resamples of the test "
                    f"rows) on {len(real)}" + (f": {', '.join(real)}" if real else "")]
        lines += _auto_against_methods(per, [m for m in methods if m != "auto"])
    lines += lines_after
    lines += ["", "| dataset | metric | auto chose | " + " | ".join(methods) + " |",
              "|---|---|---|" + "---|" * len(methods)]
    for ds, metric, scores, _, rank, _, chosen, _ in per:
        cells = ["—" if np.isnan(scores[m]) else f"**{scores[m]:.4f}**" if rank[m] == rank.min()
                 else f"{scores[m]:.4f}" for m in methods]
        lines.append(f"| {ds} | {metric} | {chosen} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _auto_against_methods(per: list, others: list[str], n_boot: int = 2000) -> list[str]:
    """auto's mean normalised score minus each method's, over the datasets both were scored on, with a 95 %
    bootstrap interval over those datasets: an interval that holds 0 is a difference the suite cannot tell."""
    lines = ["", "auto against each method (mean norm difference, 95% bootstrap interval over datasets): "]
    parts = []
    for m in others:
        diff = np.array([p[3]["auto"] - p[3][m] for p in per if not np.isnan(p[2][m])])
        if len(diff) == 0:
            continue
        rng = np.random.default_rng(0)
        boot = diff[rng.integers(0, len(diff), (n_boot, len(diff)))].mean(axis=1)
        lo, hi = np.quantile(boot, [0.025, 0.975])
        parts.append(f"{m} {diff.mean():+.4f} [{lo:+.4f}, {hi:+.4f}] on {len(diff)}")
    return [lines[0], lines[1] + "; ".join(parts)] if parts else []


def run_bench_ensembles(suite: str, out: str, *, time_budget: float = 60.0, seed: int = 0,
                        only: list[str] | None = None, max_rows: int | None = None, resume: bool = False,
                        seeds: list[int] | None = None) -> pd.DataFrame:
    """Run the suite (a manifest.json or its folder); writes ``OUT/ensembles.csv`` and ``OUT/ensembles.md``.
    ``seeds``: one run per seed and dataset, each on its own 75/25 split (default: ``[seed]``); the summary
    compares the methods on the mean over the splits."""
    datasets, root = read_suite(suite)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    csv = outdir / "ensembles.csv"
    rows: list[dict] = pd.read_csv(csv).to_dict("records") if resume and csv.exists() else []
    for row in rows:  # a file from before splits were recorded holds one split: the one --seed names
        if pd.isna(row.get("seed", np.nan)):
            row["seed"] = seed
    for s in seeds if seeds else [seed]:
        for entry in datasets:
            if (only and entry["name"] not in only) or (max_rows and entry.get("rows", 0) > max_rows):
                continue
            if any(r["dataset"] == entry["name"] and int(r["seed"]) == s for r in rows):
                continue
            try:
                new = run_one(entry, root, time_budget=time_budget, seed=s, workdir=outdir / "runs")
            except Exception as exc:  # noqa: BLE001 - one broken dataset does not end the benchmark
                new = [{"dataset": entry["name"], "task": entry["task"], "method": "auto",
                        "error": f"{type(exc).__name__}: {exc}"[:300]}]
            rows.extend({**r, "seed": s} for r in new)
            frame = pd.DataFrame(rows)
            frame.to_csv(csv, index=False)
            (outdir / "ensembles.md").write_text(summarize(frame) + "\n")
            auto = next((r for r in new if r["method"] == "auto"), {})
            print(f"{entry['name']} (seed {s}): auto chose {auto.get('chosen')} -> "
                  f"{auto.get('test_score', float('nan')):.4f} in {auto.get('fit_wall_s', float('nan')):.1f}s",
                  flush=True)
    frame = pd.DataFrame(rows)
    print(summarize(frame))
    return frame
