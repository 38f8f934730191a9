"""scripts/replay_auto.py: auto's shipped rule replayed on the candidates a bench-ensembles run recorded."""
import subprocess
import sys
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "replay_auto.py"


def test_replay_takes_the_test_score_of_the_method_the_rule_picks(tmp_path):
    rows = []
    # the single best has the best nested score, super_learner the better convex one; stacking is better still
    # on the nested rows but within noise (beats_single 0.5), so the rule keeps super_learner
    for method, nested, p, test in (("single", 0.80, None, 0.70), ("greedy", 0.78, 0.3, 0.74),
                                    ("super_learner", 0.79, 0.4, 0.75), ("stacking", 0.85, 0.5, 0.60)):
        rows.append({"dataset": "a", "task": "binary", "metric": "roc_auc", "method": method, "seed": 0,
                     "test_score": test, "nested_cv": nested, "beats_single": p})
    rows += [{"dataset": "a", "task": "binary", "metric": "roc_auc", "method": "auto", "seed": 0,
              "test_score": 0.70, "chosen": "single"},
             {"dataset": "a", "task": "binary", "metric": "roc_auc", "method": "constant", "seed": 0,
              "test_score": 0.5}]
    pd.DataFrame(rows).to_csv(tmp_path / "ensembles.csv", index=False)
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "ensembles.csv"), "--out",
                          str(tmp_path / "replay.csv")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = pd.read_csv(tmp_path / "replay.csv").set_index("method")
    assert out.loc["auto", "chosen"] == "super_learner" and out.loc["auto", "test_score"] == 0.75
    assert "| auto | 1/1 |" in run.stdout
