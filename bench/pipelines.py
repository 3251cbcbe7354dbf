"""Platform overhead of pipelines: per step, and from an event to the run it starts.

    .venv/bin/python bench/pipelines.py [--chain 3]

Runs the real jobs and pipelines controllers in this process on a fresh home (SQLite, local
executor, the machine's sandbox) and reads the timestamps they record:

- step ready -> its job running: the step row's start to the job's start (InProgress);
- job done -> next step ready: the job's end to the step's end (the next step starts in the same pass);
- inline steps (condition): run time of a chain of 20, per step;
- event -> run started: a dataset version's creation (its event) to the triggered run's start.

Goals (issue #16): under 1 s per step each way; under 2 s from event to run.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slipway.controllers import ControllerManager, JobsController, PipelinesController  # noqa: E402
from slipway.schemas.pipelines import PipelineSpec  # noqa: E402
from slipway.services import Platform  # noqa: E402
from slipway.settings import Settings  # noqa: E402

SCRIPT = ("import os, pathlib\n"
          "src = pathlib.Path(os.environ['SM_PROCESSING_INPUT_RAW'])\n"
          "out = pathlib.Path(os.environ['SM_PROCESSING_OUTPUT_CLEAN'])\n"
          "for f in src.iterdir():\n    (out / f.name).write_bytes(f.read_bytes())\n")


def _source(p: Platform) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("copy.py")
        info.size = len(SCRIPT)
        tar.addfile(info, io.BytesIO(SCRIPT.encode()))
    raw = buf.getvalue()
    tmp = p.settings.tmp_dir / "bench-src.tar"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(raw)
    return p.training.put_source(tmp, len(raw), hashlib.sha256(raw).hexdigest())


def _wait_run(p: Platform, name: str, number: int, timeout: float = 600) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            run = p.pipelines.get_run(name, number)
            if run.done:
                return run
        except Exception:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{name} run {number}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chain", type=int, default=3, help="process steps in a row")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-pipelines-"))
    p = Platform(Settings.load(env={}, home=home))
    p.migrate()
    p.auth.create_user("bench", "data-scientist")  # runs act as their pipeline's owner
    manager = ControllerManager([JobsController(p), PipelinesController(p)])
    manager.start()
    try:
        data = home / "raw.csv"
        data.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(100)))
        p.datasets.push("raw", data, filename="raw.csv")
        sha = _source(p)
        steps = []
        for i in range(args.chain):
            src = "raw:1" if i == 0 else f"{{{{ steps.s{i - 1}.outputs.clean }}}}"
            steps.append({"name": f"s{i}", "type": "process", "script": "copy.py", "source_sha256": sha,
                          "inputs": {"raw": src}, "outputs": {"clean": f"out{i}"}, "cache": False})
        p.pipelines.create("jobs", PipelineSpec.model_validate({"steps": steps}), "bench")
        p.pipelines.start_run("jobs", {}, "bench")
        run = _wait_run(p, "jobs", 1)
        to_running, to_next = [], []
        for s in run.steps:  # type: ignore[attr-defined]
            job = p.training.get(s.job)
            to_running.append((job.started_at - s.started_at).total_seconds())
            to_next.append((s.ended_at - job.ended_at).total_seconds())

        chain = [{"name": "c0", "type": "condition", "when": {"op": "==", "left": 1, "right": 1}}]
        chain += [{"name": f"c{i}", "type": "condition", "when": {"op": "==", "left": 1, "right": 1},
                   "depends_on": [f"c{i - 1}"]} for i in range(1, 20)]
        p.pipelines.create("inline", PipelineSpec.model_validate({"steps": chain}), "bench")
        p.pipelines.start_run("inline", {}, "bench")
        inline = _wait_run(p, "inline", 1)
        per_inline = inline.duration_s / 20  # type: ignore[attr-defined]

        p.pipelines.create("triggered", PipelineSpec.model_validate(
            {"steps": [{"name": "x", "type": "condition", "when": {"op": "==", "left": 1, "right": 1}}]}), "bench")
        p.pipelines.add_trigger("triggered", "dataset:raw", {})
        latencies = []
        for n in range(5):
            data.write_text("a,b\n" + "".join(f"{i},{i * 3 + n}\n" for i in range(100)))
            version = p.datasets.push("raw", data, filename="raw.csv").version  # the event commits with it
            triggered = _wait_run(p, "triggered", n + 1)
            latencies.append((triggered.started_at - version.created_at).total_seconds())  # type: ignore[attr-defined]
    finally:
        manager.stop()
        p.close()

    def fmt(xs: list[float]) -> str:
        return f"median {statistics.median(xs):.3f} s, max {max(xs):.3f} s"

    print(f"{'measure':38} {'figure':34} goal")
    print(f"{'step ready -> job running':38} {fmt(to_running):34} < 1 s")
    print(f"{'job done -> next step ready':38} {fmt(to_next):34} < 1 s")
    print(f"{'inline step (condition), per step':38} {per_inline:.3f} s{'':27} < 1 s")
    print(f"{'event -> run started':38} {fmt(latencies):34} < 2 s")


if __name__ == "__main__":
    main()
