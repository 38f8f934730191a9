"""A finished run is never replaced by accident; overwrite removes only what forgeml wrote."""
from __future__ import annotations

import pytest

from forgeml.errors import ConfigError
from forgeml.store import Store
from forgeml.store.rundir import clear_run_dir, finished_run, prepare_run_dir


def _run_dir(tmp_path, status: str):
    d = tmp_path / "run"
    with Store.open(d) as store:
        run_id = store.start_run({"task": "binary"})
        store.update_run(run_id, status=status)
    (d / "oof").mkdir()
    (d / "oof" / "trial_0.npy").write_bytes(b"x")
    (d / "model.pkl").write_bytes(b"x")
    (d / "manifest.json").write_text("{}")
    (d / "my_notes.txt").write_text("mine")
    return d, run_id


def test_finished_run_is_refused_naming_the_directory_and_both_ways(tmp_path):
    d, run_id = _run_dir(tmp_path, "complete")
    with pytest.raises(ConfigError) as err:
        prepare_run_dir(d)
    msg = str(err.value)
    assert str(d) in msg and run_id in msg and "resume=True" in msg and "overwrite=True" in msg
    assert (d / "model.pkl").exists() and (d / "oof" / "trial_0.npy").exists()


def test_resume_is_allowed(tmp_path):
    d, _ = _run_dir(tmp_path, "complete")
    prepare_run_dir(d, resume=True)
    assert (d / "model.pkl").exists()


def test_overwrite_clears_only_forgeml_files(tmp_path):
    d, _ = _run_dir(tmp_path, "complete")
    prepare_run_dir(d, overwrite=True)
    assert sorted(p.name for p in d.iterdir()) == ["my_notes.txt"]
    assert finished_run(d) is None


def test_resume_and_overwrite_together_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="pass one"):
        prepare_run_dir(tmp_path, resume=True, overwrite=True)


def test_unfinished_or_empty_directories_are_free(tmp_path):
    prepare_run_dir(tmp_path / "new")
    assert not (tmp_path / "new").exists()
    d = tmp_path / "interrupted"
    with Store.open(d) as store:
        store.update_run(store.start_run({}), status="interrupted")
    prepare_run_dir(d)
    assert finished_run(d) is None


def test_saved_model_without_store_counts_as_finished(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    assert finished_run(tmp_path) is not None
    with pytest.raises(ConfigError):
        prepare_run_dir(tmp_path)
    assert clear_run_dir(tmp_path) == ["manifest.json"]
