"""Instances -> network inputs for the built-in image and text models (pixels, token ids), shared by
training and serving so both prepare inputs alike.

An image instance is a nested array of pixels (the model's shape, or flat), or a base64
PNG/JPEG string (optionally a `data:` URL, or `{"b64": ...}`); a text instance is a
string. Anything else is an InvalidArgument that names the instance and the expected shape.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from slipway.errors import InvalidArgument

__all__ = ["TOKEN_PATTERN", "Vocabulary", "as_instances", "decode_images", "decode_texts", "to_pixels", "tokenize"]

TOKEN_PATTERN = r"[a-z0-9]+(?:'[a-z]+)?"
_TOKEN = re.compile(TOKEN_PATTERN)
PAD, UNKNOWN = 0, 1


def as_instances(inputs: Any) -> list[Any]:
    """The request's instances as a list; a bare string is one instance."""
    if isinstance(inputs, (str, bytes, dict)):
        return [inputs]
    if isinstance(inputs, np.ndarray):
        return list(inputs) if inputs.ndim else [inputs.item()]
    if isinstance(inputs, (list, tuple)):
        if not inputs:
            raise InvalidArgument(
                "The request has no instances; expected at least one.", {"field": "instances", "value": []}
            )
        return list(inputs)
    raise InvalidArgument(
        f"The request's instances are a {type(inputs).__name__}; expected a list of instances.",
        {"field": "instances", "expected": "a list"},
    )


def _expected_image(shape: Sequence[int]) -> str:
    return (
        f"an image of shape {list(shape)} (nested arrays of numbers, or {math.prod(shape)} flat values) "
        "or a base64-encoded PNG/JPEG string"
    )


def _bad(index: int, problem: str, shape: Sequence[int], value: Any = None) -> InvalidArgument:
    return InvalidArgument(
        f"Instance {index} {problem}; this image model expects {_expected_image(shape)}.",
        {"field": f"instances[{index}]", "expected": {"input_shape": list(shape)},
         **({"value": value} if value is not None else {})},
    )


def _from_encoded(index: int, text: str, shape: Sequence[int], value_max: float) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    data = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            height, width = shape[0], shape[1]
            channels = shape[2] if len(shape) == 3 else 1
            pixels = to_pixels(img, height, width, channels)
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise _bad(index, "is a string that is not a base64-encoded PNG or JPEG image (text sent to an "
                   "image model?)", shape, shown) from None
    return pixels * np.float32(value_max / 255.0)


_ALL_NUMBERS = object()


def _first_non_number(value: Any) -> Any:
    """The first leaf that is not a number (bools included), or _ALL_NUMBERS."""
    if isinstance(value, (list, tuple)):
        for item in value:
            found = _first_non_number(item)
            if found is not _ALL_NUMBERS:
                return found
        return _ALL_NUMBERS
    if isinstance(value, np.ndarray):
        return _ALL_NUMBERS if value.dtype.kind in "iuf" else _first_non_number(value.tolist())
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return value
    return _ALL_NUMBERS


def _from_array(index: int, value: Any, shape: Sequence[int]) -> np.ndarray:
    bad = _first_non_number(value)
    if bad is not _ALL_NUMBERS:
        shown = bad if isinstance(bad, (str, int, float)) or bad is None else type(bad).__name__
        raise _bad(index, f"has pixel values that are not numbers (found {shown!r})", shape, shown)
    try:
        arr = np.asarray(value)
    except ValueError:
        arr = None
    if arr is None or arr.dtype.kind not in "iuf":
        raise _bad(index, "is a ragged nested array (rows of different lengths)", shape)
    hwc = tuple(shape) if len(shape) == 3 else (shape[0], shape[1], 1)
    if arr.shape == hwc or (arr.ndim == 1 and arr.size == math.prod(hwc)):
        out = arr.reshape(hwc)
    elif arr.shape == tuple(shape) or (len(shape) == 2 and arr.shape == (1, *shape)):
        out = arr.reshape(hwc)
    else:
        raise _bad(index, f"has shape {list(arr.shape)}", shape, list(arr.shape))
    out = out.astype(np.float32)
    if not np.isfinite(out).all():
        raise _bad(index, "has pixel values that are NaN or infinite", shape)
    return out


