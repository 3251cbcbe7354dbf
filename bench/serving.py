"""Serving benchmark (run by hand, prints a table): `python bench/serving.py [--duration 5]`.

One-row JSON requests at 1, 16, 64 and 256 connections against, for each model (M1 LogisticRegression,
M2 a 100-tree RandomForest, M3 a 100-round XGBoost classifier served from its xgboost-model Booster, all on
scikit-learn's breast cancer data; M3 needs the xgboost extra):

- a minimal honest server: a plain ASGI app on uvicorn (uvloop, httptools, 2 workers) calling
  predict_proba (the baseline, same run),
- the README path (the default, ``--path readme`` or ``both``): M1 and M2 as a user makes them, with the
  CLI: ``slipway data push`` of the cancer CSV, ``slipway train --algorithm logistic-regression`` /
  ``random-forest --register``, ``models approve``, ``endpoints deploy``; served on the replica port
  and through the gateway,
- the array-imported rows beside them (``--path arrays`` or ``both``): estimators fitted on NumPy arrays,
  imported with the SDK, on a Slipway replica's own port and through the gateway,
- the Slipway server's gateway route /endpoints/{name}/invocations (with an API key).
- with SLIPWAY_BENCH_PEERS (venvs, os.pathsep-separated): MLflow and BentoML found there (bench/peers.py).

For each cell: req/s, p50/p99, errors, CPU per request (CPU seconds of the serving processes, via
psutil, divided by the requests answered) and the ratio to the minimal server. Cold start is the time
from the deploy call to the first 200 (API and CLI). The load generator is wrk when installed
(apt-get install wrk), an asyncio httpx client otherwise.
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
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MINIMAL_APP = '''
import joblib, numpy as np, orjson
model = joblib.load({model!r})
labels = [str(c) for c in model.classes_]
JSON = [(b"content-type", b"application/json")]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/ping":
        await send({{"type": "http.response.start", "status": 200, "headers": JSON}})
        await send({{"type": "http.response.body", "body": b'{{"status":"ok"}}'}})
        return
    body, more = b"", True
    while more:
        m = await receive()
        body += m.get("body", b"")
        more = m.get("more_body", False)
    rows = orjson.loads(body)["instances"]
    probs = model.predict_proba(np.asarray(rows, dtype=float))
    out = []
    for p in probs:
        i = int(p.argmax())
        out.append({{"label": labels[i], "confidence": float(p[i]),
                    "probabilities": dict(zip(labels, map(float, p)))}})
    await send({{"type": "http.response.start", "status": 200, "headers": JSON}})
    await send({{"type": "http.response.body", "body": orjson.dumps({{"predictions": out}})}})
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
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    # Fitted on plain arrays, as in the measurement (predict_proba 90 us per row for M1): with
    # a DataFrame, scikit-learn's feature-name checks make the minimal server 3-4 times slower.
    b: Any = load_breast_cancer()
    X = np.asarray(b.data, dtype=float)
    y = np.asarray([str(b.target_names[i]) for i in b.target])
    models: dict[str, tuple[Any, list[float]]] = {
        "M1-logreg": (LogisticRegression(max_iter=10000).fit(X, y), X[0].tolist()),
        "M2-forest100": (RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y), X[0].tolist()),
    }
    try:
        from xgboost import XGBClassifier
    except ImportError:
        return models
    models["M3-xgboost"] = (XGBClassifier(n_estimators=100, max_depth=4, n_jobs=1).fit(X, b.target), X[0].tolist())
    return models


def run_wrk(url: str, body: bytes, conns: int, duration: float, work: Path, headers: dict[str, str]
            ) -> dict[str, float]:
    script = work / "post.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body.decode())}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    threads = min(2, conns)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration:g}s", "--timeout", "30s", "--latency",
                          "-s", str(script),
                          url], capture_output=True, text=True, timeout=duration + 60).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
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
    return {"rps": rps, "p50": pct("50"), "p99": pct("99"), "errors": errors, "timeouts": timeouts, "total": total}


def run_httpx(url: str, body: bytes, conns: int, duration: float, headers: dict[str, str]) -> dict[str, float]:
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
                        r = await http.post(url, content=body, headers=headers)
                        errors += r.status_code != 200
                    except httpx.HTTPError:
                        errors += 1
                    lat.append((time.perf_counter() - t) * 1000)
            t0 = time.monotonic()
            await asyncio.gather(*[worker() for _ in range(conns)])
            took = time.monotonic() - t0
        lat.sort()
        return {"rps": len(lat) / took, "p50": lat[len(lat) // 2], "p99": lat[int(len(lat) * 0.99)],
                "errors": errors, "timeouts": 0, "total": len(lat)}

    return asyncio.run(main())


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and all their children (workers), each counted once."""
    procs: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            procs.update((p.pid, p) for p in [proc, *proc.children(recursive=True)])
        except psutil.NoSuchProcess:
            pass
    total = 0.0
    for p in procs.values():
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


