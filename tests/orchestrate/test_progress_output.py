"""A fit shows its progress where its output goes: plain lines in a file, an updating bar in a real notebook kernel."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
FIT = textwrap.dedent("""
    from sklearn.datasets import load_breast_cancer
    from forgeml import AutoML
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    AutoML(time_budget=None, max_trials=4, seed=0, n_jobs=1).fit(X.iloc[:200, :6], y.iloc[:200])
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.slow
def test_fit_writes_progress_lines_to_a_file(tmp_path):
    log = tmp_path / "fit.log"
    with open(log, "w") as out:  # stdout and stderr are a file, as under nohup or a job scheduler
        subprocess.run([sys.executable, "-c", FIT], stdout=out, stderr=subprocess.STDOUT, env=_env(), check=True,
                       timeout=300, cwd=tmp_path)
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("forgeml: ")]
    assert lines[0] == "forgeml: fitting with 4 trials, metric roc_auc", lines
    steps = [ln for ln in lines if " trials (" in ln]
    assert any(ln.startswith("forgeml: searching: ") and "best roc_auc 0." in ln for ln in steps), lines
    assert any(ln.startswith("forgeml: choosing the ensemble and refitting on all rows: 4 trials") for ln in steps)
    assert steps[-1].startswith("forgeml: done: 4 trials (0 failed), best roc_auc "), lines
    assert len(lines) <= 12  # lines, not a flood: at most one per new best, per step and the ends
    assert "\r" not in log.read_text() and "\x1b[" not in log.read_text()  # no terminal control codes in a file


@pytest.mark.slow
def test_fit_in_a_notebook_kernel_updates_one_html_bar():
    jupyter_client = pytest.importorskip("jupyter_client", reason="jupyter_client is in the test extras")
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3", env=_env())
    try:
        msg_id = kc.execute(FIT)
        shown, updates, errors = [], [], []
        while True:
            msg = kc.get_iopub_msg(timeout=240)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "display_data":
                shown.append(content)
            elif kind == "update_display_data":
                updates.append(content)
            elif kind == "error":
                errors.append(content["evalue"])
            elif kind == "status" and content["execution_state"] == "idle":
                break
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert not errors, errors
    bars = [d for d in shown if "forgeml-progress" in d["data"].get("text/html", "")]
    assert len(bars) == 1  # one bar, updated in place (not a new output per trial)
    display_id = bars[0]["transient"]["display_id"]
    assert updates and all(u["transient"]["display_id"] == display_id for u in updates)
    last = updates[-1]["data"]["text/html"]
    assert "<progress" in last and "done: 4 trials (0 failed)" in last and 'value="1.000"' in last
