"""Gateway A/B (run by hand, prints a table): this checkout's gateway against another checkout's, interleaved.

    PYTHONPATH=. .venv/bin/python bench/gateway_ab.py --baseline /path/to/main [--rounds 3] [--duration 4]

Starts one ``slipway up`` per side (the baseline's ``slipway`` package first on PYTHONPATH, so its server and
its replicas run the baseline code), imports M1 (LogisticRegression on the breast-cancer arrays, on the ONNX fast
path) and, with ``--models``, M2 (a 100-tree forest) on each, deploys it, and then alternates wrk rounds at
``--conns`` connections through each side's gateway (``POST /endpoints/{name}/invocations`` with the admin
key): A, B, A, B... so a change in the machine's load hits both sides alike. Per round: req/s, p50, p99, and
CPU ms per request of the serving processes (server + replica, psutil, user + system). The replica port of
each side is measured once per model as the ceiling. ``--profile DIR``: py-spy samples each side's server
during its last round (raw collapsed stacks in DIR). ``--stretch``: also the
replica-side key check prototype (bench/replica_auth.py) on this side's replica.

The load average is printed beside every row: on a shared machine compare sides within one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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

from bench.serving import cpu_seconds, run_wrk, stop_processes, summarize_profile, train  # noqa: E402


def start_side(label: str, code: Path, work: Path) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    home = work / f"home-{label}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env["PYTHONPATH"] = str(code)
    proc = subprocess.Popen([sys.executable, "-m", "slipway.cli.main", "--home", str(home), "up", "--port", "0",
                             "--log-level", "warning"], env=env, cwd=str(code), stdout=subprocess.DEVNULL,
                            stderr=open(work / f"server-{label}.log", "wb"))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            info = json.loads((home / "server.json").read_text())
            if info["pid"] == proc.pid and httpx.get(info["url"] + "/healthz", timeout=2).status_code == 200:
                key = json.loads((home / "credentials").read_text())["profiles"]["local"]["api_key"]
                return proc, info["url"], key, home
        except Exception:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the {label} server did not start (see {work}/server-{label}.log)")


def deploy(url: str, home: Path, key: str, work: Path, name: str, est: Any, row: list[float],
           endpoint: str | None = None, serving: dict[str, Any] | None = None) -> tuple[int, str]:
    """Import and deploy ``name`` on one side; its replica's (pid, url) once the gateway answers 200."""
    from slipway.artifacts.flavors.sklearn import save_sklearn_artifact
    from slipway.client import Client

    folder = work / f"{name}-artifact"
    if not folder.exists():
        save_sklearn_artifact(est, folder, samples=None)
    endpoint = endpoint or name.lower()
    with Client(url=url, home=home) as client:
        if endpoint == name.lower():
            client.models.import_(folder, name.lower())
        client.endpoints.deploy(endpoint, f"{name.lower()}:1", wait=False, serving=serving)
        body = json.dumps({"instances": [row]}).encode()
        headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
        deadline = time.monotonic() + 120
        while httpx.post(f"{url}/endpoints/{endpoint}/invocations", content=body, headers=headers).status_code \
                != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} did not come up on {url}")
            time.sleep(0.02)
        replica = client.endpoints.get(endpoint).replicas[0]
        return replica.pid, replica.url


def _raise_priority() -> None:
    """py-spy before the processes it samples (only where allowed): on a busy machine it is starved otherwise."""
    try:
        os.nice(-10)
    except OSError:
        pass


