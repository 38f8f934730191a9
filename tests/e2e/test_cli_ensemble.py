"""`forgeml fit --ensemble NAME`: the choices, how they reach AutoML, and one real run."""
import subprocess
import sys

import pytest
from tests.conftest import shared_dataset

from forgeml.cli.main import _automl, build_parser

CLI = [sys.executable, "-m", "forgeml.cli.main"]


def _ensemble_of(*flags):
    a = build_parser().parse_args(["fit", "data.csv", "--target", "y", "--out", "o", *flags])
    return _automl(a, a.out).ensemble


def test_ensemble_option_reaches_automl():
    assert _ensemble_of() == "auto"  # the default: compare them all
    assert _ensemble_of("--ensemble", "stacking") == "stacking"
    assert _ensemble_of("--ensemble", "auto") == "auto"
    assert _ensemble_of("--ensemble", "super_learner") == "super_learner"
    assert _ensemble_of("--ensemble", "voting") == "voting"
    assert _ensemble_of("--ensemble", "greedy") == "greedy"
    assert _ensemble_of("--ensemble", "none") is None
    assert _ensemble_of("--no-ensemble") is None


@pytest.mark.parametrize("flags, message", [(["--ensemble", "stacking_x"], "invalid choice: 'stacking_x'"),
                                            (["--ensemble", "voting", "--no-ensemble"], "not allowed with")])
def test_bad_ensemble_option_is_a_usage_error(flags, message):
    p = subprocess.run([*CLI, "fit", "x.csv", "--target", "y", "--out", "o", *flags], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2 and message in p.stderr
    if "invalid" in message:
        assert "'auto', 'greedy', 'super_learner', 'voting', 'stacking', 'blending', 'none'" in p.stderr


def test_fit_with_super_learner_from_the_command_line(tmp_path):
    df, entry = shared_dataset("breast_cancer")
    df.to_csv(tmp_path / "train.csv", index=False)
    out = str(tmp_path / "run")
    fit = subprocess.run([*CLI, "fit", str(tmp_path / "train.csv"), "--target", entry["target"], "--out", out,
                          "--ensemble", "super_learner", "--max-trials", "4", "--families", "linear,lightgbm",
                          "--n-jobs", "1", "--verbose", "0", "--no-portfolio"],
                         capture_output=True, text=True, timeout=300)
    assert fit.returncode == 0, fit.stderr[-3000:]
    board = subprocess.run([*CLI, "leaderboard", out], capture_output=True, text=True, timeout=120)
    assert board.returncode == 0, board.stderr[-3000:]
    assert "ensemble:super_learner" in board.stdout
