"""Start-up time of the `slipway` command (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/cli_startup.py [--repeat 10] [--baseline /path/to/another/checkout]

Runs `slipway --help`, `slipway jobs --help`, `slipway --version`, and `slipway status`, `slipway jobs list`,
`slipway data list`, `slipway models list` and `slipway endpoints list` (against a server started on a fresh
home, holding one dataset) ``--repeat`` times each,
as a user types them (the venv's `slipway` script, stdout to /dev/null), and prints the median and the
fastest wall time and the median CPU time (user + system) of each. With ``--baseline``, the same commands run with
that checkout first on PYTHONPATH (e.g. a worktree of main before a change), side by side.
`python -X importtime -m slipway.cli.main --help` shows where the rest goes.
"""

from __future__ import annotations

import argparse
import os
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


def measure(checkout: Path, base_env: dict[str, str], repeat: int) -> dict[str, tuple[float, float, float]]:
    env = {**base_env, "PYTHONPATH": str(checkout)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as an installed package runs: from its .pyc files
    out = {}
    for args in COMMANDS:
        run_once(args, env)  # warm the page cache and write the .pyc files
        runs = [run_once(args, env) for _ in range(repeat)]
        out[" ".join(args)] = (statistics.median(r[0] for r in runs), min(r[0] for r in runs),
                               statistics.median(r[1] for r in runs))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--baseline", type=Path, help="another checkout to measure beside this one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        home = Path(tmp) / "home"
        proc, url = start_server(home)
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
            env.update({"SLIPWAY_HOME": str(home), "SLIPWAY_URL": url, "COLUMNS": "100"})
            csv = Path(tmp) / "small.csv"
            csv.write_text("a,b,label\n" + "".join(f"{i},{i % 7},{'yes' if i % 2 else 'no'}\n" for i in range(50)))
            run_once(["data", "push", "small", str(csv), "--label", "label"], env)  # a row for `data list`
            results = {"this": measure(ROOT, env, args.repeat)}
            if args.baseline:
                results["baseline"] = measure(args.baseline.resolve(), env, args.repeat)
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"{args.repeat} runs each, seconds: median wall, fastest wall, median CPU (user + system); "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'':24}" + "".join(f" {name:>26}" for name in results))
    print(f"{'command':24}" + " {:>8} {:>8} {:>8}".format("wall", "min", "cpu") * len(results))
    for key in (" ".join(a) for a in COMMANDS):
        print(f"{'slipway ' + key:24}" + "".join(" {:8.3f} {:8.3f} {:8.3f}".format(*r[key]) for r in results.values()))


if __name__ == "__main__":
    main()