# What a sampled frame belongs to, by the file it is in (first match wins); a frame whose source line
# writes to a transport is a socket write whatever file it is in.
WRITES = "socket writes (the send system call: kernel TCP work, waking the peer)"
PROFILE_GROUPS = [
    ("Slipway gateway -> replica (serving/pool.py, gateway.py)", ("slipway/serving/",)),
    ("Slipway hot path (api/invoke.py), key cache, policies, audit count", ("slipway/api/", "slipway/services/")),
    ("uvicorn HTTP parsing and ASGI plumbing", ("uvicorn/",)),
    ("FastAPI / Starlette", ("fastapi/", "starlette/")),
    ("event loop (uvloop: epoll, reads, callbacks)", ("asyncio/", "uvloop", "event loop")),
]


def _source_line(frame: str) -> str:
    """The line of code a py-spy frame ("func (path/file.py:123)") points at, if it can be found."""
    import linecache
    import sysconfig

    m = re.search(r"\((.+):(\d+)\)$", frame)
    if not m:
        return ""
    roots = [ROOT, Path(sysconfig.get_paths()["purelib"]), Path(sysconfig.get_paths()["stdlib"])]
    for root in roots:
        path = root / m.group(1)
        if path.is_file():
            return linecache.getline(str(path), int(m.group(2)))
    return ""


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop what a bench started, the last started first: SIGTERM, then SIGKILL after 20 s."""
    for p in reversed(procs):
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def start_profile(pid: int, duration: float, work: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling ``pid`` for most of a cell, or None when py-spy is not installed."""
    spy = shutil.which("py-spy") or (str(Path(sys.executable).parent / "py-spy")
                                     if (Path(sys.executable).parent / "py-spy").exists() else None)
    if spy is None:
        print("(--profile: py-spy is not installed; pip install py-spy)", file=sys.stderr)
        return None
    return subprocess.Popen([spy, "record", "-p", str(pid), "-d", str(max(1, int(duration) - 1)), "-r", "250",
                             "-f", "raw", "-o", str(work / "profile.txt"), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_profile(spy: subprocess.Popen[bytes], work: Path) -> str:
    """Self time of the event loop thread, by group, and the top frames."""
    try:
        spy.wait(60)
    except subprocess.TimeoutExpired:  # py-spy starved on a busy machine: no profile, the figures stand
        spy.kill()
        spy.wait()
        return "(py-spy did not finish within 60 s)"
    if not (work / "profile.txt").exists():
        return "(no samples)"
    from collections import Counter

    groups: Counter[str] = Counter()
    frames: Counter[str] = Counter()
    total = 0
    for line in (work / "profile.txt").read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        parts = stack.split(";")
        if not any("Runner.run" in f or "run_asgi" in f or "data_received" in f for f in parts):
            continue  # other threads (controllers, sampled idle)
        leaf = parts[-1]
        if "Runner.run" in leaf:
            leaf = "event loop (uvloop: epoll, reads, callbacks)"
        total += int(n)
        frames[leaf] += int(n)
        group = WRITES if ".write(" in _source_line(leaf) else next(
            (g for g, keys in PROFILE_GROUPS if any(k in leaf for k in keys)), "other Python")
        groups[group] += int(n)
    if not total:
        return "(no samples)"
    out = [f"| {g} | {n / total:.0%} |" for g, n in groups.most_common()]
    out = ["| part | share |", "| --- | ---: |", *out, "", "| top frames (self) | share |", "| --- | ---: |"]
    out += [f"| `{f[:110]}` | {n / total:.1%} |" for f, n in frames.most_common(12)]
    return "\n".join(out)


# The README's models: (built-in algorithm, its hyperparameters) per bench model.
README_MODELS = {"M1-logreg": ("logistic-regression", []), "M2-forest100": ("random-forest", ["n_estimators=100"])}


def cli(home: Path, url: str, env: dict[str, str], *args: str) -> Any:
    """``slipway ARGS --output json`` as a user types it; the parsed answer."""
    out = subprocess.run([sys.executable, "-m", "slipway.cli.main", "--home", str(home), "--url", url, *args,
                          "--output", "json"], capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"slipway {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()[-800:]}")
    return json.loads(out.stdout) if out.stdout.strip() else None


def readme_models(work: Path, home: Path, url: str, env: dict[str, str], names: list[str]) -> dict[str, str]:
    """Push the cancer CSV, train/register/approve/deploy each README model with the CLI; endpoint per model.

    Returns bench model -> "endpoint|runtime: reason (train+register s, deploy s)".
    """
    from sklearn.datasets import load_breast_cancer

    d: Any = load_breast_cancer(as_frame=True)
    frame = d.frame
    frame["target"] = d.target_names[d.target]
    frame.to_csv(work / "cancer.csv", index=False)
    cli(home, url, env, "data", "push", "bench-cancer", str(work / "cancer.csv"), "--label", "target")
    out: dict[str, str] = {}
    for name in names:
        algorithm, hps = README_MODELS[name]
        model = f"readme-{name.lower()}"
        t0 = time.perf_counter()
        cli(home, url, env, "train", "--algorithm", algorithm, "--data", "train=bench-cancer:1",
            *[a for hp in hps for a in ("--hp", hp)], "--name", f"{model}-job", "--register", model)
        trained = time.perf_counter() - t0
        cli(home, url, env, "models", "approve", f"{model}:1")
        shown = cli(home, url, env, "models", "show", f"{model}:1")
        t0 = time.perf_counter()
        cli(home, url, env, "endpoints", "deploy", model, "--model", f"{model}:1")
        deployed = time.perf_counter() - t0
        out[name] = (f"{model}|{shown.get('runtime')}: {shown.get('runtime_reason')} (train + register "
                     f"{trained:.1f} s, CLI deploy {deployed:.1f} s)")
    return out


def start_minimal(work: Path, name: str, est: Any, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    import joblib

    joblib.dump(est, work / f"{name}.joblib")
    app_file = work / f"minimal_{name.replace('-', '_')}.py"
    app_file.write_text(MINIMAL_APP.format(model=str(work / f"{name}.joblib")))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", app_file.stem + ":app", "--port", str(port),
                             "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log",
                             "--workers", "2"], cwd=work, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/ping")
    return proc, url + "/invocations"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--concurrency", default="1,16,64,256")
    ap.add_argument("--models", default="M1-logreg,M2-forest100,M3-xgboost")
    ap.add_argument("--path", choices=("readme", "arrays", "both"), default="both",
                    help="readme: M1/M2 trained by the built-ins from a pushed dataset and deployed with the CLI "
                         "(as the README teaches); arrays: estimators fitted on arrays and imported; both (default).")
    ap.add_argument("--profile", action="store_true",
                    help="With py-spy on PATH: sample the server during the gateway cell at 64 connections and "
                         "print where its time goes.")
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    use_wrk = shutil.which("wrk") is not None
    work = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        from slipway.artifacts.flavors.sklearn import save_sklearn_artifact
        from slipway.client import Client

        models = {k: v for k, v in train(work).items() if k in args.models.split(",")}
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
        key = json.loads((home / "credentials").read_text())["profiles"]["local"]["api_key"]
        auth = {"Authorization": f"Bearer {key}"}
        client = Client(url=url, home=home)
        targets: dict[str, list[tuple[str, str, list[int], dict[str, str]]]] = {}
        cold: dict[str, float] = {}
        onnx_info: dict[str, str] = {}
        json_ct = {"Content-Type": "application/json"}
        for name, (est, row) in models.items():
            if hasattr(est, "get_booster"):  # XGBoost: the Booster as SageMaker saves it, xgboost-model
                from slipway.artifacts.flavors.xgboost import save as save_xgboost

                save_xgboost(est, work / name)
            else:
                save_sklearn_artifact(est, work / name, samples=None)
            t0 = time.perf_counter()
            v = client.models.import_(work / name, name.lower())
            onnx_info[name] = f"{v.runtime}: {v.runtime_reason} (registration {time.perf_counter() - t0:.2f} s)"
            body = json.dumps({"instances": [row]}).encode()
            t0 = time.perf_counter()
            client.endpoints.deploy(name.lower(), f"{name.lower()}:1", wait=False)
            while True:
                r = httpx.post(f"{url}/endpoints/{name.lower()}/invocations", content=body,
                               headers={**json_ct, **auth})
                if r.status_code == 200:
                    break
                time.sleep(0.005)
            cold[name] = time.perf_counter() - t0
            replica = client.endpoints.get(name.lower()).replicas[0]
            mproc, murl = start_minimal(work, name, est, env)
            procs.append(mproc)
            targets[name] = [("minimal ASGI, 2 workers", murl, [mproc.pid], json_ct)]
            if args.path != "readme":
                targets[name] += [
                    ("Slipway replica port (arrays)", replica.url, [replica.pid], json_ct),
                    ("Slipway gateway (arrays)", f"{url}/endpoints/{name.lower()}/invocations",
                     [server.pid, replica.pid], {**json_ct, **auth}),
                ]
        if args.path != "arrays":
            built = readme_models(work, home, url, env, [n for n in models if n in README_MODELS])
            for name, text in built.items():
                endpoint, info = text.split("|", 1)
                onnx_info[f"{name} (README path)"] = info
                replica = client.endpoints.get(endpoint).replicas[0]
                targets[name] += [
                    ("Slipway replica port (README path)", replica.url, [replica.pid], json_ct),
                    ("Slipway gateway (README path)", f"{url}/endpoints/{endpoint}/invocations",
                     [server.pid, replica.pid], {**json_ct, **auth}),
                ]
        # CLI cold start: the deploy command (waits for InService) and then the first 200.
        first_model = next(iter(models))
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "slipway.cli.main", "--home", str(home), "--url", url, "endpoints",
                        "deploy", "cli-cold", "--model", f"{first_model.lower()}:1"], check=True,
                       capture_output=True, env=env)
        first = httpx.post(f"{url}/endpoints/cli-cold/invocations",
                           content=json.dumps({"instances": [models[first_model][1]]}).encode(),
                           headers={**json_ct, **auth})
        cli_cold = time.perf_counter() - t0 if first.status_code == 200 else float("nan")
        client.endpoints.delete("cli-cold")
        # Peers (bench/peers.py): MLflow and BentoML from the virtual environments in SLIPWAY_BENCH_PEERS.
        from bench import peers
        peer_rows, peer_notes = peers.serve(os.environ.get("SLIPWAY_BENCH_PEERS", ""), work, models, env, procs)
        for peer in peer_rows:
            targets[peer.model].append((peer.target, peer.url, [peer.proc.pid], json_ct))

        load = os.getloadavg()
        print(f"\nSlipway serving benchmark: {os.cpu_count()} CPUs, load average {load[0]:.2f} / {load[1]:.2f} / "
              f"{load[2]:.2f} at start, {'wrk' if use_wrk else 'httpx asyncio client'}, {args.duration:g} s per cell, "
              "one-row JSON requests\n")
        for name, info in onnx_info.items():
            print(f"- {name}: {info}")
        for note in peer_notes:
            print(f"- {note}")
        print("\n| model | target | conns | req/s | p50 ms | p99 ms | errors | CPU ms/req | vs minimal | load |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        profiles: dict[str, str] = {}
        for name, (_, row) in models.items():
            body = json.dumps({"instances": [row]}).encode()
            base: dict[int, float] = {}
            for target, turl, pids, headers in targets[name]:
                for c in levels:
                    cpu0 = cpu_seconds(pids)
                    spy = start_profile(pids[0], args.duration, work) \
                        if args.profile and target.startswith("Slipway gateway") and c == 64 else None
                    res = run_wrk(turl, body, c, args.duration, work, headers) if use_wrk else \
                        run_httpx(turl, body, c, args.duration, headers)
                    if spy is not None:
                        profiles[f"{name}, {target}"] = summarize_profile(spy, work)
                    cpu = (cpu_seconds(pids) - cpu0) / max(1, res["total"]) * 1000
                    if target.startswith("minimal"):
                        base[c] = res["rps"]
                    ratio = res["rps"] / base[c] if base.get(c) else float("nan")
                    errors = int(res["errors"]) + int(res["timeouts"])
                    print(f"| {name} | {target} | {c} | {res['rps']:.0f} | {res['p50']:.2f} | {res['p99']:.2f} | "
                          f"{errors} | {cpu:.3f} | {ratio:.2f} | {os.getloadavg()[0]:.1f} |", flush=True)
        print("\n| cold start | seconds |\n| --- | ---: |")
        for name, t in cold.items():
            print(f"| {name}: deploy API call to first 200 through the gateway | {t:.2f} |")
        print(f"| {first_model}: `slipway endpoints deploy` (CLI process) to first 200 | {cli_cold:.2f} |")
        for peer in peer_rows:
            print(f"| {peer.model}: {peer.target}, serve command launched to first 200 | {peer.cold:.2f} |")
        for name, summary in profiles.items():
            print(f"\nWhere the server's event loop spends its time, {name} at 64 connections "
                  "(py-spy, share of samples):\n")
            print(summary)
        print(f"\nload average at end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
        client.close()
    finally:
        stop_processes(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
