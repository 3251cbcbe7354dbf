"""A `slipway up` process on a fresh home for the benchmarks (imported by the scripts beside it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["start_server"]


def start_server(home: Path, settings: dict[str, str] | None = None,
                 log: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server on a free port and return it with its URL once it answers; exit if it does not in 60 s.

    ``settings``: extra ``SLIPWAY_<NAME>`` variables, e.g. ``{"SLIPWAY_SANDBOX": "off"}``. ``log``: the server's
    log (level info) goes to this file, else nowhere (level warning).
    """
    from slipway.client import Client

    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update(settings or {})
    home.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen([sys.executable, "-m", "slipway.cli.main", "--home", str(home), "up", "--port", "0",
                             "--log-level", "info" if log is not None else "warning"], env=env,
                            stdout=out, stderr=out)
    if log is not None:
        out.close()  # type: ignore[union-attr]  # the child has its own
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            info = json.loads((home / "server.json").read_text())
            if info["pid"] == proc.pid:
                with Client(url=info["url"], home=home) as c:
                    c.status()
                return proc, info["url"]
        except Exception:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")
