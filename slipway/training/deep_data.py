"""Datasets for the built-in networks: image folders and npz arrays as pixels, text folders as token ids.

A channel folder may hold the dataset itself (one subfolder per class), a single
`.npz` file, or one folder wrapping either; `find_dataset` works out which.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slipway.artifacts.preprocessing import TOKEN_PATTERN, Vocabulary, to_pixels, tokenize
from slipway.data.folders import IMAGE_EXTENSIONS, iter_folder_files
from slipway.errors import InvalidArgument

__all__ = [
    "TOKEN_PATTERN",
    "ImageData",
    "TextData",
    "Vocabulary",
    "find_dataset",
    "load_image_dataset",
    "load_text_dataset",
    "read_idx",
    "tokenize",
]



@dataclass
class ImageData:
    x: np.ndarray  # float32 [N, H, W, C], raw pixel values
    y: np.ndarray  # int64 [N], index into labels
    labels: list[str]
    value_max: float  # 255 for image files, the largest training value for arrays


@dataclass
class TextData:
    texts: list[str]
    y: np.ndarray
    labels: list[str]


def _children(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if not p.name.startswith("."))


_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """An array in MNIST's IDX format (`train-images-idx3-ubyte`, optionally gzipped)."""
    import gzip

    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        raise InvalidArgument(
            f"'{path.name}' is not an IDX file: expected the MNIST format (magic 0x0000, a type byte, dimensions).",
            {"field": "data", "value": path.name, "expected": "IDX"},
        )
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    body = raw[4 + 4 * ndim :]
    if len(body) != dtype.itemsize * int(np.prod(dims)):
        raise InvalidArgument(f"IDX file '{path.name}' is truncated: its header says {dims}.", {"field": "data"})
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_pair(folder: Path) -> tuple[Path, Path] | None:
    """The images and labels IDX files of a folder, preferring the training pair ('train-…')."""
    files = [f for f in _children(folder) if f.is_file()]
    images = [f for f in files if "idx3" in f.name]
    labels = [f for f in files if "idx1" in f.name]
    if not images or not labels:
        return None
    pick = [f for f in images if "train" in f.name] or images
    image = pick[0]
    prefix = image.name.split("-")[0]
    label = next((f for f in labels if f.name.split("-")[0] == prefix), labels[0])
    return image, label


