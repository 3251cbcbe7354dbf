"""Property-based fuzzing of the whole REST API from its own OpenAPI document (schemathesis), as admin.

A real server on a free port; schemathesis generates requests for every documented operation (boundary
values, then random ones, a bounded number per operation, deterministically) and checks every answer:
no 5xx, a status the operation documents, a body and content type that match it, 405s with the path's
methods in Allow, schema-valid input accepted and schema-invalid input refused (except where
tests/support/schemathesis.toml says why not). `make test` runs it; to run it alone, or with more examples:

    SLIPWAY_FUZZ_EXAMPLES=50 python -m pytest -q tests/integration/test_api_fuzz.py

The figures (operations, requests, statuses, seconds) are printed; the server log is kept on failure.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.servers import REPO, SlipwayServer

pytestmark = pytest.mark.slow

# Per operation and phase. 6 keeps the run near two minutes on two busy cores; the coverage phase adds its
# boundary cases (empty, too long, wrong type, each enum value…) whatever this is.
EXAMPLES = int(os.environ.get("SLIPWAY_FUZZ_EXAMPLES", "6"))


def test_fuzzing_the_api_finds_no_5xx_and_no_answer_outside_the_schema(tmp_path: Path) -> None:
    server = SlipwayServer(tmp_path / "home").start()
    har = tmp_path / "fuzz.har"
    try:
        # Something to find: "0" is the name the fuzzer tries first. No model: with one, a generated deploy
        # could start up to 16 variants x 64 replicas on the test machine.
        with server.http() as http:
            rows = "a,b,label\n" + "".join(f"{i},{i % 7}.5,{'yes' if i % 2 else 'no'}\n" for i in range(40))
            http.post("/api/v1/datasets/0/versions", params={"filename": "data.csv", "label": "label"},
                      content=rows.encode()).raise_for_status()
        started = time.monotonic()
        run = subprocess.run(
            [str(Path(sys.executable).with_name("st")), "--config-file", str(REPO / "tests/support/schemathesis.toml"),
             "run", f"{server.url}/openapi.json", "--header", f"Authorization: Bearer {server.admin_key}",
             "--max-examples", str(EXAMPLES), "--generation-deterministic", "--workers", "1",
             "--phases", "examples,coverage,fuzzing", "--continue-on-failure", "--no-color",
             "--output-sanitize", "true", "--report", "har", "--report-har-path", str(har)],
            capture_output=True, text=True, cwd=REPO, timeout=900,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        seconds = time.monotonic() - started
        assert server.proc is not None and server.proc.poll() is None, "the server died under fuzzing"
    finally:
        server.stop()
    assert run.returncode == 0, f"{run.stdout[-15000:]}\n{run.stderr[-3000:]}\nserver log:\n{server.log()}"
    entries = json.loads(har.read_text())["log"]["entries"]
    statuses = collections.Counter(e["response"]["status"] for e in entries)
    assert not any(status >= 500 for status in statuses), statuses
    tested = [line.split(": ", 1)[1] for line in run.stdout.splitlines() if line.strip().startswith("Tested: ")]
    operations = tested[0] if tested else "?"
    print(f"\nAPI fuzz run: {operations} operations, {len(entries)} requests in {seconds:.0f} s, "
          f"statuses {dict(sorted(statuses.items()))}")
