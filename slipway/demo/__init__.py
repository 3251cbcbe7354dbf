"""Files for the demo workspace: small, real datasets ready to push.

`build_demo_files` writes the same bytes on every call, so pushing the demo
again is a no-op thanks to checksum deduplication.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DemoDataset", "build_demo_files"]

# Ten significant digits keep every value of the bundled datasets readable
# and make the bytes independent of numpy's repr heuristics.
_FLOAT_FORMAT = ".10g"

# Zip entries carry a timestamp; a fixed one keeps the .npz bytes stable.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class DemoDataset:
    """One dataset of the demo workspace, as written by `build_demo_files`."""

    name: str
    path: Path
    label: str | None
    format: str
    description: str


def build_demo_files(dest: Path) -> list[DemoDataset]:
    """Write the demo datasets under `dest` and describe them.

    Existing files of the same names are replaced; folders are rebuilt whole,
    so files left in them by earlier runs do not linger.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    return [
        _write_cancer(dest / "cancer.csv"),
        _write_iris(dest / "iris.csv"),
        _write_diabetes(dest / "diabetes.csv"),
        _write_digits_folder(dest / "digits"),
        _write_digits_arrays(dest / "digits.npz"),
        _write_reviews(dest / "reviews"),
    ]


def _write_cancer(path: Path) -> DemoDataset:
    from sklearn.datasets import load_breast_cancer

    bunch: Any = load_breast_cancer()
    classes = [str(name) for name in bunch.target_names]
    _write_table(
        path,
        [_snake_case(name) for name in bunch.feature_names],
        bunch.data,
        "target",
        [classes[int(i)] for i in bunch.target],
    )
    return DemoDataset(
        name="cancer",
        path=path,
        label="target",
        format="csv",
        description=(
            "Breast cancer diagnosis: 569 tumours, 30 measurements each; "
            "classify as malignant or benign."
        ),
    )


def _write_iris(path: Path) -> DemoDataset:
    from sklearn.datasets import load_iris

    bunch: Any = load_iris()
    classes = [str(name) for name in bunch.target_names]
    _write_table(
        path,
        [_snake_case(name) for name in bunch.feature_names],
        bunch.data,
        "species",
        [classes[int(i)] for i in bunch.target],
    )
    return DemoDataset(
        name="iris",
        path=path,
        label="species",
        format="csv",
        description=(
            "Iris flowers: 150 samples, 4 measurements each; "
            "classify as setosa, versicolor or virginica."
        ),
    )


def _write_diabetes(path: Path) -> DemoDataset:
    from sklearn.datasets import load_diabetes

    bunch: Any = load_diabetes()
    _write_table(
        path,
        [_snake_case(name) for name in bunch.feature_names],
        bunch.data,
        "target",
        [format(float(v), _FLOAT_FORMAT) for v in bunch.target],
    )
    return DemoDataset(
        name="diabetes",
        path=path,
        label="target",
        format="csv",
        description=(
            "Diabetes progression: 442 patients, 10 standardised measurements; "
            "regress a disease progression score one year later."
        ),
    )


def _write_digits_folder(folder: Path) -> DemoDataset:
    from PIL import Image

    images, targets = _load_digits()
    pixels = np.rint(images * (255.0 / 16.0)).astype(np.uint8)

    def fill(tmp: Path) -> None:
        for digit in range(10):
            (tmp / str(digit)).mkdir()
        for index, (image, digit) in enumerate(zip(pixels, targets)):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            (tmp / str(int(digit)) / f"{index:05d}.png").write_bytes(buffer.getvalue())

    _replace_folder(folder, fill)
    return DemoDataset(
        name="digits",
        path=folder,
        label=None,
        format="image-folder",
        description=(
            "Handwritten digits: 1,797 grayscale 8x8 images, "
            "one folder per digit 0-9."
        ),
    )


def _write_digits_arrays(path: Path) -> DemoDataset:
    images, targets = _load_digits()
    arrays = {
        "x": images.astype(np.float32),
        "y": targets.astype(np.int64),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    _write_bytes(path, buffer.getvalue())
    return DemoDataset(
        name="digits-arrays",
        path=path,
        label=None,
        format="npz",
        description=(
            "Handwritten digits as arrays: x holds 1,797 8x8 float32 images "
            "with values 0-16, y the digit."
        ),
    )


def _write_reviews(folder: Path) -> DemoDataset:
    corpus = resources.files(__name__).joinpath("corpus", "reviews")

    def fill(tmp: Path) -> None:
        for class_dir in _sorted_children(corpus):
            if not class_dir.is_dir():
                continue
            (tmp / class_dir.name).mkdir()
            for item in _sorted_children(class_dir):
                if item.is_file() and item.name.endswith(".txt"):
                    (tmp / class_dir.name / item.name).write_bytes(item.read_bytes())

    _replace_folder(folder, fill)
    return DemoDataset(
        name="reviews",
        path=folder,
        label=None,
        format="text-folder",
        description=(
            "Short English product and film reviews, one per file; "
            "classify as positive or negative."
        ),
    )


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch: Any = load_digits()
    return np.asarray(bunch.images), np.asarray(bunch.target)


def _snake_case(name: str) -> str:
    """Turn "mean radius" into "mean_radius", "sepal length (cm)" into "sepal_length_cm"."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _write_table(
    path: Path,
    columns: Sequence[str],
    features: np.ndarray,
    label: str,
    labels: Sequence[str],
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*columns, label])
    for row, value in zip(features, labels):
        writer.writerow([*(format(float(v), _FLOAT_FORMAT) for v in row), value])
    _write_bytes(path, buffer.getvalue().encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` all at once: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _replace_folder(folder: Path, fill: Callable[[Path], None]) -> None:
    """Build a folder beside `folder`, then swap it in; a failed build leaves no trace."""
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        fill(tmp)
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
        elif folder.exists() or folder.is_symlink():
            folder.unlink()
        tmp.chmod(0o755)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _sorted_children(folder: Traversable) -> list[Traversable]:
    return sorted(folder.iterdir(), key=lambda item: item.name)
