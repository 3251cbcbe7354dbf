"""Start-up time of the `slipway` command (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/cli_startup.py [--repeat 10] [--baseline /path/to/another/checkout] [--instructions]

Runs `slipway --help`, `slipway jobs --help`, `slipway --version`, and `slipway status`, `slipway jobs list`,
`slipway data list`, `slipway models list` and `slipway endpoints list` (against a server started on a fresh
home, holding one dataset, without its warm spare replica, whose imports would share the CPUs with the first
commands) ``--repeat`` times each, as a user types them (the venv's `slipway` script, stdout to /dev/null), in
interleaved rounds, and prints the median and the fastest wall time and the median CPU time (user + system) of
each. With ``--baseline``, the same commands run with that checkout first on PYTHONPATH (e.g. a worktree of main
before a change), side by side.
With ``--instructions``, each command also runs once under `valgrind --tool=cachegrind` (PYTHONHASHSEED=0,
PYTHONMALLOC=malloc) and the millions of instructions it executed are printed: a figure that the load of a shared
machine does not move (the server's own work is not in it; the wall time of a command that calls the server is).
`python -X importtime -m slipway.cli.main --help` shows where the rest goes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchserver import start_server  # noqa: E402

COMMANDS = [["--help"], ["jobs", "--help"], ["--version"], ["status"], ["jobs", "list"], ["data", "list"],
            ["models", "list"], ["endpoints", "list"]]


def run_once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of the `slipway` script (it must succeed)."""
    script = Path(sys.executable).parent / "slipway"
    cmd = [str(script), *args] if script.exists() else [sys.executable, "-m", "slipway.cli.main", *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"`slipway {' '.join(args)}` exited with {proc.returncode}:\n{err}")
    return wall, usage.ru_utime + usage.ru_stime


def instructions(args: list[str], env: dict[str, str]) -> float:
    """Millions of instructions one run of the `slipway` script executes (valgrind's cachegrind, no cache model)."""
    script = Path(sys.executable).parent / "slipway"
    cmd = [str(script), *args] if script.exists() else [sys.executable, "-m", "slipway.cli.main", *args]
    r = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", *cmd],
                       env={**env, "PYTHONHASHSEED": "0", "PYTHONMALLOC": "malloc"}, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, check=True)
    found = re.search(r"I\s+refs:\s+([0-9,]+)", r.stderr)
    if found is None:
        raise SystemExit(f"no instruction count from valgrind:\n{r.stderr[-2000:]}")
    return int(found.group(1).replace(",", "")) / 1e6


def measure(checkouts: dict[str, Path], base_env: dict[str, str], repeat: int,
            count: bool) -> dict[str, dict[str, tuple[float, float, float, float]]]:
    """Each checkout's figures by command. The runs interleave (each round runs every command of every checkout
    once), so that a change of the machine's load during the run weighs on all of them alike."""
    envs = {}
    for name, checkout in checkouts.items():
        envs[name] = {**base_env, "PYTHONPATH": str(checkout)}
        envs[name].pop("PYTHONDONTWRITEBYTECODE", None)  # as an installed package runs: from its .pyc files
    for env in envs.values():
        for args in COMMANDS:
            run_once(args, env)  # warm the page cache and write the .pyc files
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(repeat):
        for args in COMMANDS:
            for name, env in envs.items():
                runs.setdefault((name, " ".join(args)), []).append(run_once(args, env))
    out: dict[str, dict[str, tuple[float, float, float, float]]] = {name: {} for name in checkouts}
    for (name, key), r in runs.items():
        out[name][key] = (statistics.median(x[0] for x in r), min(x[0] for x in r), statistics.median(x[1] for x in r),
                          instructions(key.split(), envs[name]) if count else float("nan"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--baseline", type=Path, help="another checkout to measure beside this one")
    parser.add_argument("--instructions", action="store_true",
                        help="also count each command's instructions once under valgrind (slow: ~20 s a command)")
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        home = Path(tmp) / "home"
        proc, url = start_server(home, {"SLIPWAY_WARM_SPARE": "false"})  # no replica importing meanwhile
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
            env.update({"SLIPWAY_HOME": str(home), "SLIPWAY_URL": url, "COLUMNS": "100"})
            csv = Path(tmp) / "small.csv"
            csv.write_text("a,b,label\n" + "".join(f"{i},{i % 7},{'yes' if i % 2 else 'no'}\n" for i in range(50)))
            run_once(["data", "push", "small", str(csv), "--label", "label"], env)  # a row for `data list`
            checkouts = {"this": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
            results = measure(checkouts, env, args.repeat, args.instructions)
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"{args.repeat} runs each, seconds: median wall, fastest wall, median CPU (user + system)"
          + ("; Minstr: millions of instructions of one run (cachegrind)" if args.instructions else "")
          + f"; load average {os.getloadavg()[0]:.2f}")
    fields = 4 if args.instructions else 3
    print(f"{'':24}" + "".join(f" {name:>{9 * fields - 1}}" for name in results))
    print(f"{'command':24}" + "".join(f" {h:>8}" for h in ("wall", "min", "cpu", "Minstr")[:fields]) * len(results))
    for key in (" ".join(a) for a in COMMANDS):
        print(f"{'slipway ' + key:24}" + "".join("".join(f" {v:8.3f}" if i < 3 else f" {v:8.1f}"
                                                         for i, v in enumerate(r[key][:fields]))
                                                 for r in results.values()))


if __name__ == "__main__":
    main()
