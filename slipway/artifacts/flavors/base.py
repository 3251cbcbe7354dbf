"""What every flavor's ``load`` returns: a ``Predictor``."""

from __future__ import annotations

from typing import Any, Protocol

from slipway.serving.payloads import decode_instances, encode, encode_array, wants_csv

__all__ = ["InvokeMixin", "Predictor"]


class Predictor(Protocol):
    """A loaded model. ``predict`` takes decoded instances; ``invoke`` a raw request body.

    Both raise InvalidArgument (or a subclass: 406, 415) for a request the model cannot take and
    ModelError when the model or its handlers fail; never anything else on purpose.
    """

    framework: str
    runtime: str  # what runs the model: onnxruntime, scikit-learn, xgboost, pytorch, keras or custom code
    labels: list[str]

    def predict(self, inputs: Any) -> Any: ...

    def invoke(self, body: bytes, content_type: str = ..., accept: str = ...) -> tuple[bytes, str]: ...


class InvokeMixin:
    """``invoke`` for predictors whose ``predict`` takes decoded instances and answers Slipway's rows."""

    def predict(self, inputs: Any) -> Any:
        raise NotImplementedError

    def invoke(self, body: bytes, content_type: str = "application/json",
               accept: str = "application/json") -> tuple[bytes, str]:
        prediction = self.predict(decode_instances(body, content_type))
        if isinstance(prediction, list):
            return encode(prediction, wants_csv(accept))
        return encode_array(prediction, accept)
