"""The ONNX fast path for PyTorch: export a TorchScript network with torch.onnx and verify it at registration.

Exported: the built-in networks (`image-classifier`, `sequence-classifier`: `model.pt` with
`preprocessing.json`) and a TorchScript `model.pt`/`model.pth` whose signature gives `input_shape`.
Not exported: anything with `code/inference.py` (custom code serves as it is). The export is verified
against the TorchScript model on sample inputs in batches of several sizes: the outputs as a response
carries them (probabilities, or a TorchScript model's raw output and its label/probabilities) must agree
within ``TOLERANCE`` and the labels must be equal. Serving runs a verified export with ``OnnxNet``.
"""

from __future__ import annotations

import io
import json
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slipway.artifacts.labels import to_probabilities
from slipway.artifacts.onnx_runtime import ONNX_FILE, TOLERANCE, OnnxNet

__all__ = ["OPSET", "SAMPLES_ARRAY", "NoInputShape", "export_torch_onnx", "labelled_probabilities", "sample_inputs"]

SAMPLES_ARRAY = "samples.npy"  # up to 64 inputs as the network takes them, written by the built-in training
OPSET = 17
BATCHES = (1, 2, 5)  # then the rest in one batch: the batch axis must really be dynamic
# The legacy exporter keeps global state while it runs: one export at a time in a process.
_EXPORT_LOCK = threading.Lock()


def labelled_probabilities(output: np.ndarray, n_labels: int) -> np.ndarray | None:
    """A TorchScript model's output as the probabilities a response carries, or None when it has no labels."""
    output = np.asarray(output)
    if not (n_labels and output.ndim == 2 and output.shape[1] == n_labels):
        return None
    return to_probabilities(output, n_labels)


class NoInputShape(Exception):
    """The artifact does not say what its network takes: there is nothing to export or verify with."""


