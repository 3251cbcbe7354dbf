"""Tests for the demo workspace files: contents, stable bytes, a learnable corpus."""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from slipway.demo import DemoDataset, build_demo_files

# The corpus as shipped with the package, wherever it is installed.
CORPUS = Path(str(resources.files("slipway.demo").joinpath("corpus", "reviews")))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DemoDataset]:
    datasets = build_demo_files(tmp_path_factory.mktemp("demo"))
    return {d.name: d for d in datasets}


def checksums(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def read_corpus(root: Path) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for path in sorted(root.glob("*/*.txt")):
        texts.append(path.read_text(encoding="utf-8").strip())
        labels.append(path.parent.name)
    return texts, labels


def test_datasets_are_described(demo: dict[str, DemoDataset]) -> None:
    formats = {name: d.format for name, d in demo.items()}
    assert formats == {
        "cancer": "csv",
        "iris": "csv",
        "diabetes": "csv",
        "digits": "image-folder",
        "digits-arrays": "npz",
        "reviews": "text-folder",
    }
    assert {name: d.label for name, d in demo.items() if d.format == "csv"} == {
        "cancer": "target",
        "iris": "species",
        "diabetes": "target",
    }
    for dataset in demo.values():
        assert dataset.path.exists()
        assert dataset.description


def test_cancer_has_named_features_and_class_names(demo: dict[str, DemoDataset]) -> None:
    frame = pd.read_csv(demo["cancer"].path)
    assert frame.shape == (569, 31)
    assert "mean_radius" in frame.columns
    assert "worst_concave_points" in frame.columns
    assert all(re.fullmatch(r"[a-z0-9_]+", column) for column in frame.columns)
    assert frame["target"].value_counts().to_dict() == {"benign": 357, "malignant": 212}
    assert frame.drop(columns="target").notna().all().all()


def test_iris_has_species_names(demo: dict[str, DemoDataset]) -> None:
    frame = pd.read_csv(demo["iris"].path)
    assert frame.shape == (150, 5)
    assert list(frame.columns)[:2] == ["sepal_length_cm", "sepal_width_cm"]
    assert sorted(frame["species"].unique()) == ["setosa", "versicolor", "virginica"]


def test_diabetes_has_numeric_target(demo: dict[str, DemoDataset]) -> None:
    frame = pd.read_csv(demo["diabetes"].path)
    assert frame.shape == (442, 11)
    assert pd.api.types.is_numeric_dtype(frame["target"])
    assert frame["target"].between(25, 346).all()


def test_digits_folder_holds_one_png_per_image(demo: dict[str, DemoDataset]) -> None:
    root = demo["digits"].path
    assert sorted(p.name for p in root.iterdir()) == [str(d) for d in range(10)]
    files = sorted(root.glob("*/*.png"))
    assert len(files) == 1797
    assert all(re.fullmatch(r"\d{5}\.png", f.name) for f in files)

    arrays = np.load(demo["digits-arrays"].path)
    first = root / str(int(arrays["y"][0])) / "00000.png"
    with Image.open(first) as image:
        assert image.mode == "L"
        assert image.size == (8, 8)
        pixels = np.asarray(image)
    np.testing.assert_array_equal(pixels, np.rint(arrays["x"][0] * 255 / 16))


def test_digits_arrays(demo: dict[str, DemoDataset]) -> None:
    with np.load(demo["digits-arrays"].path) as arrays:
        x, y = arrays["x"], arrays["y"]
    assert x.shape == (1797, 8, 8)
    assert x.dtype == np.float32
    assert 0 <= x.min() and x.max() == 16
    assert y.dtype == np.int64
    assert sorted(set(y.tolist())) == list(range(10))


def test_reviews_are_copied_from_the_corpus(demo: dict[str, DemoDataset]) -> None:
    assert checksums(demo["reviews"].path) == checksums(CORPUS)


def test_building_twice_gives_identical_bytes(tmp_path: Path) -> None:
    build_demo_files(tmp_path / "a")
    first = checksums(tmp_path / "a")
    build_demo_files(tmp_path / "b")
    build_demo_files(tmp_path / "a")  # again in place: no leftovers either
    assert checksums(tmp_path / "b") == first
    assert checksums(tmp_path / "a") == first
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]


def test_total_size_is_small(demo: dict[str, DemoDataset]) -> None:
    root = demo["cancer"].path.parent
    assert sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) < 2_000_000


def test_corpus_has_two_classes_and_no_duplicates() -> None:
    texts, labels = read_corpus(CORPUS)
    counts = {label: labels.count(label) for label in set(labels)}
    assert set(counts) == {"positive", "negative"}
    assert min(counts.values()) >= 100
    assert len(set(texts)) == len(texts)
    assert all(5 <= len(text.split()) <= 40 for text in texts)


def test_corpus_is_learnable_but_not_trivial() -> None:
    texts, labels = read_corpus(CORPUS)
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    score = cross_val_score(model, texts, labels, cv=folds).mean()
    assert 0.75 <= score <= 0.99
