"""Issue #12, hole 2: a model import never runs the model's code in the API server (real server, real pickles).

Registration loads models only in the inspector's sandboxed child: a pickle's payload, a load that
raises and a load that hangs each end in a 400 naming the cause, the server unaffected; models from
jobs are still registered with their signature and a verified ONNX export.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from slipway.client import Client
from slipway.sandbox import isolation
from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for

TIMEOUT = 20  # the server's inspect_timeout in these tests


class Payload:
    """Unpickling it runs ``code`` with exec, as the issue's reproduction does."""

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
def server(tmp_path: Path) -> Iterator[SlipwayServer]:
    srv = SlipwayServer(tmp_path / "server-home", env={"SLIPWAY_INSPECT_TIMEOUT": str(TIMEOUT)}).start()
    yield srv
    srv.stop()


def upload(http: httpx.Client, name: str, body: bytes) -> httpx.Response:
    return http.post(f"/api/v1/models/{name}/versions", params={"filename": "evil.joblib", "framework": "sklearn"},
                     content=body, timeout=300)


def test_an_evil_pickle_never_runs_in_the_server(server: SlipwayServer, tmp_path: Path) -> None:
    watched = tmp_path / "watched"
    watched.mkdir()
    # The payload: a file named with the pid of whoever unpickles it.
    evil = pickle.dumps(Payload(f"import os\nopen(os.path.join({str(watched)!r}, 'ran-%d' % os.getpid()), 'w')"))
    assert server.proc is not None
    with server.http() as http:
        r = upload(http, "evil", evil)
        assert r.status_code == 400, r.text
        assert http.get("/api/v1/models").json()["total"] == 0
    assert not (watched / f"ran-{server.proc.pid}").exists()
    if isolation().isolated:
        # Confined, the child could not write there either, and the 400 says so in the child's own words.
        assert list(watched.iterdir()) == []
        assert "PermissionError" in r.json()["error"]["message"], r.text
    assert server.proc.poll() is None


def test_an_import_whose_loading_raises_is_a_400_naming_the_cause(server: SlipwayServer) -> None:
    with server.http() as http:
        r = upload(http, "raises", pickle.dumps(Calls(int, "not-a-number")))
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_argument"
    assert "ValueError: invalid literal for int() with base 10: 'not-a-number'" in error["message"], error


def test_an_import_that_hangs_is_stopped_while_the_server_answers(server: SlipwayServer) -> None:
    answers: dict[str, Any] = {}

    def register() -> None:
        started = time.monotonic()
        with server.http() as http:
            answers["response"] = upload(http, "hangs", pickle.dumps(Calls(time.sleep, 3600)))
        answers["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=register)
    thread.start()

    def inspections() -> list[Path]:
        return list((server.home / "tmp").glob("model-*/inspect/request.json"))

    wait_for(inspections, what="the inspection to start")
    request = inspections()[0]
    with server.http() as http:  # the server goes on answering while the model hangs in its child
        assert http.get("/api/v1/models").status_code == 200
        assert http.get("/api/v1/status").status_code == 200
    assert thread.is_alive()
    thread.join(timeout=300)
    r = answers["response"]
    assert r.status_code == 400, r.text
    assert f"took longer than {TIMEOUT} s and was stopped" in r.json()["error"]["message"]
    assert answers["seconds"] < 300  # stopped at the limit, not after the hour the pickle sleeps
    # The hanging child and anything it started are gone.
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        assert str(request).encode() not in cmdline
    with server.http() as http:
        assert http.get("/api/v1/models").json()["total"] == 0


def write_table(path: Path, rows: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["size,weight,kind"] + [f"{(10 + i % 7) if i % 2 else (2 + i % 5)}.5,{i % 11},{'big' if i % 2 else 'small'}"
                                    for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


SCRIPT = """
import os
import pandas as pd
from sklearn.linear_model import LogisticRegression
from slipway.artifacts.flavors.sklearn import save_sklearn_artifact

table = pd.read_csv(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "shapes.csv"))
model = LogisticRegression().fit(table[["size", "weight"]], table["kind"])
save_sklearn_artifact(model, os.environ["SM_MODEL_DIR"])
"""


def test_models_from_jobs_are_registered_with_signature_and_onnx_as_before(server: SlipwayServer,
                                                                           tmp_path: Path) -> None:
    from slipway.artifacts import Manifest, unpack_artifact
    from slipway.artifacts.loading import export_onnx
    from slipway.artifacts.onnx_runtime import runtime_of

    client = Client(url=server.url, home=server.home)
    try:
        client.datasets.push("shapes", write_table(tmp_path / "shapes.csv"), label="kind")
        builtin = client.jobs.create("shapes-lr", algorithm="logistic-regression", data={"train": "shapes:1"})
        src = tmp_path / "src"
        src.mkdir()
        (src / "train.py").write_text(SCRIPT)
        script = client.jobs.create("shapes-script", script="train.py", source_dir=src, data={"train": "shapes:1"},
                                    label="kind")
        for job in (builtin, script):
            assert job.wait(timeout=180).status == "Completed", job.failure_reason
            v = client.models.register(job.name, job.name)
            assert v.lineage["job"] == job.name
            assert v.problem_type == "binary_classification" and v.signature["labels"] == ["big", "small"]
            assert [i["name"] for i in v.signature["inputs"]] == ["size", "weight"]
            # The export and its verification, done here in the test process as the server used to: the same.
            folder = tmp_path / job.name
            unpack_artifact(job.download(tmp_path / "downloads" / job.name), folder)
            manifest = Manifest.read(folder)
            assert (v.runtime, v.runtime_reason) == runtime_of({**manifest.to_dict(),
                                                                "onnx": export_onnx(folder, manifest)})
        assert v.runtime == "onnxruntime", v.runtime_reason  # the script's plain LogisticRegression exports
    finally:
        client.close()
