"""The HTML report from a fitted model and, via the CLI, from a saved run directory in a fresh process."""
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import forgeml
from forgeml import load

CLI = [sys.executable, "-m", "forgeml.cli.main"]
SECTIONS = ("dataset", "leaderboard", "search", "ensemble", "features", "predictions", "pipeline")
CLASSIFIER_CHARTS = ["target", "search", "weights", "importance", "confusion", "roc"]
REGRESSOR_CHARTS = ["target", "search", "weights", "importance", "residuals"]


def _env():
    src = str(Path(forgeml.__file__).resolve().parents[1])  # the forgeml under test, not an installed one
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


def check_report(text: str, model, charts: list[str]) -> None:
    assert text.startswith("<!DOCTYPE html>")
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in text, sid
    assert re.findall(r'<figure class="chart" data-chart="([a-z]+)"><svg', text) == charts
    assert text.count("<svg") == len(charts)
    # self-contained: nothing fetched (the SVGs' xmlns declarations are names, not requests)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "<script" not in text and "@import" not in text and "url(" not in re.sub(r"url\(#", "", text)
    for pipeline in model.leaderboard()["pipeline"]:
        assert html_escape(pipeline) in text
    for col in model.schema_.names():
        assert f"<td>{html_escape(col)}</td>" in text


def html_escape(s: str) -> str:
    import html

    return html.escape(str(s), quote=True)


def test_report_data_is_small_honest_and_pickled(classifier_run, regressor_run):
    clf, path = classifier_run
    data = clf.report_data_
    assert len(pickle.dumps(data)) < 100_000
    assert [c["name"] for c in data["columns"]] == clf.schema_.names()
    assert data["target_distribution"]["counts"] == [50, 50, 50]
    oof = data["oof"]
    assert oof["n_rows"] == 150 and len(oof["y"]) == len(oof["proba"]) == 150
    assert "cross-fitted" in oof["source"]
    acc = np.mean(np.asarray(oof["y"]) == np.asarray(oof["label"]))
    assert 0.8 < acc < 1.0 or acc == 1.0  # iris is easy, but these are held-out predictions
    assert load(path).report_data_ == data  # saved with the model
    reg, _ = regressor_run
    roof = reg.report_data_["oof"]
    assert "trial #" in roof["source"] and roof["n_rows"] == 442
    trial = int(re.search(r"trial #(\d+)", roof["source"]).group(1))
    assert reg.best_pipeline_.member_ids == [trial]
    assert np.corrcoef(roof["y"], roof["pred"])[0, 1] > 0.5


def test_report_from_python(classifier_run, regressor_run, tmp_path):
    clf, _ = classifier_run
    out = clf.report(str(tmp_path / "sub" / "clf.html"))
    check_report(Path(out).read_text(encoding="utf-8"), clf, CLASSIFIER_CHARTS)
    reg, _ = regressor_run
    out = reg.report(str(tmp_path / "reg.html"))
    text = Path(out).read_text(encoding="utf-8")
    check_report(text, reg, REGRESSOR_CHARTS)
    assert "progression" in text


def test_report_cli_on_a_saved_run_in_a_fresh_process(classifier_run, tmp_path):
    clf, path = classifier_run
    out = tmp_path / "report.html"
    p = subprocess.run([*CLI, "report", str(path), "--out", str(out)], capture_output=True, text=True, timeout=120,
                       env=_env())
    assert p.returncode == 0, p.stderr[-3000:]
    assert "report: drawing charts" in p.stderr and str(out) in p.stdout
    text = out.read_text(encoding="utf-8")
    check_report(text, clf, CLASSIFIER_CHARTS)
    assert "species" in text and "virginica" in text


def test_report_cli_on_a_folder_without_a_run_is_one_error_line(tmp_path):
    p = subprocess.run([*CLI, "report", str(tmp_path), "--out", str(tmp_path / "r.html")], capture_output=True,
                       text=True, timeout=120, env=_env())
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert not (tmp_path / "r.html").exists()
