"""The inspector: a model is loaded only in a confined, limited child, started cold or forked from the spare.

Real child processes, real pickles whose ``__reduce__`` runs code: what the code can do from there is
what is checked.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest

from slipway.errors import InvalidArgument
from slipway.inspection import Inspector
from slipway.sandbox import Sandbox, isolation
from tests.support.models import cancer_model
from tests.support.waiting import wait_for

SKLEARN_TEMPLATE = {"format_version": 1, "framework": "sklearn", "model_file": "model.joblib", "problem_type": None,
                    "signature": {}, "metrics": {}, "lineage": {}}


class Payload:
    """Unpickling it runs ``code`` with exec: what a hostile model file does."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return exec, (self.code,)


class Calls:
    """Unpickling it calls ``fn(*args)``."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.fn, self.args


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    (home / "credentials").write_text("admin key")
    return home


@pytest.fixture
def inspectors(home: Path) -> Iterator[list[Inspector]]:
    made: list[Inspector] = []
    yield made
    for inspector in made:
        inspector.close()


def inspector(home: Path, made: list[Inspector], **kw: Any) -> Inspector:
    made.append(Inspector(Sandbox(home=home), home / "tmp", **kw))
    return made[-1]


def artifact(home: Path, obj: Any, name: str = "a") -> Path:
    folder = home / "tmp" / name
    folder.mkdir()
    if isinstance(obj, bytes):
        (folder / "model.joblib").write_bytes(obj)
    else:
        joblib.dump(obj, folder / "model.joblib")
    return folder


def test_an_estimator_is_described_and_exported(home: Path, inspectors: list[Inspector]) -> None:
    found = inspector(home, inspectors, warm=False).inspect(artifact(home, cancer_model("lr")), SKLEARN_TEMPLATE,
                                                             describe="model.joblib")
    assert found.fields["problem_type"] == "binary_classification"
    assert found.fields["signature"]["labels"] == ["benign", "malignant"]
    assert found.fields["signature"]["inputs"][0] == {"name": "mean_radius", "dtype": "float64"}
    assert found.fields["onnx"]["verified"] and found.onnx_file is not None and found.onnx_file.stat().st_size


@pytest.mark.skipif(not isolation().isolated, reason="this kernel has no Landlock")
def test_a_pickle_cannot_read_the_home_cold_or_forked_from_the_spare(home: Path, inspectors: list[Inspector]) -> None:
    evil = pickle.dumps(Payload(f"open({str(home / 'credentials')!r}).read()"))
    warm = inspector(home, inspectors, warm=True)
    with pytest.raises(InvalidArgument, match=r"PermissionError: \[Errno 13\] Permission denied: .*credentials"):
        warm.inspect(artifact(home, evil, "cold"), SKLEARN_TEMPLATE, describe="model.joblib")
    wait_for(lambda: warm._spare is not None, what="the spare to start")
    spare = warm._spare
    assert spare is not None
    with pytest.raises(InvalidArgument, match=r"PermissionError: \[Errno 13\] Permission denied: .*credentials"):
        warm.inspect(artifact(home, evil, "warm"), SKLEARN_TEMPLATE, describe="model.joblib")
    assert spare.returncode is not None  # the spare took this one: it has run and ended


def test_a_model_past_the_memory_limit_is_refused_naming_the_limit(home: Path, inspectors: list[Inspector]) -> None:
    big = pickle.dumps(Calls(bytearray, 3 << 30))  # 3 GB
    with pytest.raises(InvalidArgument, match=r"memory limit of 1024 MB.*MemoryError"):
        inspector(home, inspectors, warm=False, memory_limit_mb=1024).inspect(
            artifact(home, big), SKLEARN_TEMPLATE, describe="model.joblib")


def test_an_export_forged_as_a_link_is_not_taken(home: Path, inspectors: list[Inspector]) -> None:
    # The child says "verified" and leaves model.onnx as a link to the credentials: the server must not copy it.
    forge = pickle.dumps(Payload(
        "import json, os\n"
        "req = json.load(open('request.json'))\n"
        f"os.symlink({str(home / 'credentials')!r}, os.path.join(req['view'], 'model.onnx'))\n"
        "open(req['result'], 'w').write(json.dumps({'ok': True, 'problem_type': 'regression',\n"
        "    'signature': {'inputs': [{'name': 'x'}]}, 'onnx': {'verified': True, 'file': 'model.onnx'}}))\n"
        "os._exit(0)\n"
    ))
    found = inspector(home, inspectors, warm=False).inspect(artifact(home, forge), SKLEARN_TEMPLATE,
                                                             describe="model.joblib")
    assert found.onnx_file is None
    assert found.fields["onnx"] == {"verified": False, "reason": "the export was reported verified but not written"}


def test_a_child_that_exits_without_answering_is_named(home: Path, inspectors: list[Inspector]) -> None:
    quits = pickle.dumps(Payload("import os, sys\nprint('bye from the model', file=sys.stderr, flush=True)\n"
                                 "os._exit(3)\n"))
    with pytest.raises(InvalidArgument, match=r"\(exit code 3\): bye from the model"):
        inspector(home, inspectors, warm=False).inspect(artifact(home, quits), SKLEARN_TEMPLATE,
                                                         describe="model.joblib")


def test_an_onnx_model_file_stays_readable_to_the_child(home: Path, inspectors: list[Inspector]) -> None:
    folder = home / "tmp" / "onnx-model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"an ONNX model")
    manifest = {"format_version": 1, "framework": "onnx", "model_file": "model.onnx", "problem_type": "regression",
                "signature": {"input_kind": "array", "inputs": [], "input_shape": [3], "labels": None}}
    found = inspector(home, inspectors, warm=False).inspect(folder, manifest)
    assert found.fields["onnx"] == {"verified": False,
                                    "reason": "the model is an ONNX graph already; ONNX Runtime serves it as it is"}
    assert found.onnx_file is None
