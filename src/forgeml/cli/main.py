"""The ``forgeml`` command: thin wrappers over the public API and the store.

Every ``ForgeMLError`` is printed as one line (``error: ...``) with exit code 2, never as a traceback. A reader
that closes the pipe early (``forgeml predict ... | head``) ends the command quietly, with exit code 0.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from forgeml.errors import ConfigError, ForgeMLError

DEMO_DATASETS = ("breast_cancer", "wine", "diabetes")


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-budget", type=float, default=60.0, help="seconds for the whole fit (default 60)")
    p.add_argument("--max-trials", type=int, default=None, help="stop after N trials (reproducible runs)")
    p.add_argument("--metric", default="auto",
                   help="metric to optimise: auto (ROC AUC binary, log loss multiclass, RMSE regression) or a name")
    p.add_argument("--task", default="auto", choices=["auto", "binary", "multiclass", "regression",
                                                      "classification"],
                   help="the task (default: inferred from the target)")
    p.add_argument("--search", default="auto", help="search strategy (see `forgeml strategies`)")
    p.add_argument("--search-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the search strategy, e.g. levels=2 or allow_partial=true (repeatable)")
    p.add_argument("--families", default=None, help="comma-separated model families (default: all)")
    p.add_argument("--n-jobs", type=int, default=-1, help="parallel trials (-1, the default: one per core)")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    from forgeml.execute import EXECUTORS

    p.add_argument("--backend", default="local", choices=EXECUTORS.names(),
                   help="where trials run: 'local' worker processes, 'ray' (see --ray-address) or a registered "
                        "executor plug-in (default local)")
    p.add_argument("--ray-address", default=None, help="address of an existing Ray cluster (with --backend ray)")
    from forgeml.ensemble import ENSEMBLERS

    ens = p.add_mutually_exclusive_group()
    ens.add_argument("--ensemble", default=None, choices=["auto", *ENSEMBLERS.names(), "none"],
                     help="how to combine the best pipelines: auto (the default) keeps the method with the best "
                          "nested out-of-fold score; none keeps the single best pipeline")
    ens.add_argument("--no-ensemble", action="store_true", help="keep the single best pipeline (= --ensemble none)")
    p.add_argument("--refit", default="auto", choices=["auto", "full", "bag"],
                   help="members of the kept ensemble: refit on all rows when time allows, else use their fold "
                        "models (auto, the default); always refit (full); or always use the fold models (bag)")
    p.add_argument("--infer-limit", type=float, default=None, metavar="SECONDS",
                   help="the most seconds per row the model may take to predict (measured on a 10,000-row batch); "
                        "the best ensemble within it is kept")
    p.add_argument("--ensemble-prune", type=float, default=0.0, metavar="SHARE",
                   help="drop ensemble members that cost more to predict with than they add, giving up at most this "
                        "share of the ensemble's out-of-fold gain over its best member (e.g. 0.1; default 0: keep all)")
    p.add_argument("--on-bad-value", default="raise", choices=["raise", "nan"],
                   help="a value that cannot be read as its column's type: raise an error (default) or read it "
                        "as missing, with a warning")
    p.add_argument("--no-feature-engineering", dest="feature_engineering", action="store_false",
                   help="search today's preprocessing only: no generated features, skew or target transforms")
    p.add_argument("--nas", action="store_true",
                   help="search a neural network architecture first (a quarter of the budget) and add the found "
                        "network to the model families")
    p.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress (default), 2 also plain lines")
    kb = p.add_mutually_exclusive_group()
    kb.add_argument("--knowledge", default="auto", metavar="PATH",
                    help="the knowledge base to learn from and add to (default: the user's own, see "
                         "`forgeml knowledge`)")
    kb.add_argument("--no-knowledge", action="store_true", help="run without a knowledge base")
    pf = p.add_mutually_exclusive_group()
    pf.add_argument("--portfolio", default="auto", metavar="PATH",
                    help="the configurations to try first (default: the portfolio shipped with forgeml)")
    pf.add_argument("--no-portfolio", action="store_true", help="start from the families' defaults only")


def _automl(a: argparse.Namespace, path: str | None, resume: bool = False, overwrite: bool = False):
    from forgeml import AutoML

    families = [f.strip() for f in a.families.split(",")] if a.families else None
    return AutoML(time_budget=a.time_budget, max_trials=a.max_trials, metric=a.metric, task=a.task,
                  search=a.search, search_options=_options(a.search_option), families=families,
                  n_jobs=a.n_jobs, seed=a.seed, backend=a.backend,
                  ray_address=a.ray_address, ensemble=_ensemble(a), verbose=a.verbose, path=path,
                  resume=resume, overwrite=overwrite, on_bad_value=a.on_bad_value, infer_limit=a.infer_limit,
                  ensemble_prune=a.ensemble_prune, refit=a.refit, knowledge=None if a.no_knowledge else a.knowledge,
                  portfolio=None if a.no_portfolio else a.portfolio,
                  feature_engineering=getattr(a, "feature_engineering", True), nas=getattr(a, "nas", False))


def _ensemble(a: argparse.Namespace) -> bool | str | None:
    """``AutoML(ensemble=...)`` from ``--ensemble NAME`` / ``--no-ensemble``: None for none, "auto" by default."""
    if a.no_ensemble or a.ensemble == "none":
        return None
    return a.ensemble or "auto"


def _options(pairs: list[str]) -> dict:
    from forgeml.search import option_value

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--search-option takes KEY=VALUE, got {pair!r}")
        out[key] = option_value(value)
    return out


def _print_frame(frame, max_rows: int = 30) -> None:
    import pandas as pd

    with pd.option_context("display.max_rows", max_rows, "display.width", 160, "display.max_colwidth", 70,
                           "display.float_format", "{:.5g}".format):
        print(frame.to_string(index=False) if len(frame) else "(empty)")


def cmd_demo(a: argparse.Namespace) -> int:
    from sklearn import datasets

    from forgeml import AutoML

    loader = {"breast_cancer": datasets.load_breast_cancer, "wine": datasets.load_wine,
              "diabetes": datasets.load_diabetes}[a.dataset]
    df = loader(as_frame=True).frame
    from sklearn.model_selection import train_test_split

    task_is_reg = a.dataset == "diabetes"
    train, test = train_test_split(df, test_size=0.25, random_state=0,
                                   stratify=None if task_is_reg else df["target"])
    print(f"forgeml demo: {a.dataset} ({len(train)} training rows, {df.shape[1] - 1} features), "
          f"{a.time_budget:.0f}s budget")
    automl = AutoML(time_budget=a.time_budget, seed=a.seed, verbose=a.verbose, path=a.out, overwrite=a.overwrite)
    automl.fit(train, target="target")
    print("\nLeaderboard (cross-validated on the training rows):")
    _print_frame(automl.leaderboard().head(10))
    print(f"\nHeld-out {automl.metric_.name}: {automl.score(test.drop(columns='target'), test['target']):.5g}"
          f"   fit took {automl.fit_seconds_:.1f}s, {automl.n_trials_} trials")
    print(f"Final model: {automl.best_pipeline_}")
    if a.out:
        print(f"Saved to {a.out}: try `forgeml leaderboard {a.out}`")
    return 0


def cmd_fit(a: argparse.Namespace) -> int:
    automl = _automl(a, a.out, resume=a.resume, overwrite=a.overwrite)
    automl.fit(a.data, target=a.target, sample_weight=a.sample_weight)
    if a.verbose:
        _print_frame(automl.leaderboard().head(15))
        print(f"saved to {a.out} ({automl.n_trials_} trials, {automl.fit_seconds_:.1f}s)")
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    import pandas as pd

    from forgeml import load
    from forgeml.data.load import read_table

    model = load(a.model)
    if a.proba and model.task_ == "regression":
        raise ConfigError(f"--proba needs a classification model, but {a.model} is a regression model; "
                          "drop --proba to get its predictions")
    if a.on_bad_value is not None:
        model.set_params(on_bad_value=a.on_bad_value)
    X = read_table(a.data)
    if a.proba:
        out = model.predict_proba(X)
        out = pd.DataFrame(out, columns=[str(c) for c in model.classes_]) if not isinstance(out, pd.DataFrame) \
            else out
    else:
        out = pd.DataFrame({model.schema_.target: model.predict(X)})
    if a.out:
        out.to_csv(a.out, index=False)
        print(f"wrote {len(out)} predictions to {a.out}")
    else:
        out.to_csv(sys.stdout, index=False)
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from forgeml import load
    from forgeml.data.load import read_table
    from forgeml.export import to_onnx

    model = load(a.model)
    sample = read_table(a.data) if a.data else None
    if sample is not None and model.schema_.target in sample.columns:
        sample = sample.drop(columns=[model.schema_.target])
    out = a.out or os.path.join(a.model, "model.onnx")
    result = to_onnx(model, out, member=a.member, sample=sample,
                     progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"wrote {result.path} (inputs: {', '.join(result.inputs.values())}; verified on {result.n_verified} rows, "
          f"max |diff| {result.max_abs_diff:.2g})")
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    from forgeml.serve import serve

    serve(a.model, host=a.host, port=a.port, max_body_mb=a.max_body_mb, key=a.key,
          limit_concurrency=a.limit_concurrency)
    return 0


def cmd_nas(a: argparse.Namespace) -> int:
    from forgeml.api.persist import save_model
    from forgeml.data.load import read_table
    from forgeml.nas import NASearch

    epochs = tuple(int(e) for e in a.epochs.split(","))
    if len(epochs) != 2:
        raise ConfigError(f"--epochs takes LOW,FULL (for example 5,40), got {a.epochs!r}")
    search = NASearch(strategy=a.strategy, space=a.space, time_budget=a.time_budget, image_shape=a.image_shape,
                      seed=a.seed, epochs=epochs, refit=a.refit)
    df = read_table(a.data)
    search.fit(df, target=a.target)
    ok = search.history_["status"].eq("ok").sum()
    print(f"forgeml nas: {a.strategy} over the {search.genotype_['space']} space, {len(search.history_)} candidates "
          f"({ok} trained, {len(search.history_) - ok} failed) in {search.search_seconds_:.1f}s")
    print(f"validation {search.metric_name_} of the found network: {search.best_score_:.4f} "
          f"(final weights: {search.final_})")
    print(search.describe())
    if a.out:
        save_model(search, a.out)
        print(f"saved to {a.out} (genotype.json holds the architecture; `forgeml predict {a.out} DATA` predicts)")
    return 0


def cmd_leaderboard(a: argparse.Namespace) -> int:
    from forgeml import load

    _print_frame(load(a.model).leaderboard().head(a.top), max_rows=a.top)
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from forgeml import load
    from forgeml.report import write_report

    model = load(a.model)  # a folder without a finished run: one line, `error: ...`
    out = a.out or os.path.join(a.model, "report.html")
    write_report(model, out, progress=lambda msg: print(msg, file=sys.stderr))
    print(f"wrote {out}")
    return 0


def cmd_runs(a: argparse.Namespace) -> int:
    from forgeml import runs

    _print_frame(runs(a.dir))
    return 0


def cmd_trials(a: argparse.Namespace) -> int:
    from forgeml import trials

    frame = trials(a.dir, a.run)
    if a.top is not None:  # the best N: lowest loss first (trials without a score last), ties by trial id
        frame = frame.sort_values(["loss", "trial_id"], na_position="last", kind="stable").head(a.top)
    cols = [c for c in ("trial_id", "status", "kind", "score", "fidelity", "fit_time", "duration", "config", "error")
            if c in frame.columns]
    frame = frame[cols].copy()
    if "config" in frame:
        frame["config"] = frame["config"].map(lambda c: str(c)[:60])
    if "error" in frame:
        frame["error"] = frame["error"].map(lambda e: (str(e)[:60] if e else ""))
    _print_frame(frame, max_rows=len(frame))
    return 0


def cmd_strategies(a: argparse.Namespace) -> int:
    import textwrap

    from forgeml.models import FAMILIES
    from forgeml.search import describe_searchers

    print("Search strategies (--search NAME, options as --search-option KEY=VALUE):\n")
    for name, summary, opts in describe_searchers():
        print(f"  {name}{' (default)' if name == 'auto' else ''}")
        print(textwrap.fill(summary, 100, initial_indent="      ", subsequent_indent="      "))
        print(textwrap.fill(f"options: {opts or '(none)'}", 100, initial_indent="      ",
                            subsequent_indent="        "))
    print("\nModel families (--families a,b):", ", ".join(FAMILIES.names()))
    return 0


def cmd_knowledge(a: argparse.Namespace) -> int:
    from forgeml.meta.knowledge import KnowledgeBase, default_path

    path = a.path or str(default_path())
    if not os.path.exists(path):
        print(f"no knowledge base at {path}: it is created by the first fit that uses it")
        return 1
    with KnowledgeBase.open(path) as kb:
        summary = kb.summary()
        print(f"{path}: {len(kb.runs())} runs on {len(summary)} datasets")
        _print_frame(summary, max_rows=200)
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from forgeml.bench.runner import run_bench

    only = [s.strip() for s in a.only.split(",")] if a.only else None
    run_bench(a.suite, a.out, time_budget=a.time_budget, seed=a.seed, only=only, search=a.search,
              max_rows=a.max_rows, resume=a.resume, feature_engineering=a.feature_engineering)
    return 0


def cmd_bench_ensembles(a: argparse.Namespace) -> int:
    from forgeml.bench.ensembles import run_bench_ensembles

    only = [s.strip() for s in a.only.split(",")] if a.only else None
    try:
        seeds = [int(x) for x in a.seeds.split(",")] if a.seeds else None
    except ValueError:
        raise ConfigError(f"--seeds takes comma-separated integers (for example 0,1,2), got {a.seeds!r}") from None
    run_bench_ensembles(a.suite, a.out, time_budget=a.time_budget, seed=a.seed, only=only, max_rows=a.max_rows,
                        resume=a.resume, seeds=seeds)
    return 0


def cmd_bench_nas(a: argparse.Namespace) -> int:
    from forgeml.bench.nas import run_bench_nas

    split = lambda text: [t.strip() for t in text.split(",") if t.strip()]  # noqa: E731
    run_bench_nas(a.suite, a.out, strategies=split(a.strategies), spaces=split(a.spaces), time_budget=a.time_budget,
                  seed=a.seed, only=split(a.only) if a.only else None)
    return 0


def cmd_bench_predict(a: argparse.Namespace) -> int:
    from forgeml.bench.latency import run_bench_predict

    run_bench_predict(a.data, a.target, time_budget=a.time_budget, seed=a.seed, single=a.single, batches=a.batches,
                      rows=a.rows)
    return 0


def cmd_bench_parallel(a: argparse.Namespace) -> int:
    from forgeml.bench.throughput import run_throughput

    families = [f.strip() for f in a.families.split(",")] if a.families else None
    run_throughput(a.data, a.target, time_budget=a.time_budget, seed=a.seed, families=families)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from forgeml import __version__

    ap = argparse.ArgumentParser(prog="forgeml", description="AutoML for tabular data.")
    ap.add_argument("--version", action="version", version=f"forgeml {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="fit on an embedded dataset and print the leaderboard")
    p.add_argument("--dataset", default="breast_cancer", choices=DEMO_DATASETS,
                   help="embedded dataset to fit (default breast_cancer)")
    p.add_argument("--time-budget", type=float, default=30.0, help="seconds for the whole fit (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--out", default=None, help="run directory to keep (default: a temporary one, removed)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run already in --out")
    p.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress (default), 2 also plain lines")
    p.set_defaults(fn=cmd_demo)
    p = sub.add_parser("fit", help="search for the best pipeline on a CSV/Parquet file")
    p.add_argument("data", help="training table (CSV, TSV or Parquet)")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--sample-weight", default=None, metavar="COLUMN",
                   help="a column of non-negative row weights (not a feature): every fit, score and the ensemble "
                        "count row i COLUMN[i] times")
    p.add_argument("--out", required=True, help="run directory (store, artifacts, saved model)")
    p.add_argument("--resume", action="store_true", help="continue the latest run in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run already in --out (removes only the files forgeml wrote there)")
    _add_fit_options(p)
    p.set_defaults(fn=cmd_fit)
    p = sub.add_parser("nas", help="search a neural network architecture for a table or for images")
    p.add_argument("data", help="training table (CSV, TSV or Parquet); images as one column per pixel")
    p.add_argument("--target", required=True, help="the column to predict")
    from forgeml.nas import NAS_SPACES, NAS_STRATEGIES

    p.add_argument("--strategy", default="evolution", choices=NAS_STRATEGIES.names(),
                   help="how to search (default evolution)")
    p.add_argument("--space", default="auto", choices=["auto", *NAS_SPACES.names()],
                   help="what to search: auto (cells for images, the macro space for tables) or a space name")
    p.add_argument("--time-budget", type=float, default=60.0, help="seconds for search and training (default 60)")
    p.add_argument("--image-shape", default=None, metavar="HxW",
                   help="the data are images of this shape, one column per pixel (per channel), e.g. 28x28")
    p.add_argument("--epochs", default="5,40", metavar="LOW,FULL",
                   help="epochs of the first look at a candidate and of a full training (default 5,40)")
    p.add_argument("--refit", action="store_true", help="retrain the found network on all rows at the end")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--out", default=None, help="directory to save the model in (forgeml predict reads it)")
    p.set_defaults(fn=cmd_nas)
    p = sub.add_parser("predict", help="predict with a saved model")
    p.add_argument("model", help="model directory (the --out of `forgeml fit`)")
    p.add_argument("data", help="table to predict on (CSV, TSV or Parquet)")
    p.add_argument("--out", default=None, help="CSV file for the predictions (default: standard output)")
    p.add_argument("--proba", action="store_true", help="class probabilities instead of labels")
    p.add_argument("--on-bad-value", default=None, choices=["raise", "nan"],
                   help="a value that cannot be read as its column's type: raise an error or read it as "
                        "missing, with a warning (default: as chosen at fit, raise unless set)")
    p.set_defaults(fn=cmd_predict)
    p = sub.add_parser("export", help="export a saved model to ONNX, checked against its own predictions")
    p.add_argument("model", help="model directory (the --out of `forgeml fit`)")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="the export format (default onnx)")
    p.add_argument("--out", default=None, help="the file to write (default MODEL/model.onnx)")
    p.add_argument("--member", type=int, default=None, metavar="N",
                   help="export only ensemble member N (1-based), e.g. when another member does not convert")
    p.add_argument("--data", default=None,
                   help="rows (CSV, TSV or Parquet) to check the export on (default: 200 rows drawn from the model)")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("serve", help="serve a saved model over HTTP (see docs/serving.md)")
    p.add_argument("model", help="model directory (the --out of `forgeml fit`)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--max-body-mb", type=float, default=10.0, help="larger request bodies get 413 (default 10)")
    p.add_argument("--limit-concurrency", type=int, default=64,
                   help="more open requests than this get 503 (default 64)")
    p.add_argument("--key", default=None, help="refuse a model not signed with this key (default: $FORGEML_MODEL_KEY)")
    p.set_defaults(fn=cmd_serve)
    p = sub.add_parser("leaderboard", help="show a saved model's leaderboard")
    p.add_argument("model", help="model directory (the --out of `forgeml fit`)")
    p.add_argument("--top", type=int, default=30, help="show the N best pipelines (default 30)")
    p.set_defaults(fn=cmd_leaderboard)
    p = sub.add_parser("report", help="write a self-contained HTML report of a saved run")
    p.add_argument("model", help="model directory (the --out of `forgeml fit`)")
    p.add_argument("--out", default=None, help="HTML file to write (default: MODEL/report.html)")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("runs", help="list the runs stored in a run directory")
    p.add_argument("dir", help="run directory (holds forgeml.db)")
    p.set_defaults(fn=cmd_runs)
    p = sub.add_parser("trials", help="list the trials of a run")
    p.add_argument("dir", help="run directory (holds forgeml.db)")
    p.add_argument("--run", default=None, help="run id (default: the latest run; see `forgeml runs DIR`)")
    p.add_argument("--top", type=int, default=None,
                   help="show the N best trials, best first (default: every trial, in trial order)")
    p.set_defaults(fn=cmd_trials)
    p = sub.add_parser("knowledge", help="summarise a knowledge base: datasets, runs, best scores")
    p.add_argument("path", nargs="?", default=None, help="the knowledge base (default: the user's own)")
    p.set_defaults(fn=cmd_knowledge)
    p = sub.add_parser("strategies", help="list search strategies and model families")
    p.set_defaults(fn=cmd_strategies)
    p = sub.add_parser("bench", help="benchmark on a suite of datasets (manifest.json)")
    p.add_argument("--suite", required=True, help="the suite's manifest.json, or the folder holding it")
    p.add_argument("--time-budget", type=float, default=60.0, help="seconds per dataset and system (default 60)")
    p.add_argument("--out", default="bench-out", help="output folder for results.csv and runs (default bench-out)")
    p.add_argument("--only", default=None, help="comma-separated dataset names")
    p.add_argument("--search", default="auto", help="search strategy (see `forgeml strategies`)")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--max-rows", type=int, default=None, help="skip datasets with more rows")
    p.add_argument("--resume", action="store_true", help="keep OUT/results.csv and run only what it lacks")
    p.add_argument("--no-feature-engineering", dest="feature_engineering", action="store_false",
                   help="run forgeml with AutoML(feature_engineering=False), to compare against the default")
    p.set_defaults(fn=cmd_bench)
    p = sub.add_parser("bench-ensembles", help="every ensemble method against the single best pipeline, on test rows")
    p.add_argument("--suite", required=True, help="the suite's manifest.json, or the folder holding it")
    p.add_argument("--time-budget", type=float, default=60.0, help="seconds per dataset (default 60)")
    p.add_argument("--out", default="bench-ensembles", help="output folder (default bench-ensembles)")
    p.add_argument("--only", default=None, help="comma-separated dataset names")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--max-rows", type=int, default=None, help="skip datasets with more rows")
    p.add_argument("--seeds", default=None,
                   help="comma-separated seeds: one 75/25 split and run each, compared on the mean (e.g. 0,1,2)")
    p.add_argument("--resume", action="store_true", help="keep OUT/ensembles.csv and run only what it lacks")
    p.set_defaults(fn=cmd_bench_ensembles)
    p = sub.add_parser("bench-nas", help="NAS strategies x spaces against a hand-designed network, on test rows")
    p.add_argument("--suite", required=True, help="manifest.json of the datasets (or its folder)")
    p.add_argument("--out", required=True, help="folder for nas.csv")
    p.add_argument("--only", default=None, help="comma-separated dataset names")
    p.add_argument("--strategies", default="random,evolution,rl,darts", help="comma-separated NAS strategies")
    p.add_argument("--spaces", default="auto", help="comma-separated NAS spaces (auto: cells for images, macro "
                                                    "for tables)")
    p.add_argument("--time-budget", type=float, default=150.0, help="seconds per search (default 150)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the searches (default 0)")
    p.set_defaults(fn=cmd_bench_nas)
    p = sub.add_parser("bench-parallel", help="trials per minute with n_jobs=1 versus n_jobs=2")
    p.add_argument("data", help="training table (CSV, TSV or Parquet)")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--time-budget", type=float, default=60.0, help="seconds per measurement (default 60)")
    p.add_argument("--families", default="lightgbm,linear", help="comma-separated model families")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.set_defaults(fn=cmd_bench_parallel)
    p = sub.add_parser("bench-predict", help="predict latency after a fit: one row per call, and 10,000-row batches")
    p.add_argument("data", help="table (CSV, TSV or Parquet): 75 %% to fit on, 25 %% to predict")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--time-budget", type=float, default=30.0, help="seconds for the fit (default 30)")
    p.add_argument("--single", type=int, default=50, help="one-row calls timed (default 50)")
    p.add_argument("--batches", type=int, default=5, help="batch calls timed (default 5)")
    p.add_argument("--rows", type=int, default=10_000, help="rows per batch (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the fit and the batch (default 0)")
    p.set_defaults(fn=cmd_bench_predict)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    try:
        code = args.fn(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:  # e.g. `forgeml predict ... | head`: the reader has what it wanted
        _quiet_stdout()
        return 0
    except ForgeMLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; completed trials are kept in the run directory (resume with --resume)",
              file=sys.stderr)
        return 130


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush does not report the closed pipe again (the
    recipe of the Python docs' "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
