"""Prototype (bench only, not product code): a replica that checks API keys itself, measured against a plain one.

The stretch goal of issue #20: authenticated invocations at >= 70 % of the replica port's rate. Through the
gateway an invocation pays a second HTTP hop (the server's event loop reads, checks the key, writes to the
replica, reads its answer, writes to the caller). This measures the design that removes the hop: the replica
itself does what the gateway's hot path does per request, before its own answer:

- the key check: SHA-256 of the bearer token looked up in a key cache (digest -> user and policies), as
  ``AuthService.peek`` does; an unknown key gets 401;
- the policy check: ``slipway.services.policies.evaluate`` of ``endpoints:Invoke`` on ``endpoint/NAME``,
  remembered per cached principal as the gateway's hot path does;
- the audit count (per day, user, action, resource, in memory, as ``AuditService.count``) and the invocation
  metrics (``InvocationMetrics.record``: status class, latency bucket), both for the server to collect;
- revocation pushed: the key cache is a snapshot file the server would rewrite on every key/user/policy change;
  each replica process looks at its modification time every 20 ms (one ``stat`` per process) and reloads it.

It is run by ``bench/gateway_ab.py --stretch`` on a deployed replica's unpacked model: two replica processes
from the same folder (``python -m slipway.serving.replica``, one worker per core as deployed), one plain and
one with the check, wrk at the same connections on each, interleaved (either first, by turns); then the time from revoking the key
(rewriting the snapshot) to the first 401.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ACTION = "endpoints:Invoke"


def _load(path: str) -> dict[str, tuple[str, tuple[Any, ...]]]:
    data = json.loads(Path(path).read_text())
    return {digest: (entry["user"], tuple(entry["policies"])) for digest, entry in data.items()}


def install(snapshot: str, endpoint: str) -> None:
    """Replace ``ReplicaApp`` in slipway.serving.replica by a subclass that checks keys (called before its main)."""
    from slipway.monitoring.recorder import InvocationMetrics
    from slipway.services.policies import evaluate
    from slipway.serving import replica

    base = replica.ReplicaApp
    resource = f"endpoint/{endpoint}"

    class KeyCheckingReplica(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.keys = _load(snapshot)
            self.allowed: dict[str, bool] = {}
            self.audit: Counter[tuple[str, str, str, str]] = Counter()
            self.metrics = InvocationMetrics()
            self.lock = threading.Lock()
            self.second, self.day = 0, ""
            self.mtime = os.stat(snapshot).st_mtime_ns
            threading.Thread(target=self._watch, daemon=True).start()

        def _watch(self) -> None:  # the push: a changed snapshot replaces the cache at once
            while True:
                time.sleep(0.02)
                mtime = os.stat(snapshot).st_mtime_ns
                if mtime != self.mtime:
                    self.mtime = mtime
                    keys = _load(snapshot)
                    self.keys, self.allowed = keys, {}

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http" or scope["path"] != "/invocations":
                await super().__call__(scope, receive, send)
                return
            start = time.perf_counter()
            header = b""
            for k, v in scope["headers"]:
                if k == b"authorization":
                    header = v
                    break
            digest = hashlib.sha256(header.partition(b" ")[2].strip()).hexdigest()
            found = self.keys.get(digest)
            allowed = self.allowed.get(digest)
            if found is not None and allowed is None:
                allowed = self.allowed[digest] = evaluate(found[1], ACTION, resource)
            if not allowed:
                body = b'{"error":{"code":"unauthorized","message":"A valid API key is required."}}'
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            now = int(time.time())
            if now != self.second:  # the audit day, formatted once a second
                self.second, self.day = now, time.strftime("%Y-%m-%d", time.gmtime(now))
            day = self.day
            with self.lock:
                self.audit[(day, found[0], ACTION, resource)] += 1  # type: ignore[index]
            status = 200

            async def counted(message: dict[str, Any]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await super().__call__(scope, receive, counted)
            self.metrics.record(endpoint, "", status, time.perf_counter() - start)

    replica.ReplicaApp = KeyCheckingReplica  # type: ignore[misc]


def start_replica(folder: Path, snapshot: Path | None, endpoint: str, work: Path, label: str
                  ) -> tuple[subprocess.Popen[bytes], str]:
    code = ("import sys; from bench.replica_auth import install; from slipway.serving import replica; "
            + (f"install({str(snapshot)!r}, {endpoint!r}); " if snapshot is not None else "")
            + "sys.exit(replica.main(sys.argv[1:]))")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", code, "--artifact", str(folder), "--port", "0", "--report-port"],
                            stdout=subprocess.PIPE, stderr=open(work / f"replica-{label}.log", "wb"), env=env,
                            cwd=str(root))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    port = json.loads(line)["port"]
    return proc, f"http://127.0.0.1:{port}/invocations"


def model_folder(home: Path) -> Path:
    """The unpacked copy of the deployed model a replica serves (the folder holding its ONNX export)."""
    found = sorted(home.rglob("*.onnx"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit(f"no unpacked ONNX model under {home}")
    return found[-1].parent


def measure(side: dict[str, Any], name: str, row: list[float], args: Any, work: Path) -> list[dict[str, Any]]:
    """Plain replica vs the key-checking one, interleaved rounds; then the revocation delay. Prints rows."""
    import httpx

    from bench.serving import cpu_seconds, run_wrk

    key = side["key"]
    endpoint = name.lower()
    snapshot = work / "keys.json"
    digest = hashlib.sha256(key.encode()).hexdigest()
    admin = {"Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]}
    snapshot.write_text(json.dumps({digest: {"user": "admin", "policies": [admin]}}))
    folder = model_folder(side["home"])
    body = json.dumps({"instances": [row]}).encode()
    plain, plain_url = start_replica(folder, None, endpoint, work, "plain")
    checked, checked_url = start_replica(folder, snapshot, endpoint, work, "checked")
    auth = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    out: list[dict[str, Any]] = []
    try:
        for url in (plain_url, checked_url):
            deadline = time.monotonic() + 60
            while True:  # bound at once, answering once the model is loaded
                try:
                    if httpx.post(url, content=body, headers=auth, timeout=60).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{url} did not answer 200 (see {work}/replica-*.log)")
                time.sleep(0.05)
        wrong = httpx.post(checked_url, content=body, headers={**auth, "authorization": "Bearer nope"})
        assert wrong.status_code == 401, wrong.status_code
        sides = [("prototype: replica port, no key check", plain, plain_url),
                 ("prototype: replica port, key check + policy + audit + metrics", checked, checked_url)]
        for rnd in range(1, args.rounds + 1):
            for label, proc, url in (sides if rnd % 2 else sides[::-1]):  # either goes first, by turns
                cpu0 = cpu_seconds([proc.pid])
                res = run_wrk(url, body, args.conns, args.duration, work, auth)
                res["cpu"] = (cpu_seconds([proc.pid]) - cpu0) / max(1, res["total"]) * 1000
                res["user"] = res["sys"] = float("nan")  # the replica's workers are several processes: not split
                errors = int(res["errors"]) + int(res["timeouts"])
                print(f"| {name} | branch | {label} | {rnd} | {res['rps']:.0f} | {res['p50']:.2f} | "
                      f"{res['p99']:.2f} | {errors} | {res['cpu']:.3f} | | {os.getloadavg()[0]:.1f} |", flush=True)
                out.append({**res, "label": label})
        # Revocation: rewrite the snapshot without the key; time until every worker answers 401.
        t0 = time.perf_counter()
        snapshot.write_text(json.dumps({}))
        first = None
        with httpx.Client() as http:
            refused = 0
            while refused < 20:  # 20 in a row over fresh connections: every worker has reloaded
                r = http.post(checked_url, content=body, headers={**auth, "connection": "close"})
                refused = refused + 1 if r.status_code == 401 else 0
                if refused == 1 and first is None:
                    first = time.perf_counter() - t0
        print(f"\n(prototype: the key revoked; first refusal after {(first or 0) * 1000:.0f} ms, every worker "
              f"refusing it after {(time.perf_counter() - t0) * 1000:.0f} ms, 20 refusals in a row included; "
              f"load {os.getloadavg()[0]:.1f})\n", flush=True)
    finally:
        for proc in (plain, checked):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return out