def _reason(stage: str, exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{stage}: {type(exc).__name__}: {first}".rstrip(": ")


def sample_inputs(folder: Path, manifest: dict[str, Any], n: int = 64) -> tuple[np.ndarray, str]:
    """Inputs to verify on, as the network takes them, and what they are: the artifact's samples, else seeded.

    Raises NoInputShape when nothing says what the network's input looks like.
    """
    sig = manifest.get("signature") or {}
    preprocessing = {}
    if (folder / "preprocessing.json").is_file():
        preprocessing = json.loads((folder / "preprocessing.json").read_text())
    text = preprocessing.get("kind") == "text"
    if text:
        shape: list[int] = []
    elif preprocessing.get("kind") == "image":
        hw = [int(d) for d in preprocessing["input_shape"]]
        shape = hw if len(hw) == 3 else [*hw, 1]  # decode_images always gives [N, H, W, C]
    elif sig.get("input_shape"):
        shape = [int(d) for d in sig["input_shape"]]
    else:
        raise NoInputShape("the signature has no input_shape to build sample inputs from (add "
                           "signature.input_shape to slipway-model.json)")
    path = folder / SAMPLES_ARRAY
    if path.is_file():
        try:
            x = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            x = None
        if x is not None and len(x) and (x.ndim == 2 and x.dtype.kind in "iu" if text else list(x.shape[1:]) == shape):
            return (x[:n].astype(np.int64) if text else x[:n].astype(np.float32)), "sample inputs"
    rng = np.random.default_rng(0)
    if text:
        vocab = int(preprocessing.get("vocab_size") or 2)
        longest = max(1, min(int(preprocessing.get("max_length") or 64), 64))
        lengths = rng.integers(1, longest + 1, size=n)
        ids = np.zeros((n, longest), dtype=np.int64)
        for i, length in enumerate(lengths):  # ids from 1 (unknown) up; 0 pads the end, as Vocabulary.encode does
            ids[i, :length] = rng.integers(1, max(vocab, 2), size=length)
        return ids, "seeded token ids"
    if preprocessing:
        high = float((preprocessing.get("value_range") or [0, 255])[1])
        return (rng.random((n, *shape)) * high).astype(np.float32), "seeded images"
    scales = np.repeat([0.1, 1.0, 10.0], -(-n // 3))[:n].reshape(n, *([1] * len(shape)))
    return (np.abs(rng.standard_normal((n, *shape))) * scales).astype(np.float32), "seeded inputs"


def _batches(x: np.ndarray, text: bool) -> list[np.ndarray]:
    """``x`` cut into batches of 1, 2, 5 and the rest; token ids trimmed to their batch's longest text."""
    out, start = [], 0
    for size in (*BATCHES, len(x)):
        if start >= len(x):
            break
        batch = x[start:start + size]
        start += len(batch)
        if text:  # Vocabulary.encode pads to the longest text of the request, not to max_length
            used = np.flatnonzero((batch != 0).any(axis=0))
            batch = batch[:, : (int(used[-1]) + 1 if len(used) else 1)]
        out.append(np.ascontiguousarray(batch))
    return out


def _export(model: Any, example: np.ndarray, text: bool) -> bytes:
    axes = {0: "batch", 1: "length"} if text else {0: "batch"}
    buffer = io.BytesIO()
    with _EXPORT_LOCK, warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated (and chatty about it); the dynamo one needs onnxscript.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(example),), buffer, dynamo=False, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": axes, "output": {0: "batch"}},
                          opset_version=OPSET)
    return buffer.getvalue()


def export_torch_onnx(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Export ``folder``'s TorchScript network, verify it, write model.onnx when verified; the manifest's ``onnx``.

    Never raises for a model that does not export: the reason is recorded and PyTorch serves.
    """
    from slipway.artifacts.flavors.torch_builtin import quiet_torchscript

    builtin = (folder / "preprocessing.json").is_file()
    labels = [str(label) for label in (manifest.get("signature") or {}).get("labels") or []]
    try:
        x, source = sample_inputs(folder, manifest)
    except NoInputShape as exc:
        return {"verified": False, "reason": str(exc)}
    except (ValueError, KeyError, TypeError) as exc:  # a preprocessing.json the training did not write
        return {"verified": False, "reason": _reason("preprocessing.json is not usable", exc)[:300]}
    text = x.dtype == np.int64
    try:
        with quiet_torchscript():
            model = torch.jit.load(str(folder / manifest["model_file"]), map_location="cpu")
        model.eval()
    except Exception as exc:  # a state dict, a pickled module: only user code can build it
        return {"verified": False, "reason": _reason("the model is not a loadable TorchScript file (a state dict "
                                                     "needs code/inference.py, which is not exported)", exc)[:300]}
    batches = _batches(x, text)

    def final(out: np.ndarray) -> list[np.ndarray]:
        """What a response is made of: probabilities (built-ins), else the raw output and its probabilities."""
        if builtin:
            return [out]
        proba = labelled_probabilities(out, len(labels))
        return [out] if proba is None else [out, proba]

    try:
        with torch.inference_mode():
            outputs = [model(torch.from_numpy(b)) for b in batches]
    except Exception as exc:  # the network cannot take its own sample inputs: nothing to verify against
        return {"verified": False, "reason": _reason(f"the model failed on the sample inputs ({source})", exc)[:300]}
    if not all(isinstance(o, torch.Tensor) for o in outputs):
        return {"verified": False, "reason": f"the model returns a {type(outputs[0]).__name__}, not one tensor"}
    want = [final(o.float().numpy()) for o in outputs]
    try:
        data = _export(model, batches[-1][:2] if len(batches[-1]) >= 2 else x[:2], text)
    except Exception as exc:  # the exporter refuses many things, each in its own way
        return {"verified": False, "reason": _reason("torch.onnx could not export it", exc)[:300]}
    try:
        net = OnnxNet(data)
        got = [final(net(b)) for b in batches]
    except Exception as exc:
        return {"verified": False, "reason": _reason("ONNX Runtime could not run the export", exc)[:300]}
    diff, same_labels = _compare(got, want, builtin or bool(labels))
    info: dict[str, Any] = {"rows": int(len(x)), "batches": [len(b) for b in batches], "inputs": source,
                            "max_abs_diff": diff, "tolerance": TOLERANCE, "opset": OPSET}
    if diff <= TOLERANCE and same_labels:
        (folder / ONNX_FILE).write_bytes(data)
        return {"verified": True, "file": ONNX_FILE, "dtype": "float32", **info}
    problem = f"differs from PyTorch by {diff:.1e}" + ("" if same_labels else ", labels differ")
    return {"verified": False, "reason": f"ONNX export not verified ({problem} on {len(x)} {source})", **info}


def _compare(got: list[list[np.ndarray]], want: list[list[np.ndarray]], classifier: bool) -> tuple[float, bool]:
    diff, same = 0.0, True
    for g_parts, w_parts in zip(got, want):
        for g, w in zip(g_parts, w_parts):
            g = np.asarray(g, dtype=np.float64)
            w = np.asarray(w, dtype=np.float64)
            if g.shape != w.shape:
                return float("inf"), False
            if w.size:
                diff = max(diff, float(np.max(np.abs(g - w))))
        if classifier and g_parts[-1].ndim == 2:
            same = same and bool(np.array_equal(g_parts[-1].argmax(axis=1), w_parts[-1].argmax(axis=1)))
    return diff, same

