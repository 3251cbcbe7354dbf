"""Datasets for the built-in networks: layouts found in a channel, images resized, text tokenised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from slipway.errors import InvalidArgument
from slipway.training.deep_data import (
    Vocabulary,
    find_dataset,
    load_image_dataset,
    load_text_dataset,
    tokenize,
)


def image(path: Path, size: tuple[int, int], mode: str = "L", value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 0, 0)).save(path)


def text(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def test_images_of_another_size_are_resized_to_the_most_common(tmp_path: Path) -> None:
    for i in range(3):
        image(tmp_path / "cat" / f"{i}.png", (6, 4))
    image(tmp_path / "dog" / "odd.png", (10, 10), value=255)
    data = load_image_dataset(tmp_path)
    assert data.x.shape == (4, 4, 6, 1) and data.labels == ["cat", "dog"]
    assert data.x[3].max() == 255.0 and data.value_max == 255.0
    assert data.y.tolist() == [0, 0, 0, 1]


def test_colour_images_give_three_channels_and_image_size_overrides(tmp_path: Path) -> None:
    image(tmp_path / "a" / "1.png", (8, 8), "RGB")
    image(tmp_path / "b" / "1.png", (8, 8), "L")
    data = load_image_dataset(tmp_path, image_size=4)
    assert data.x.shape == (2, 4, 4, 3)


def test_npz_in_a_channel_folder_and_a_wrapping_folder_are_found(tmp_path: Path) -> None:
    np.savez(tmp_path / "only.npz", x=np.zeros((4, 3, 3)), y=np.array([0, 1, 10, 2]))
    assert find_dataset(tmp_path) == ("npz", tmp_path / "only.npz")
    data = load_image_dataset(tmp_path)
    assert data.labels == ["0", "1", "2", "10"] and data.x.shape == (4, 3, 3, 1)
    text(tmp_path / "wrap" / "reviews" / "pos" / "1.txt", "good")
    text(tmp_path / "wrap" / "reviews" / "neg" / "1.txt", "bad")
    assert find_dataset(tmp_path / "wrap") == ("text-folder", tmp_path / "wrap" / "reviews")


def test_a_dataset_with_one_class_is_refused(tmp_path: Path) -> None:
    image(tmp_path / "imgs" / "only" / "1.png", (4, 4))
    with pytest.raises(InvalidArgument, match=r"has 1 class \('only'\); a classifier needs at least two"):
        load_image_dataset(tmp_path / "imgs")
    np.savez(tmp_path / "one.npz", x=np.zeros((3, 2, 2)), y=np.zeros(3, dtype=int))
    with pytest.raises(InvalidArgument, match="at least two"):
        load_image_dataset(tmp_path / "one.npz")


def test_wrong_kind_of_data_is_named(tmp_path: Path) -> None:
    text(tmp_path / "t" / "pos" / "1.txt", "good")
    text(tmp_path / "t" / "neg" / "1.txt", "bad")
    with pytest.raises(InvalidArgument, match="holds text files, not images"):
        load_image_dataset(tmp_path / "t")
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 2, 2)))
    with pytest.raises(InvalidArgument, match="expected arrays 'x'"):
        load_image_dataset(tmp_path / "bad.npz")
    image(tmp_path / "i" / "a" / "1.png", (4, 4))
    image(tmp_path / "i" / "b" / "1.png", (4, 4))
    with pytest.raises(InvalidArgument, match="not text: sequence-classifier"):
        load_text_dataset(tmp_path / "i")


def test_validation_classes_must_be_known(tmp_path: Path) -> None:
    text(tmp_path / "v" / "pos" / "1.txt", "good")
    text(tmp_path / "v" / "meh" / "1.txt", "so so")
    with pytest.raises(InvalidArgument, match="classes the training data lacks: meh"):
        load_text_dataset(tmp_path / "v", labels=["neg", "pos"])


def test_vocabulary_pads_truncates_and_marks_unknown_tokens(tmp_path: Path) -> None:
    assert tokenize("Don't BUY it, 10/10!") == ["don't", "buy", "it", "10", "10"]
    vocab = Vocabulary.build(["good good film", "bad film", "good"], max_vocab=4)
    assert vocab.tokens == ["good", "film"] and len(vocab) == 4
    ids = vocab.encode(["good film", "awful", "good good good film"], max_length=3)
    assert ids.tolist() == [[2, 3, 0], [1, 0, 0], [2, 2, 2]]
    vocab.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json").tokens == vocab.tokens


def write_idx(path: Path, array: np.ndarray) -> None:
    import gzip

    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes()))


def test_mnist_idx_files_pushed_as_a_folder_are_images(tmp_path: Path) -> None:
    from slipway.training.deep_data import read_idx

    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([5, 0, 4], dtype=np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images[:1])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([7], dtype=np.uint8))
    assert (read_idx(tmp_path / "train-images-idx3-ubyte.gz") == images).all()
    assert find_dataset(tmp_path) == ("idx", tmp_path)
    data = load_image_dataset(tmp_path)
    assert data.x.shape == (3, 28, 28, 1) and data.labels == ["0", "4", "5"] and data.y.tolist() == [2, 0, 1]
    (tmp_path / "broken-idx1").write_bytes(b"nope")
    with pytest.raises(InvalidArgument, match="is not an IDX file"):
        read_idx(tmp_path / "broken-idx1")
