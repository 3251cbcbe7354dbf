"""Request instances for image and text models: what is accepted and what each bad input is told."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from slipway.artifacts.labels import label_rows
from slipway.artifacts.preprocessing import decode_images, decode_texts
from slipway.errors import InvalidArgument
from slipway.serving.payloads import decode_instances as decode_body


def png(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_nested_flat_and_single_images_are_accepted() -> None:
    img = np.arange(64).reshape(8, 8)
    x = decode_images([img.tolist(), img.ravel().tolist(), img[..., None].tolist()], [8, 8], 16)
    assert x.shape == (3, 8, 8, 1) and (x == img[None, ..., None]).all()
    assert decode_images(img.tolist(), [8, 8]).shape == (1, 8, 8, 1)  # one image, not a batch of rows
    assert decode_images(np.stack([img, img]), [8, 8]).shape == (2, 8, 8, 1)


def test_base64_png_is_decoded_resized_and_scaled_to_the_training_range() -> None:
    big = np.full((16, 16), 255)
    x = decode_images([png(big), "data:image/png;base64," + png(big), {"b64": png(big)}], [8, 8], 16.0)
    assert x.shape == (3, 8, 8, 1) and np.allclose(x, 16.0)
    rgb = decode_images([png(np.zeros((4, 4, 3)))], [4, 4, 3])
    assert rgb.shape == (1, 4, 4, 3)


def test_an_image_of_the_wrong_shape_names_the_expected_shape() -> None:
    with pytest.raises(InvalidArgument) as info:
        decode_images([np.zeros((8, 8)).tolist(), np.zeros((7, 7)).tolist()], [8, 8])
    assert info.value.message.startswith("Instance 1 has shape [7, 7]; this image model expects an image of shape "
                                         "[8, 8] (nested arrays of numbers, or 64 flat values)")
    assert info.value.details["expected"] == {"input_shape": [8, 8]}
    with pytest.raises(InvalidArgument, match=r"Instance 0 has shape \[28, 28\].*\[8, 8\]"):
        decode_images([np.zeros((28, 28)).tolist()], [8, 8])
    with pytest.raises(InvalidArgument, match="ragged"):
        decode_images([[[1, 2], [3]]], [2, 2])


def test_text_sent_to_an_image_model() -> None:
    with pytest.raises(InvalidArgument, match="Instance 0 is a string that is not a base64-encoded PNG or JPEG image"):
        decode_images(["what a lovely day"], [8, 8])


@pytest.mark.parametrize("bad", [[["1", 2], [3, 4]], [[None, 2], [3, 4]], [[True, 2], [3, 4]], [[{"a": 1}, 2], [3, 4]]])
def test_pixel_values_that_are_not_numbers(bad: list) -> None:
    with pytest.raises(InvalidArgument, match="Instance 0 has pixel values that are not numbers") as info:
        decode_images([bad], [2, 2])
    assert "[2, 2]" in info.value.message


def test_non_finite_pixels_and_empty_batches() -> None:
    with pytest.raises(InvalidArgument, match="NaN or infinite"):
        decode_images([[[float("nan"), 0], [0, 0]]], [2, 2])
    with pytest.raises(InvalidArgument, match="no instances"):
        decode_images([], [2, 2])


def test_text_instances_must_be_strings() -> None:
    assert decode_texts(["a", {"text": "b"}]) == ["a", "b"]
    assert decode_texts("just one") == ["just one"]
    with pytest.raises(InvalidArgument, match="Instance 1 is an array; this text model expects a string"):
        decode_texts(["fine", [0.1, 0.2]])


def test_bodies_and_predictions() -> None:
    assert decode_body(b'{"instances": [[1, 2]]}', "application/json") == [[1, 2]]
    assert decode_body(b'{"inputs": ["x"]}', "application/json; charset=utf-8") == ["x"]
    buffer = io.BytesIO()
    np.save(buffer, np.ones((2, 3)))
    assert decode_body(buffer.getvalue(), "application/x-npy").shape == (2, 3)
    assert decode_body(b"1,2\n3,4\n", "text/csv").tolist() == [[1, 2], [3, 4]]
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        decode_body(b"{nope", "application/json")
    with pytest.raises(InvalidArgument, match="Expected 'instances' or 'inputs'"):
        decode_body(b'{"data": 1}', "application/json")
    out = label_rows(np.array([[0.2, 0.8]]), ["neg", "pos"])
    assert out == [{"label": "pos", "confidence": 0.8, "probabilities": {"neg": 0.2, "pos": 0.8}}]


@pytest.mark.parametrize("body, ctype, match", [
    (b'{"instances": [[1, NaN]]}', "application/json", "NaN is not a number JSON allows"),
    (b'{"instances": [[1, Infinity]]}', "application/json", "Infinity is not a number JSON allows"),
    (b'{"instances": [[1, 1e999]]}', "application/json", "1e999 is too large for a float64"),
    (b"1,2\n3,-inf\n", "text/csv", "CSV row 2, column 1 has value -inf"),
])
def test_non_finite_numbers_in_any_body_are_named(body: bytes, ctype: str, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        decode_body(body, ctype)
    buffer = io.BytesIO()
    np.save(buffer, np.array([[0.0, 1.0], [np.nan, 2.0]]))
    with pytest.raises(InvalidArgument, match="Row 1, column 0 has value nan"):
        decode_body(buffer.getvalue(), "application/x-npy")
