"""The model artifact contract: manifest checks, deterministic packing, inferring a scikit-learn signature."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression, LogisticRegression

from slipway.artifacts import Manifest, pack_artifact, unpack_artifact
from slipway.artifacts.flavors.sklearn import describe_estimator, save_sklearn_artifact
from slipway.errors import InvalidArgument
from tests.support.models import cancer_model, write_cancer_artifact


def test_saved_artifact_follows_the_contract(tmp_path: Path) -> None:
    folder = write_cancer_artifact(tmp_path / "a", lineage={"job": "j1", "datasets": {"train": "cancer:1"}})
    m = Manifest.read(folder)
    assert m.framework == "sklearn" and m.model_file == "model.joblib"
    assert m.problem_type == "binary_classification"
    assert m.signature.labels == ["benign", "malignant"]
    assert m.signature.names[:2] == ["mean_radius", "mean_texture"]
    assert len(m.signature.inputs) == 30
    assert m.lineage["datasets"] == {"train": "cancer:1"}
    assert Manifest.from_dict(m.to_dict(), folder) == m  # the dict round trip loses nothing


def test_packing_is_deterministic(tmp_path: Path) -> None:
    folder = write_cancer_artifact(tmp_path / "a")
    pack_artifact(folder, tmp_path / "1.tar.gz")
    (folder / "slipway-model.json").touch()  # a new mtime must not change the bytes
    pack_artifact(folder, tmp_path / "2.tar.gz")
    digest = [hashlib.sha256((tmp_path / f"{i}.tar.gz").read_bytes()).hexdigest() for i in (1, 2)]
    assert digest[0] == digest[1]
    unpack_artifact(tmp_path / "1.tar.gz", tmp_path / "out")
    assert Manifest.read(tmp_path / "out").signature == Manifest.read(folder).signature


def test_describe_estimator_infers_labels_and_signature() -> None:
    X = np.random.default_rng(0).normal(size=(40, 3))
    info = describe_estimator(LogisticRegression().fit(X, ["a", "b", "c", "d"] * 10))
    assert info["problem_type"] == "multiclass_classification" and info["labels"] == ["a", "b", "c", "d"]
    assert [i["name"] for i in info["inputs"]] == ["f0", "f1", "f2"]
    assert describe_estimator(LinearRegression().fit(X, X[:, 0]))["problem_type"] == "regression"
    assert describe_estimator(KMeans(n_clusters=2, n_init=2).fit(X))["problem_type"] == "clustering"
    assert describe_estimator(cancer_model("lr"))["labels"] == ["benign", "malignant"]
    with pytest.raises(InvalidArgument, match="not a fitted scikit-learn estimator"):
        describe_estimator(object())


@pytest.mark.parametrize("change, match", [
    ({"framework": "tensorflow"}, "'framework' has value 'tensorflow'"),
    ({"problem_type": "ranking"}, "'problem_type'"),
    ({"signature": {"input_kind": "video"}}, "input_kind"),
    ({"signature": {"inputs": [{"name": "a"}, {"name": "a"}]}}, "unique column names"),
    ({"signature": {"inputs": [{"name": "a"}], "labels": None}}, "signature.labels"),
    ({"model_file": "../etc/passwd"}, "model_file"),
    ({"lineage": {"datasets": ["cancer:1"]}}, "lineage.datasets"),
    ({"entry_point": "../train.py"}, "entry_point"),
    ({"entry_point": "train.sh"}, "entry_point"),
])
def test_manifest_errors_name_the_field(tmp_path: Path, change: dict, match: str) -> None:
    folder = write_cancer_artifact(tmp_path / "a")
    manifest = json.loads((folder / "slipway-model.json").read_text())
    manifest.update(change)
    with pytest.raises(InvalidArgument, match=match):
        Manifest.from_dict(manifest, folder)


def test_a_tar_with_links_is_refused(tmp_path: Path) -> None:
    import tarfile

    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        info = tarfile.TarInfo("model.joblib")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(InvalidArgument, match="link"):
        unpack_artifact(bad, tmp_path / "out")
    with pytest.raises(InvalidArgument, match="not a readable tar.gz"):
        (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8bjunk")
        unpack_artifact(tmp_path / "junk.tar.gz", tmp_path / "out2")


def test_feature_names_must_match(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="feature_names has 2 names"):
        save_sklearn_artifact(cancer_model("lr"), tmp_path / "x", feature_names=["a", "b"])