def decode_images(inputs: Any, input_shape: Sequence[int], value_max: float = 255.0) -> np.ndarray:
    """Instances → float32 [N, H, W, C] raw pixels (0..value_max), checked against `input_shape`.

    `input_shape` is [H, W] for grayscale models and [H, W, C] for colour ones. A lone
    image (a nested array of exactly that shape) is accepted as a batch of one.
    """
    shape = [int(s) for s in input_shape]
    if isinstance(inputs, (list, np.ndarray)) and not isinstance(inputs, str):
        try:
            whole = np.asarray(inputs)
        except ValueError:
            whole = None
        if whole is not None and whole.dtype.kind in "iuf" and list(whole.shape) == shape:
            inputs = [whole]
    rows = []
    for i, inst in enumerate(as_instances(inputs)):
        if isinstance(inst, dict) and isinstance(inst.get("b64"), str):
            inst = inst["b64"]
        if isinstance(inst, bytes):
            inst = inst.decode("ascii", errors="replace")
        if isinstance(inst, str):
            rows.append(_from_encoded(i, inst, shape, value_max))
        elif isinstance(inst, dict):
            raise _bad(i, f"is an object with keys {sorted(inst)}", shape)
        else:
            rows.append(_from_array(i, inst, shape))
    return np.stack(rows)


def decode_texts(inputs: Any) -> list[str]:
    """Instances → strings; `{"text": ...}` objects are accepted too."""
    texts = []
    for i, inst in enumerate(as_instances(inputs)):
        if isinstance(inst, dict) and isinstance(inst.get("text"), str):
            inst = inst["text"]
        if isinstance(inst, np.str_):
            inst = str(inst)
        if not isinstance(inst, str):
            kind = "an array" if isinstance(inst, (list, tuple, np.ndarray)) else f"a {type(inst).__name__}"
            raise InvalidArgument(
                f"Instance {i} is {kind}; this text model expects a string per instance, "
                'e.g. {"instances": ["great product"]}.',
                {"field": f"instances[{i}]", "expected": "a string"},
            )
        texts.append(inst)
    return texts


def to_pixels(img: Any, height: int, width: int, channels: int) -> np.ndarray:
    """A PIL image as float32 [H, W, C] in 0..255, converted and resized to the given shape."""
    from PIL import Image

    img = img.convert("L" if channels == 1 else "RGB")
    if img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32)
    return arr.reshape(height, width, channels)


def tokenize(text: str) -> list[str]:
    """Lower-case words and numbers, keeping English contractions ("don't") whole."""
    return _TOKEN.findall(text.lower())


class Vocabulary:
    """Token → id, built from training texts; 0 is padding, 1 stands for unknown tokens."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = list(tokens)
        self.index = {t: i + 2 for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, texts: Iterable[str], max_vocab: int = 20000, min_count: int = 1) -> Vocabulary:
        counts = Counter(t for text in texts for t in tokenize(text))
        ranked = sorted((c for c in counts.items() if c[1] >= min_count), key=lambda kv: (-kv[1], kv[0]))
        return cls([t for t, _ in ranked[: max(0, max_vocab - 2)]])

    def __len__(self) -> int:
        return len(self.tokens) + 2

    def encode(self, texts: Sequence[str], max_length: int) -> np.ndarray:
        """int64 [N, L] ids padded with 0 at the end; L is the longest text, at most max_length."""
        rows = [[self.index.get(t, UNKNOWN) for t in tokenize(text)][:max_length] or [UNKNOWN] for text in texts]
        out = np.zeros((len(rows), max((len(r) for r in rows), default=1)), dtype=np.int64)
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
        return out

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"padding": PAD, "unknown": UNKNOWN, "tokens": self.tokens}, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        return cls(json.loads(path.read_text())["tokens"])