def find_dataset(path: Path | str) -> tuple[str, Path]:
    """Return (layout, path) with layout 'npz', 'idx', 'image-folder' or 'text-folder'."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return "npz", path
        raise InvalidArgument(
            f"Dataset file '{path.name}' is not an npz archive: the built-in networks expect an image folder, "
            "a text folder (one subfolder per class) or an npz file with arrays x and y.",
            {"field": "data", "value": path.name, "expected": "image folder, text folder or .npz"},
        )
    if not path.is_dir():
        raise InvalidArgument(f"Dataset path '{path}' does not exist.", {"field": "data", "value": str(path)})
    children = _children(path)
    files = [c for c in children if c.is_file()]
    dirs = [c for c in children if c.is_dir()]
    npz = [f for f in files if f.suffix.lower() == ".npz"]
    if not dirs and len(npz) == 1:
        return "npz", npz[0]
    if _idx_pair(path) is not None:
        return "idx", path
    if len(dirs) == 1 and not files and all(c.is_dir() for c in _children(dirs[0])) and _children(dirs[0]):
        return find_dataset(dirs[0])  # a folder wrapping the dataset
    if not dirs:
        raise InvalidArgument(
            f"Dataset folder '{path.name}' has no class subfolders and no .npz file: expected one subfolder "
            "per class (e.g. 'cat/001.png', 'dog/001.png'), an npz file with arrays x and y, or MNIST's IDX "
            "files.",
            {"field": "data", "value": str(path.name), "expected": "one subfolder per class"},
        )
    sample = [f for d in dirs for f in list(iter_folder_files(d))[:5]]
    images = sum(f.suffix.lower() in IMAGE_EXTENSIONS for f in sample)
    return ("image-folder" if sample and images * 2 >= len(sample) else "text-folder"), path


def _class_files(path: Path, images: bool) -> list[tuple[str, Path]]:
    out = []
    for class_dir in _children(path):
        if not class_dir.is_dir():
            continue
        for f in iter_folder_files(class_dir):
            if not images or f.suffix.lower() in IMAGE_EXTENSIONS:
                out.append((class_dir.name, f))
    return out


def _check_classes(found: Iterable[str], where: str, labels: Sequence[str] | None) -> list[str]:
    classes = sorted(set(found))
    if labels is None:
        if len(classes) < 2:
            raise InvalidArgument(
                f"The training data in '{where}' has {len(classes)} class"
                f"{'' if len(classes) == 1 else 'es'} ({', '.join(repr(c) for c in classes) or 'none'}); "
                "a classifier needs at least two: add a subfolder (or label value) per class.",
                {"field": "data", "value": classes, "expected": "at least two classes"},
            )
        return classes
    unknown = sorted(set(classes) - set(labels))
    if unknown:
        raise InvalidArgument(
            f"The validation data in '{where}' has classes the training data lacks: {', '.join(unknown)}; "
            f"expected only {', '.join(labels)}.",
            {"field": "validation", "value": unknown, "expected": list(labels)},
        )
    return list(labels)


def _open_image(path: Path) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidArgument(
            f"Image file '{path.parent.name}/{path.name}' cannot be read ({exc}); expected a PNG, JPEG, BMP, "
            "GIF or WebP image.",
            {"field": "data", "value": path.name, "expected": "an image file"},
        ) from exc


def _is_gray(img: Any) -> bool:
    return img.mode in ("1", "L", "LA", "I", "I;16", "F")


def load_image_dataset(
    path: Path | str,
    image_size: int = 0,
    shape: tuple[int, int, int] | None = None,
    labels: Sequence[str] | None = None,
) -> ImageData:
    """Load an image folder or npz arrays; `shape`/`labels` come from training when loading validation."""
    layout, path = find_dataset(path)
    if layout == "text-folder":
        raise InvalidArgument(
            f"Dataset '{path.name}' holds text files, not images: image-classifier expects an image folder "
            "or an npz file with arrays x and y; use sequence-classifier for text.",
            {"field": "data", "value": path.name, "expected": "images"},
        )
    if layout in ("npz", "idx"):
        return _load_arrays(path, layout, shape, labels)
    pairs = _class_files(path, images=True)
    names = _check_classes((c for c, _ in pairs), path.name, labels)
    images = [_open_image(f) for _, f in pairs]
    if shape is None:
        channels = 1 if all(_is_gray(i) for i in images) else 3
        if image_size:
            height = width = image_size
        else:
            (width, height), _ = Counter(i.size for i in images).most_common(1)[0]
        shape = (height, width, channels)
    x = np.stack([to_pixels(i, *shape) for i in images]) if images else np.zeros((0, *shape), np.float32)
    index = {name: i for i, name in enumerate(names)}
    y = np.array([index[c] for c, _ in pairs], dtype=np.int64)
    return ImageData(x=x, y=y, labels=names, value_max=255.0)


def _load_arrays(path: Path, layout: str, shape: tuple[int, int, int] | None,
                 labels: Sequence[str] | None) -> ImageData:
    if layout == "idx":
        pair = _idx_pair(path)
        assert pair is not None
        x, y_raw = read_idx(pair[0]), read_idx(pair[1])
        return _from_arrays(path, x, y_raw, shape, labels)
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            xk, yk = ("x", "y") if {"x", "y"} <= keys else ("x_train", "y_train")
            if not {xk, yk} <= keys:
                raise InvalidArgument(
                    f"npz file '{path.name}' has arrays {', '.join(sorted(keys)) or 'none'}; expected arrays 'x' "
                    "(images) and 'y' (labels).",
                    {"field": "data", "value": sorted(keys), "expected": ["x", "y"]},
                )
            x, y_raw = np.asarray(archive[xk]), np.asarray(archive[yk])
    except (ValueError, OSError) as exc:
        raise InvalidArgument(f"npz file '{path.name}' cannot be read ({exc}).", {"field": "data"}) from exc
    return _from_arrays(path, x, y_raw, shape, labels)


def _from_arrays(path: Path, x: np.ndarray, y_raw: np.ndarray, shape: tuple[int, int, int] | None,
                 labels: Sequence[str] | None) -> ImageData:
    if x.dtype.kind not in "uif" or len(x) != len(y_raw) or y_raw.ndim != 1:
        raise InvalidArgument(
            f"Dataset '{path.name}' must hold numeric images x [N, H, W] or [N, H, W, C] and labels y [N]; "
            f"got x {list(x.shape)} of {x.dtype} and y {list(y_raw.shape)}.",
            {"field": "data", "expected": "x [N, H, W(, C)] numeric, y [N]"},
        )
    if x.ndim == 2:  # flat rows: square images
        side = int(round(np.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise InvalidArgument(
                f"Dataset '{path.name}' has flat rows of {x.shape[1]} values, which is not a square image; "
                "expected x of shape [N, H, W] or [N, H, W, C].",
                {"field": "data", "value": list(x.shape), "expected": "[N, H, W] or [N, H, W, C]"},
            )
        x = x.reshape(len(x), side, side)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[3] not in (1, 3):
        raise InvalidArgument(
            f"Dataset '{path.name}' has x of shape {list(x.shape)}; expected [N, H, W] or [N, H, W, C] with "
            "C 1 or 3.",
            {"field": "data", "value": list(x.shape), "expected": "[N, H, W] or [N, H, W, C]"},
        )
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise InvalidArgument(
            f"Validation images in '{path.name}' have shape {list(x.shape[1:])}; the training images have "
            f"{list(shape)}.",
            {"field": "validation", "value": list(x.shape[1:]), "expected": list(shape)},
        )
    found = [str(v) for v in y_raw.tolist()]
    names = _check_classes(found, path.name, labels)
    if labels is None and y_raw.dtype.kind in "iu":  # numeric order: "2" before "10"
        names = [str(v) for v in sorted(set(y_raw.tolist()))]
    index = {name: i for i, name in enumerate(names)}
    y = np.array([index[v] for v in found], dtype=np.int64)
    x = x.astype(np.float32)
    return ImageData(x=x, y=y, labels=names, value_max=float(x.max()) if x.size and x.max() > 0 else 1.0)


def load_text_dataset(path: Path | str, labels: Sequence[str] | None = None) -> TextData:
    layout, path = find_dataset(path)
    if layout != "text-folder":
        raise InvalidArgument(
            f"Dataset '{path.name}' is {'an image folder' if layout == 'image-folder' else 'image arrays (' + layout + ')'}, not "
            "text: sequence-classifier expects a text folder with one subfolder per class; use "
            "image-classifier for images.",
            {"field": "data", "value": path.name, "expected": "text folder"},
        )
    pairs = _class_files(path, images=False)
    names = _check_classes((c for c, _ in pairs), path.name, labels)
    index = {name: i for i, name in enumerate(names)}
    texts = [f.read_text(encoding="utf-8", errors="replace") for _, f in pairs]
    return TextData(texts=texts, y=np.array([index[c] for c, _ in pairs], dtype=np.int64), labels=names)
