"""The model registry through a real server with the SDK and the CLI, on SQLite and on Postgres."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import joblib
import pytest

from slipway.client import Client
from slipway.errors import Conflict, InvalidArgument, NotFound
from tests.support.models import cancer_model, custom_tar, write_cancer_artifact


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_versions_approval_aliases_and_history(client: Client, tmp_path: Path) -> None:
    art = write_cancer_artifact(tmp_path / "a", lineage={"job": "cancer-lr", "algorithm": "logistic-regression",
                                                         "hyperparameters": {"C": 1.0}})
    v1 = client.models.import_(art, "cancer")
    v2 = client.models.import_(write_cancer_artifact(tmp_path / "b", kind="lr-c"), "cancer", description="smaller C")
    assert (v1.ref, v2.ref) == ("cancer:1", "cancer:2")
    assert v1.approval == "PendingManualApproval" and v1.problem_type == "binary_classification"
    assert v1.signature["labels"] == ["benign", "malignant"] and len(v1.signature["inputs"]) == 30
    assert v1.lineage["job"] == "cancer-lr" and v1.metrics == {"validation:accuracy": 0.97}
    assert client.models.get("cancer").version == 2 and client.models.get("cancer:latest").version == 2

    assert client.models.approve("cancer:1", reason="good recall").approval == "Approved"
    assert client.models.reject("cancer:2").approval == "Rejected"
    client.models.alias("cancer", "production", 1)
    client.models.alias("cancer", "production", 2)
    client.models.alias("cancer", "staging", 1)
    assert client.models.get("cancer@production").ref == "cancer:2"
    assert client.models.get("cancer:1").aliases == ["staging"]
    moves = [(e.alias, e.from_value, e.to_value) for e in client.models.history("cancer", alias="production")]
    assert moves == [("production", None, "1"), ("production", "1", "2")]
    kinds = [e.kind for e in client.models.history("cancer")]
    assert kinds == ["register", "register", "approval", "approval", "alias", "alias", "alias"]
    listed = client.models.list().items
    assert [(m.name, m.versions, m.aliases) for m in listed] == [("cancer", 2, {"production": 2, "staging": 1})]

    with pytest.raises(NotFound, match=r"Versions of 'cancer': 1, 2"):
        client.models.get("cancer:7")
    with pytest.raises(NotFound, match=r"no alias 'prod'. Aliases of 'cancer': production, staging"):
        client.models.get("cancer@prod")
    with pytest.raises(NotFound, match="Register it first"):
        client.models.get("nothing:1")
    with pytest.raises(NotFound):
        client.models.alias("cancer", "production", 9)
    with pytest.raises(InvalidArgument, match="reserved"):
        client.models.alias("cancer", "latest", 1)
    with pytest.raises(Conflict, match="holds alias staging"):
        client.models.delete("cancer:1")
    assert client.models.delete("cancer:1", force=True).ref == "cancer:1"
    assert client.models.get("cancer:2").version == 2


def test_import_joblib_and_sagemaker_tar(client: Client, tmp_path: Path) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    path = tmp_path / "churn.joblib"
    X = np.random.default_rng(0).normal(size=(60, 4))
    joblib.dump(LogisticRegression().fit(X, ["stay", "leave", "stay"] * 20), path)
    v = client.models.import_(path, "churn", framework="sklearn")
    assert (v.framework, v.problem_type, v.signature["labels"]) == ("sklearn", "binary_classification",
                                                                    ["leave", "stay"])
    assert [i["name"] for i in v.signature["inputs"]] == ["f0", "f1", "f2", "f3"]

    named = tmp_path / "named.pkl"
    joblib.dump(cancer_model("lr"), named)
    assert client.models.import_(named, "cancer").signature["inputs"][0]["name"] == "mean_radius"

    sm = custom_tar(tmp_path / "model.tar.gz", """
        def model_fn(model_dir):
            return 2.0
        def predict_fn(data, model):
            return [model * x for x in data]
    """, {"weights.bin": b"\x00\x01"})
    h = client.models.import_(sm, "housing")
    assert (h.ref, h.framework, h.problem_type) == ("housing:1", "custom", None)

    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model")
    with pytest.raises(InvalidArgument, match="neither a folder, a tar.gz nor a .joblib"):
        client.models.import_(junk, "junk")
    bad_pickle = tmp_path / "bad.joblib"
    bad_pickle.write_bytes(b"garbage")
    with pytest.raises(InvalidArgument, match="Cannot load .*joblib"):
        client.models.import_(bad_pickle, "junk")
    with pytest.raises(InvalidArgument, match="Framework 'pytorch'"):
        client.models.import_(path, "junk", framework="pytorch")
    assert [m.name for m in client.models.list().items] == ["cancer", "churn", "housing"]


def test_export_then_import_restores_byte_identical(client: Client, tmp_path: Path) -> None:
    client.models.import_(write_cancer_artifact(tmp_path / "a"), "cancer")
    first = client.models.export("cancer:1", tmp_path / "backup.tar.gz")
    assert sha(first) == client.models.get("cancer:1").sha256
    restored = client.models.import_(first, "cancer-restored")
    again = client.models.export(restored.ref, tmp_path / "again.tar.gz")
    assert sha(again) == sha(first) == restored.sha256
    assert restored.signature == client.models.get("cancer:1").signature


def test_lineage_protects_dataset_versions(client: Client, make_csv, tmp_path: Path) -> None:
    ds = client.datasets.push("cancer-data", make_csv(), label="label").version
    client.models.import_(write_cancer_artifact(tmp_path / "a", lineage={"datasets": {"train": ds.ref}}), "cancer")
    with pytest.raises(Conflict, match="used by model_version cancer:1"):
        client.datasets.delete(ds.ref)
    client.models.delete("cancer:1")
    client.datasets.delete(ds.ref)


def test_cli_models(cli, tmp_path: Path) -> None:
    art = write_cancer_artifact(tmp_path / "a")
    r = cli("models", "import", str(art), "--name", "cancer", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ref"] == "cancer:1"
    assert cli("models", "approve", "cancer:1").returncode == 0
    r = cli("models", "alias", "cancer", "production", "1")
    assert r.returncode == 0 and "cancer@production -> cancer:1" in r.stdout
    shown = json.loads(cli("models", "show", "cancer@production", "-o", "json").stdout)
    assert (shown["ref"], shown["approval"], shown["aliases"]) == ("cancer:1", "Approved", ["production"])
    history = json.loads(cli("models", "history", "cancer", "-o", "json").stdout)
    assert history[-1]["alias"] == "production" and history[-1]["to"] == "1"
    listed = cli("models", "list")
    assert "cancer" in listed.stdout and "production" in listed.stdout
    r = cli("models", "export", "cancer:1", str(tmp_path / "b.tar.gz"), "-o", "json")
    assert json.loads(r.stdout)["sha256"] == sha(tmp_path / "b.tar.gz")
    r = cli("models", "show", "cancer:5")
    assert r.returncode == 1 and "Error: Model version 'cancer:5' not found" in r.stderr


def test_register_from_job_records_the_job_and_its_datasets(platform, tmp_path: Path) -> None:
    """The entry point the training branch calls for `slipway models register JOB --name X`."""
    from sqlalchemy import select

    from slipway.artifacts import pack_artifact
    from slipway.db.models import Reference

    art = write_cancer_artifact(tmp_path / "job-model", lineage={"datasets": {"train": "cancer:1"}})
    tar = tmp_path / "model.tar.gz"
    pack_artifact(art, tar)
    v = platform.registry.register_from_job("cancer", "cancer-lr", tar, "alice",
                                            extra_lineage={"hyperparameters": {"C": 0.5}})
    assert (v.ref, v.source, v.created_by) == ("cancer:1", {"kind": "job", "job": "cancer-lr"}, "alice")
    assert v.lineage == {"datasets": {"train": "cancer:1"}, "hyperparameters": {"C": 0.5}, "job": "cancer-lr"}
    with platform.db.session() as s:
        refs = {(r.target_kind, r.target_id, r.role) for r in s.execute(
            select(Reference).where(Reference.source_id == "cancer:1")).scalars()}
    assert refs == {("dataset_version", "cancer:1", "train"), ("job", "cancer-lr", "created_by")}
    with pytest.raises(InvalidArgument, match="job name"):
        platform.registry.register_from_job("cancer", "bad/job", tar)

    empty = tmp_path / "empty-model"
    (empty / "sub").mkdir(parents=True)  # folders, but no file
    pack_artifact(empty, tmp_path / "empty.tar.gz")
    for artifact in (empty, tmp_path / "empty.tar.gz"):
        with pytest.raises(InvalidArgument) as info:
            platform.registry.register_from_job("cancer", "empty-job", artifact)
        assert info.value.status_code == 400
        assert info.value.message.startswith("The model of job 'empty-job' is empty: nothing to register. "
                                             "Expected the files the job saved in its model folder (SM_MODEL_DIR)")
        assert info.value.details == {"field": "source", "value": "empty-job",
                                      "expected": "a model file in the job's model folder"}