def spy(pid: int, seconds: float, folder: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("(--profile: py-spy is not installed)", file=sys.stderr)
        return None
    return subprocess.Popen([exe, "record", "-p", str(pid), "-d", str(max(1, int(seconds) - 1)), "-r", "250", "-f",
                             "raw", "-o", str(folder / "profile.txt"), "--nonblocking"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_raise_priority)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path, required=True, help="a checkout of the baseline (e.g. main)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--models", default="M1-logreg")
    ap.add_argument("--profile", type=Path, default=None, help="folder for py-spy output of this side's server")
    ap.add_argument("--stretch", action="store_true", help="also measure the replica-side key check prototype")
    ap.add_argument("--workers", type=int, default=0,
                    help="also deploy each model on this side with this many replica workers (serving option "
                         "'workers') and measure it as a third side")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slipway-gwab-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        models = {k: v for k, v in train(work).items() if k in args.models.split(",")}
        sides: dict[str, dict[str, Any]] = {}
        for label, code in (("baseline", args.baseline.resolve()), ("branch", ROOT)):
            proc, url, key, home = start_side(label, code, work)
            procs.append(proc)
            sides[label] = {"proc": proc, "url": url, "key": key, "home": home, "replicas": {}}
            for name, (est, row) in models.items():
                sides[label]["replicas"][name] = deploy(url, home, key, work, name, est, row)
        if args.workers:
            branch = sides["branch"]
            label = f"branch, {args.workers} replica worker(s)"
            sides[label] = {**branch, "replicas": {}, "endpoint": f"-w{args.workers}"}
            for name, (est, row) in models.items():
                sides[label]["replicas"][name] = deploy(branch["url"], branch["home"], branch["key"], work, name, est,
                                                        row, f"{name.lower()}-w{args.workers}",
                                                        {"workers": args.workers})
        print(f"\nGateway A/B: {os.cpu_count()} CPUs, wrk {args.conns} connections, {args.duration:g} s per round, "
              f"baseline {args.baseline}, branch {ROOT}\n")
        print("| model | side | target | round | req/s | p50 ms | p99 ms | errors | CPU ms/req | first process user / "
              "kernel ms/req | load |")
        print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        summary: dict[tuple[str, str], list[dict[str, float]]] = {}
        profiles: dict[str, str] = {}

        def cell(name: str, label: str, target: str, rnd: int, url: str, pids: list[int], headers: dict[str, str],
                 profile: Path | None = None) -> dict[str, float]:
            body = json.dumps({"instances": [models[name][1]]}).encode()
            first = psutil.Process(pids[0]).cpu_times()  # the first process alone: user and kernel apart
            cpu0 = cpu_seconds(pids)
            sampler = spy(pids[0], args.duration, profile) if profile is not None else None
            res = run_wrk(url, body, args.conns, args.duration, work, headers)
            if sampler is not None and profile is not None:
                profiles[f"{name}, {label}"] = summarize_profile(sampler, profile)
                if (profile / "profile.txt").exists():
                    (profile / "profile.txt").rename(profile / f"gateway-{name}-{label.split(',')[0]}.txt")
            res["cpu"] = (cpu_seconds(pids) - cpu0) / max(1, res["total"]) * 1000
            last = psutil.Process(pids[0]).cpu_times()
            res["user"] = (last.user - first.user) / max(1, res["total"]) * 1000
            res["sys"] = (last.system - first.system) / max(1, res["total"]) * 1000
            errors = int(res["errors"]) + int(res["timeouts"])
            print(f"| {name} | {label} | {target} | {rnd} | {res['rps']:.0f} | {res['p50']:.2f} | {res['p99']:.2f} | "
                  f"{errors} | {res['cpu']:.3f} | {res['user']:.3f} / {res['sys']:.3f} | {os.getloadavg()[0]:.1f} |", flush=True)
            return res

        for name in models:
            for label, side in sides.items():
                rpid, rurl = side["replicas"][name]
                if "endpoint" not in side:
                    cell(name, label, "replica port", 0, rurl, [rpid], {"content-type": "application/json"})
            if args.stretch:
                from bench.replica_auth import measure

                for res in measure(sides["branch"], name, models[name][1], args, work):
                    summary.setdefault((name, res.pop("label")), []).append(res)
            for rnd in range(1, args.rounds + 1):
                for label, side in sides.items():
                    rpid, _ = side["replicas"][name]
                    prof = None
                    if args.profile is not None and rnd == args.rounds and label in ("baseline", "branch"):
                        args.profile.mkdir(parents=True, exist_ok=True)
                        prof = args.profile
                    endpoint = name.lower() + side.get("endpoint", "")
                    res = cell(name, label, "gateway", rnd, f"{side['url']}/endpoints/{endpoint}/invocations",
                               [side["proc"].pid, rpid], {"content-type": "application/json",
                                                          "authorization": f"Bearer {side['key']}"}, prof)
                    summary.setdefault((name, label), []).append(res)
        print("\n| model | side | median req/s | median p99 ms | median CPU ms/req | median first process user / "
              "kernel ms/req |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for (name, label), rows in summary.items():
            print(f"| {name} | {label} | {statistics.median(r['rps'] for r in rows):.0f} | "
                  f"{statistics.median(r['p99'] for r in rows):.2f} | {statistics.median(r['cpu'] for r in rows):.3f} | "
                  f"{statistics.median(r['user'] for r in rows):.3f} / {statistics.median(r['sys'] for r in rows):.3f} |")
        for key, text in profiles.items():
            print(f"\nWhere the server's event loop spends its time, {key}, gateway at {args.conns} connections "
                  "(py-spy, share of samples):\n")
            print(text)
        print(f"\nload average at end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        stop_processes(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
