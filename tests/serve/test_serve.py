"""`forgeml serve` as a client meets it: a real server process on a free port, real HTTP requests (httpx).

One tiny classifier is fitted once for the module; the answers are compared with the model's own in-process
predictions. The regression-only case (predict_proba refused) and a model failing inside predict are checked in
process with FastAPI's TestClient, a second layer over the same application.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forgeml import AutoML, load
from forgeml.serve import make_app

SRC = str(Path(__file__).resolve().parents[2] / "src")
CLI = [sys.executable, "-m", "forgeml.cli.main"]
MAX_BODY_MB = 0.05  # 52 KB: small, so that an oversized body is cheap to send


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"age": rng.integers(18, 80, n).astype(float), "income": rng.normal(50, 10, n).round(3),
                       "city": rng.choice(["paris", "lyon", "nice"], n)})
    df["label"] = np.where(df.age + (df.city == "paris") * 20 + rng.normal(0, 5, n) > 55, "yes", "no")
    return df


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    AutoML(time_budget=None, max_trials=3, seed=0, verbose=0, n_jobs=1, families=["lightgbm", "linear"],
           path=str(d / "run")).fit(_table(200, 0), target="label").save(str(d / "model"))
    test = _table(40, 1).drop(columns="label")
    test.loc[3, "income"] = np.nan  # a missing value travels as null
    return load(str(d / "model")), d / "model", test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url(fitted):
    _, path, _ = fitted
    port = _free_port()
    proc = subprocess.Popen([*CLI, "serve", str(path), "--host", "127.0.0.1", "--port", str(port),
                             "--max-body-mb", str(MAX_BODY_MB)], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        assert proc.poll() is None, f"the server exited: {proc.communicate()[1][-2000:]}"
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.time() < deadline, "the server did not answer /health within 90 s"
        time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def test_predict_json_matches_the_model(url, fitted):
    model, _, test = fitted
    r = httpx.post(url + "/predict", json={"records": _records(test)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictions"] == model.predict(test).tolist()
    assert body["n_records"] == len(test) and body["ignored_columns"] == []
    assert set(body["predictions"]) == {"yes", "no"}  # the test rows are not all one class


def test_predict_proba_json_csv_and_upload_match_the_model(url, fitted):
    model, _, test = fitted
    expected = model.predict_proba(test)
    answers = [
        httpx.post(url + "/predict_proba", json={"records": _records(test)}),
        httpx.post(url + "/predict_proba", content=_csv(test), headers={"Content-Type": "text/csv"}),
        httpx.post(url + "/predict_proba", files={"file": ("rows.csv", _csv(test), "text/csv")}),
    ]
    for r in answers:
        assert r.status_code == 200, r.text
        assert r.json()["classes"] == ["no", "yes"]
        np.testing.assert_allclose(r.json()["probabilities"], expected[["no", "yes"]].to_numpy(), rtol=1e-9)
    r = httpx.post(url + "/predict", content=_csv(test), headers={"Content-Type": "text/csv; charset=utf-8"})
    assert r.status_code == 200 and r.json()["predictions"] == model.predict(test).tolist()


def test_extra_columns_are_ignored_and_listed(url, fitted):
    model, _, test = fitted
    rows = _records(test.head(3))
    rows[1]["note"] = "unused"
    rows[2]["label"] = "yes"  # the target too
    r = httpx.post(url + "/predict", json={"records": rows})
    assert r.status_code == 200, r.text
    assert r.json()["ignored_columns"] == ["note", "label"]
    assert r.json()["predictions"] == model.predict(test.head(3)).tolist()


def _row(**change):
    return {"records": [{"age": 40.0, "income": 50.0, "city": "paris", **change}]}


BAD = {  # name: (request kwargs, status, words the message must hold)
    "missing column": (dict(json={"records": [{"age": 40, "city": "lyon"}]}), 422, ["income", "records[0]"]),
    "missing in one record": (dict(json={"records": [_row()["records"][0], {"age": 1, "income": 2}]}), 422,
                              ["city", "records[1]"]),
    "missing column, CSV": (dict(content=b"age,city\n40,lyon\n", headers={"Content-Type": "text/csv"}), 422,
                            ["income"]),
    "string in a numeric column": (dict(json=_row(age="forty")), 422, ["age", "forty"]),
    "boolean in a numeric column": (dict(json=_row(income=True)), 422, ["income"]),
    "unreadable number, CSV": (dict(content=b"age,income,city\n40,abc,lyon\n", headers={"Content-Type": "text/csv"}),
                               422, ["income", "abc"]),
    "object in a cell": (dict(json=_row(city={"name": "paris"})), 422, ["city"]),
    "infinite number": (dict(content=b'{"records": [{"age": Infinity, "income": 1, "city": "nice"}]}',
                             headers={"Content-Type": "application/json"}), 422, ["age"]),
    "malformed JSON": (dict(content=b'{"records": [{"age": 4', headers={"Content-Type": "application/json"}), 400,
                       ["malformed JSON"]),
    "empty body": (dict(content=b"", headers={"Content-Type": "application/json"}), 400, ["empty"]),
    "empty CSV": (dict(content=b"", headers={"Content-Type": "text/csv"}), 400, ["empty"]),
    "CSV header only": (dict(content=b"age,income,city\n", headers={"Content-Type": "text/csv"}), 422, ["no rows"]),
    "bare list": (dict(json=_row()["records"]), 422, ["records"]),
    "records not a list": (dict(json={"records": {"age": 1}}), 422, ["records"]),
    "no records": (dict(json={"records": []}), 422, ["records"]),
    "unknown top-level key": (dict(json={**_row(), "rows": []}), 422, ["rows"]),
    "upload without a file": (dict(content=b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n',
                                   headers={"Content-Type": "multipart/form-data; boundary=b"}), 400, ["'file'"]),
    "empty upload": (dict(files={"file": ("rows.csv", b"", "text/csv")}), 400, ["empty"]),
    "form-encoded body": (dict(content=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"}), 415,
                          ["application/json"]),
    "binary CSV": (dict(content=b"\xff\xfe\x00a,b\n\x00\x01", headers={"Content-Type": "text/csv"}), 400, ["CSV"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_requests_get_a_4xx_naming_the_problem(url, case):
    kwargs, status, words = BAD[case]
    for path in ("/predict", "/predict_proba"):
        r = httpx.post(url + path, **kwargs)
        assert r.status_code == status, (path, r.text)
        body = r.json()
        assert set(body) == {"error", "detail"}
        for word in words:
            assert word in body["detail"], (word, body)


def test_oversized_bodies_get_413_without_being_read(url):
    big = b"age,income,city\n" + b"40,50,paris\n" * 10_000  # 120 KB > 52 KB
    r = httpx.post(url + "/predict", content=big, headers={"Content-Type": "text/csv"})  # Content-Length
    assert r.status_code == 413 and "0.05 MB" in r.json()["detail"]

    def chunks():  # no Content-Length: the server counts as it reads
        for _ in range(10):
            yield big[:12_000]

    r = httpx.post(url + "/predict", content=chunks(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    r = httpx.post(url + "/predict", files={"file": ("big.csv", big, "text/csv")})
    assert r.status_code == 413
    assert httpx.get(url + "/health").status_code == 200  # and the server is still up


def test_schema_metadata_and_openapi(url, fitted):
    model, _, _ = fitted
    schema = httpx.get(url + "/schema").json()
    assert schema["target"] == "label" and schema["task"] == "binary" and schema["classes"] == ["no", "yes"]
    assert [(c["name"], c["kind"]) for c in schema["columns"]] == [("age", "numeric"), ("income", "numeric"),
                                                                   ("city", "categorical")]
    assert sorted(schema["columns"][2]["categories"]) == ["lyon", "nice", "paris"]
    meta = httpx.get(url + "/metadata").json()
    assert meta["metric"] == "roc_auc" and meta["n_trials"] == 3 and meta["kind"] == "AutoML"
    assert meta["cv_score"] == pytest.approx(model.leaderboard().query("chosen == True")["cv_roc_auc"].iloc[0])
    assert meta["fit_seconds"] == pytest.approx(model.fit_seconds_)
    assert meta["saved_with"]["forgeml"] and meta["saved_with"]["sklearn"] and meta["signed"] is False
    api = httpx.get(url + "/openapi.json").json()
    assert {"/predict", "/predict_proba", "/schema", "/health", "/metadata"} <= set(api["paths"])
    body = api["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "text/csv", "multipart/form-data"} <= set(body)
    record = body["application/json"]["schema"]["properties"]["records"]["items"]
    assert record["required"] == ["age", "income", "city"]


def _hammer(url: str, n: int, body_of) -> list[tuple]:
    """``n`` POST /predict from 4 client threads; request i sends ``body_of(i)``. (i, status, answer) each."""
    results: list[list] = [[] for _ in range(4)]

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            for i in range(k, n, 4):
                r = c.post("/predict", content=json.dumps(body_of(i)), headers={"Content-Type": "application/json"})
                results[k].append((i, r.status_code, r.json()["predictions"] if r.status_code == 200 else r.json()))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return sorted(a for part in results for a in part)


def test_2000_requests_from_4_clients_all_answered_correctly(url, fitted):
    model, _, test = fitted
    rows = _records(test)
    expected = model.predict(test).tolist()
    before = httpx.get(url + "/health").json()
    answers = _hammer(url, 2000, lambda i: {"records": [rows[i % len(rows)]]})
    assert [i for i, _, _ in answers] == list(range(2000))  # none lost
    assert sum(status == 200 for _, status, _ in answers) == 2000
    assert all(pred == [expected[i % len(rows)]] for i, _, pred in answers)
    after = httpx.get(url + "/health").json()
    assert after["requests_predicted"] - before["requests_predicted"] == 2000
    assert after["model_calls"] - before["model_calls"] < 2000  # concurrent requests shared calls


def test_a_bad_request_in_a_batch_fails_alone(url, fitted):
    model, _, test = fitted
    rows = _records(test)
    expected = model.predict(test).tolist()
    bad = {**rows[0], "age": float("inf")}  # same column types as the good ones, so it joins their batches
    answers = _hammer(url, 200, lambda i: {"records": [bad if i % 5 == 0 else rows[i % len(rows)]]})
    assert [i for i, _, _ in answers] == list(range(200))
    for i, status, answer in answers:
        if i % 5 == 0:
            assert status == 422 and "'age'" in answer["detail"] and "inf" in answer["detail"], answer
        else:
            assert status == 200 and answer == [expected[i % len(rows)]]


def _cli(*args, env=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120, env=env or _env())


def test_serving_a_folder_without_a_model_is_a_one_line_error(tmp_path):
    p = _cli("serve", tmp_path, "--port", _free_port())
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no finished model" in lines[0], p.stderr


def test_key_is_passed_to_load(fitted):
    _, path, _ = fitted  # saved without a key: a server told to check one must refuse it
    p = _cli("serve", path, "--port", _free_port(), "--key", "secret")
    assert p.returncode != 0 and "not signed" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = _cli("serve", path, "--port", _free_port(), env={**_env(), "FORGEML_MODEL_KEY": "secret"})
    assert p.returncode != 0 and "not signed" in p.stderr


# -- the application in process: a regressor, and a model that fails inside predict ---------------------------------
@pytest.fixture(scope="module")
def regressor():
    df = _table(120, 2).assign(label=lambda d: d.age * 2.0 + d.income)
    return AutoML(time_budget=None, max_trials=2, seed=0, verbose=0, n_jobs=1, families=["linear"],
                  ensemble=None).fit(df, target="label")


def test_regressor_predicts_and_refuses_predict_proba(regressor):
    test = _table(5, 3).drop(columns="label")
    with TestClient(make_app(regressor, max_body_bytes=10_000)) as c:
        r = c.post("/predict", json={"records": _records(test)})
        assert r.status_code == 200
        np.testing.assert_allclose(r.json()["predictions"], regressor.predict(test), rtol=1e-9)
        r = c.post("/predict_proba", json={"records": _records(test)})
        assert r.status_code == 400 and "regression" in r.json()["detail"]
        assert c.get("/schema").json()["task"] == "regression"
        r = c.post("/predict", content=b"x" * 10_001, headers={"Content-Type": "text/csv"})
        assert r.status_code == 413


class _Failing:
    """The fitted regressor whose predict then fails as a broken library would."""

    def __init__(self, model):
        self.schema_ = model.schema_

    def predict(self, X):
        raise RuntimeError("boom in the model")


def test_a_failure_inside_predict_is_a_short_json_500(regressor):
    test = _table(2, 3).drop(columns="label")
    with TestClient(make_app(_Failing(regressor)), raise_server_exceptions=False) as c:
        r = c.post("/predict", json={"records": _records(test)})
    assert r.status_code == 500
    assert r.json() == {"error": "internal_error",
                        "detail": "the model failed on this request (RuntimeError: boom in the model)"}
