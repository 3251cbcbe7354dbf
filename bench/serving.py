"""Serving benchmark (run by hand, prints a table): `python bench/serving.py [--duration 5]`.

Single-row JSON requests at concurrency 1, 16 and 64 against, for each model (M1 LogisticRegression,
M2 a 100-tree RandomForest, both on scikit-learn's breast cancer data):

- a minimal hand-written FastAPI app calling predict_proba (the honest baseline, same run),
- a Slipway replica on its own port,
- the Slipway server's gateway route /endpoints/{name}/invocations.

Cold start is the time from the deploy API call to the first 200 (and from the CLI command). The load
generator is wrk when installed (apt-get install wrk), an asyncio httpx client otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MINIMAL_APP = '''
import joblib, numpy as np, pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import Response
import orjson
model = joblib.load({model!r})
cols = list(model.feature_names_in_)
labels = [str(c) for c in model.classes_]
app = FastAPI()

@app.get("/ping")
async def ping():
    return {{"status": "ok"}}

@app.post("/invocations")
async def invocations(request: Request):
    rows = (await request.json())["instances"]
    probs = model.predict_proba(pd.DataFrame(np.asarray(rows, dtype=float), columns=cols))
    out = []
    for p in probs:
        i = int(p.argmax())
        out.append({{"label": labels[i], "confidence": float(p[i]),
                    "probabilities": dict(zip(labels, map(float, p)))}})
    return Response(orjson.dumps({{"predictions": out}}), media_type="application/json")
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def train(work: Path) -> dict[str, tuple[Any, list[float]]]:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    b: Any = load_breast_cancer()
    X = pd.DataFrame(b.data, columns=[n.replace(" ", "_") for n in b.feature_names])
    y = [str(b.target_names[i]) for i in b.target]
    return {
        "M1-logreg": (LogisticRegression(max_iter=10000).fit(X, y), X.iloc[0].tolist()),
        "M2-forest100": (RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y), X.iloc[0].tolist()),
    }


def run_wrk(url: str, body: bytes, conns: int, duration: float, work: Path) -> dict[str, float]:
    script = work / "post.lua"
    script.write_text(textwrap.dedent(f"""
        wrk.method = "POST"
        wrk.body = {json.dumps(body.decode())}
        wrk.headers["Content-Type"] = "application/json"
    """))
    threads = min(2, conns)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration:g}s", "--timeout", "30s", "--latency",
                          "-s", str(script),
                          url], capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    errors = 0  # non-2xx answers and broken connections; wrk's own timeouts (30 s) counted apart
    timeouts = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(g) for g in m.groups()[:3])
        timeouts = int(m.group(4))
    return {"rps": rps, "p50": pct("50"), "p99": pct("99"), "errors": errors, "timeouts": timeouts}


def run_httpx(url: str, body: bytes, conns: int, duration: float) -> dict[str, float]:
    async def main() -> dict[str, float]:
        lat: list[float] = []
        errors = 0
        stop = time.monotonic() + duration
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=conns), timeout=30) as http:
            async def worker() -> None:
                nonlocal errors
                while time.monotonic() < stop:
                    t = time.perf_counter()
                    try:
                        r = await http.post(url, content=body, headers={"Content-Type": "application/json"})
                        errors += r.status_code != 200
                    except httpx.HTTPError:
                        errors += 1
                    lat.append((time.perf_counter() - t) * 1000)
            t0 = time.monotonic()
            await asyncio.gather(*[worker() for _ in range(conns)])
            took = time.monotonic() - t0
        lat.sort()
        return {"rps": len(lat) / took, "p50": lat[len(lat) // 2], "p99": lat[int(len(lat) * 0.99)],
                "errors": errors, "timeouts": 0}

    return asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--concurrency", default="1,16,64")
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    use_wrk = shutil.which("wrk") is not None
    work = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        import joblib

        from slipway.client import Client
        from slipway.frameworks.sklearn import save_sklearn_artifact

        models = train(work)
        home = work / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
        server = subprocess.Popen([sys.executable, "-m", "slipway.cli.main", "--home", str(home), "up", "--port", "0",
                                   "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=open(work / "server.log", "wb"))
        procs.append(server)
        deadline = time.monotonic() + 60
        while not (home / "server.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = json.loads((home / "server.json").read_text())["url"]
        wait_http(url + "/healthz")
        client = Client(url=url, home=home)
        targets: dict[str, dict[str, str]] = {}
        cold: dict[str, float] = {}
        for name, (est, row) in models.items():
            save_sklearn_artifact(est, work / name)
            client.models.import_(work / name, name.lower())
            body = json.dumps({"instances": [row]}).encode()
            t0 = time.perf_counter()
            client.endpoints.deploy(name.lower(), f"{name.lower()}:1", wait=False)
            while True:
                r = httpx.post(f"{url}/endpoints/{name.lower()}/invocations", content=body,
                               headers={"Content-Type": "application/json"})
                if r.status_code == 200:
                    break
                time.sleep(0.01)
            cold[name] = time.perf_counter() - t0
            replica = client.endpoints.get(name.lower()).replicas[0]
            joblib.dump(est, work / f"{name}.joblib")
            app_file = work / f"minimal_{name.replace('-', '_')}.py"
            app_file.write_text(MINIMAL_APP.format(model=str(work / f"{name}.joblib")))
            port = free_port()
            procs.append(subprocess.Popen([sys.executable, "-m", "uvicorn", app_file.stem + ":app", "--port", str(port),
                                           "--loop", "uvloop", "--http", "httptools", "--log-level", "warning",
                                           "--no-access-log"], cwd=work, env=env))
            wait_http(f"http://127.0.0.1:{port}/ping")
            targets[name] = {
                "minimal FastAPI": f"http://127.0.0.1:{port}/invocations",
                "Slipway replica port": replica.url,
                "Slipway gateway": f"{url}/endpoints/{name.lower()}/invocations",
            }
        # CLI cold start: the deploy command (waits for InService) and then the first 200.
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "slipway.cli.main", "--home", str(home), "--url", url, "endpoints",
                        "deploy", "cli-cold", "--model", "m1-logreg:1"], check=True, capture_output=True, env=env)
        first = httpx.post(f"{url}/endpoints/cli-cold/invocations",
                           content=json.dumps({"instances": [models["M1-logreg"][1]]}).encode(),
                           headers={"Content-Type": "application/json"})
        cli_cold = time.perf_counter() - t0 if first.status_code == 200 else float("nan")
        client.endpoints.delete("cli-cold")

        load = os.getloadavg()
        print(f"\nSlipway serving benchmark: {os.cpu_count()} CPUs, load average {load[0]:.2f} at start, "
              f"{'wrk' if use_wrk else 'httpx asyncio client'}, {args.duration:g} s per cell, one-row JSON requests\n")
        print("| model | target | conc | req/s | p50 ms | p99 ms | errors | timeouts | vs minimal |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, (_, row) in models.items():
            body = json.dumps({"instances": [row]}).encode()
            base: dict[int, float] = {}
            for target, turl in targets[name].items():
                for c in levels:
                    res = run_wrk(turl, body, c, args.duration, work) if use_wrk else \
                        run_httpx(turl, body, c, args.duration)
                    if target == "minimal FastAPI":
                        base[c] = res["rps"]
                    ratio = res["rps"] / base[c] if base.get(c) else float("nan")
                    print(f"| {name} | {target} | {c} | {res['rps']:.0f} | {res['p50']:.2f} | {res['p99']:.2f} | "
                          f"{int(res['errors'])} | {int(res['timeouts'])} | {ratio:.2f} |", flush=True)
        print("\n| cold start | seconds |\n| --- | ---: |")
        for name, t in cold.items():
            print(f"| {name}: deploy API call to first 200 | {t:.2f} |")
        print(f"| M1-logreg: `slipway endpoints deploy` (CLI process) to first 200 | {cli_cold:.2f} |")
        print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
        client.close()
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
