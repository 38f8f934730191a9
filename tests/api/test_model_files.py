"""Model files are code: load checks the manifest, the artifacts' SHA-256 and (with a key) the signature before it
unpickles anything, and the unpickler refuses what only an attack needs. Each refusal is checked to happen before
the crafted pickle could run: the file it would write does not exist."""
import hashlib
import json
import os
import pickle

import numpy as np
import pandas as pd
import pytest

from forgeml import AutoML, load
from forgeml.api.persist import FORMAT_VERSION, MANIFEST, MODEL
from forgeml.errors import ModelLoadError


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=(X[:, 0] > 0).astype(int))
    model = AutoML(max_trials=2, time_budget=None, families=["linear"], ensemble=None, verbose=0, knowledge=None,
                   n_jobs=1).fit(df, target="y")
    root = tmp_path_factory.mktemp("models")
    model.save(str(root / "plain"))
    model.save(str(root / "signed"), key="team-secret")
    return model, root, df.drop(columns="y")


def _copy(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _rehash(d):
    """What an attacker who can write the directory does: recompute the manifest's hash of model.pkl."""
    manifest = json.loads((d / MANIFEST).read_text())
    manifest["artifacts"][MODEL] = hashlib.sha256((d / MODEL).read_bytes()).hexdigest()
    (d / MANIFEST).write_text(json.dumps(manifest))


class _WritesAFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class _OpensAFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_manifest_lists_versions_schema_metrics_and_hashes(saved):
    model, root, X = saved
    manifest = json.loads((root / "plain" / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION and "signature" not in manifest
    assert {"forgeml", "sklearn", "numpy", "pandas", "python"} <= set(manifest["versions"])
    assert [c["name"] for c in manifest["schema"]["columns"]] == ["a", "b", "c"]
    assert manifest["metrics"]["name"] == "roc_auc"
    for name, digest in manifest["artifacts"].items():
        assert hashlib.sha256((root / "plain" / name).read_bytes()).hexdigest() == digest
    assert np.allclose(load(str(root / "plain")).predict_proba(X), model.predict_proba(X))


def test_one_flipped_byte_is_refused(saved, tmp_path):
    _, root, _ = saved
    d = _copy(root / "plain", tmp_path / "m")
    data = bytearray((d / MODEL).read_bytes())
    data[len(data) // 2] ^= 0x01
    (d / MODEL).write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="does not match the SHA-256"):
        load(str(d))


def test_truncated_and_newer_format_are_refused(saved, tmp_path):
    _, root, _ = saved
    d = _copy(root / "plain", tmp_path / "t")
    (d / MODEL).write_bytes((d / MODEL).read_bytes()[:300])
    with pytest.raises(ModelLoadError, match="SHA-256"):
        load(str(d))
    d = _copy(root / "plain", tmp_path / "n")
    manifest = json.loads((d / MANIFEST).read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (d / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="newer than this forgeml reads"):
        load(str(d))


@pytest.mark.parametrize("payload", [_WritesAFile, _OpensAFile])
def test_a_crafted_pickle_never_runs(saved, tmp_path, payload):
    _, root, _ = saved
    marker = tmp_path / "pwned"
    d = _copy(root / "plain", tmp_path / "evil")
    (d / MODEL).write_bytes(pickle.dumps(payload(str(marker))))
    with pytest.raises(ModelLoadError, match="does not match the SHA-256"):  # a replaced model.pkl
        load(str(d))
    assert not marker.exists()
    _rehash(d)  # the attacker rewrites the manifest too: the unpickler still refuses the payload
    with pytest.raises(ModelLoadError, match="looks crafted"):
        load(str(d))
    assert not marker.exists()
    with pytest.raises(ModelLoadError, match="another key|manifest was changed"):  # and a key settles it
        _copy(root / "signed", tmp_path / "s")
        (tmp_path / "s" / MODEL).write_bytes((d / MODEL).read_bytes())
        _rehash(tmp_path / "s")
        load(str(tmp_path / "s"), key="team-secret")
    assert not marker.exists()


def test_a_replaced_model_is_refused_even_with_a_valid_pickle(saved, tmp_path):
    model, root, _ = saved
    d = _copy(root / "plain", tmp_path / "r")
    other = pickle.dumps(model.set_params(seed=5))  # a genuine model, but not the one this manifest describes
    (d / MODEL).write_bytes(other)
    with pytest.raises(ModelLoadError, match="SHA-256"):
        load(str(d))


def test_keys_sign_and_check(saved, monkeypatch):
    model, root, X = saved
    assert np.allclose(load(str(root / "signed"), key="team-secret").predict_proba(X), model.predict_proba(X))
    with pytest.raises(ModelLoadError, match="another key"):
        load(str(root / "signed"), key="wrong")
    with pytest.raises(ModelLoadError, match="not signed"):
        load(str(root / "plain"), key="team-secret")
    monkeypatch.setenv("FORGEML_MODEL_KEY", "team-secret")
    assert load(str(root / "signed")) is not None  # the environment variable is the key
    with pytest.raises(ModelLoadError, match="not signed"):
        load(str(root / "plain"))
    assert load(str(root / "signed"), key=b"team-secret") is not None


def test_a_model_saved_before_hashes_loads_with_a_warning(saved, tmp_path):
    _, root, X = saved
    d = _copy(root / "plain", tmp_path / "old")
    manifest = json.loads((d / MANIFEST).read_text())
    manifest["format_version"] = 1
    del manifest["artifacts"]
    (d / MANIFEST).write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match="without an integrity check"):
        assert load(str(d)).predict(X).shape == (len(X),)
