"""The box user code runs in: what a job, a trial, a replica or a model inspection may read and write.

Every process that runs user code (training scripts, pickles, inference handlers) is started
through :meth:`Sandbox.wrap` (or confines itself with :meth:`Sandbox.confine_self` when it is a
pre-warmed process that has just forked). It may read the Python installation, Slipway's own
code and the system's libraries and configuration, plus the folders the caller names; it may
write only the folders the caller names (its own job or scratch folder). The platform's home —
database, credentials, master key, artifact store, other jobs, serving copies of other models —
and the invoking user's home are out of reach, for a server running as root too.

The mechanism is Linux Landlock (:mod:`slipway.sandbox.landlock`): unprivileged, in the kernel
since 5.13, nothing to install, and it works the same when the server runs as root (capabilities
are dropped for good first). Setting ``sandbox``: ``auto`` confines when the kernel can and says
loudly when it cannot; ``landlock`` refuses to run user code unconfined; ``off`` never confines.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from slipway.sandbox import landlock

__all__ = ["MODES", "Isolation", "Sandbox", "SandboxUnavailable", "isolation"]

MODES = ("auto", "landlock", "off")
LAUNCHER = str(Path(landlock.__file__).resolve())

# System locations a Python process needs to read. /etc is listed entry by entry so that secrets a
# root-run job could otherwise read there (shadow, ssh host keys, sudoers) stay out of reach.
_SYSTEM_READ = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc", "/sys")
_ETC_READ = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "zoneinfo", "hosts",
             "host.conf", "resolv.conf", "nsswitch.conf", "gai.conf", "passwd", "group", "protocols", "services",
             "ssl", "ca-certificates", "ca-certificates.conf", "pki", "mime.types", "os-release", "alternatives",
             "fonts", "xdg", "pip.conf", "python3", "python3.11", "matplotlibrc", "machine-id", "debian_version")
_DEV_WRITE = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/shm")


class SandboxUnavailable(RuntimeError):
    """User code was to run confined (setting ``sandbox = "landlock"``) and this host cannot confine it."""


@dataclass(frozen=True)
class Isolation:
    """Whether user code is confined on this host, and how; what ``slipway status`` shows."""

    isolated: bool
    mechanism: str  # "landlock ABI 7", or "" when not isolated
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"isolated": self.isolated, "mechanism": self.mechanism, "message": self.message}


@lru_cache(maxsize=1)
def _abi() -> int:
    return landlock.abi_version()


def isolation(mode: str = "auto") -> Isolation:
    if mode == "off":
        return Isolation(False, "", "jobs are not isolated: the 'sandbox' setting is 'off'")
    abi = _abi()
    if abi >= 1:
        return Isolation(True, f"landlock ABI {abi}", f"jobs are isolated (Landlock ABI {abi})")
    return Isolation(False, "", "jobs are not isolated: this kernel has no Landlock; run Slipway on Linux 5.13 "
                                "or newer with Landlock enabled (lsm=…,landlock on the kernel command line)")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _allow_around(path: Path, forbidden: Sequence[Path]) -> list[str]:
    """``path``, or when a forbidden folder lies inside it, every entry of it except the way there."""
    blocked = [f for f in forbidden if _inside(f, path)]
    if not blocked:
        return [str(path)]
    if any(f == path for f in blocked):
        return []
    out: list[str] = []
    try:
        entries = sorted(path.iterdir())
    except OSError:
        return out
    for entry in entries:
        out.extend(_allow_around(entry, blocked))
    return out


@dataclass(frozen=True)
class Sandbox:
    """Starts user code confined. ``home`` (the platform's) is never readable unless a caller names a folder in it."""

    home: Path
    mode: str = "auto"

    @property
    def isolation(self) -> Isolation:
        return isolation(self.mode)

    @property
    def active(self) -> bool:
        if self.mode == "off":
            return False
        if _abi() >= 1:
            return True
        if self.mode == "landlock":
            raise SandboxUnavailable(self.isolation.message)
        return False

    def _forbidden(self) -> list[Path]:
        out = [self.home.resolve()]
        user_home = os.environ.get("HOME")
        if user_home:
            out.append(Path(user_home).resolve())
        return out

    def read_paths(self) -> list[str]:
        """What every confined process may read: system paths, Python, Slipway's code; never the homes."""
        forbidden = self._forbidden()
        home = forbidden[0]
        candidates = [Path(p) for p in _SYSTEM_READ] + [Path("/etc") / e for e in _ETC_READ]
        python = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable))}
        python.update(p for p in sys.path if p and os.path.isabs(p) and os.path.isdir(p))
        python.update(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.isabs(p))
        python.add(str(Path(__file__).resolve().parents[1]))  # the slipway package (editable installs)
        out: list[str] = []
        for p in [*candidates, *(Path(p).resolve() for p in sorted(python))]:
            if not p.exists() or _inside(p, home):
                continue
            # A Python installed under the user's home (pyenv, a venv in a project) is named outright;
            # a folder that merely contains a home is opened around it.
            out.extend(_allow_around(p, [home] + [f for f in forbidden[1:] if not _inside(p, f)]))
        return out

    def policy(self, read: Iterable[str | Path] = (), write: Iterable[str | Path] = ()) -> dict[str, list[str]]:
        return {"read": self.read_paths() + [str(p) for p in read],
                "write": [*_DEV_WRITE, *(str(p) for p in write)]}

    def wrap(self, command: Sequence[str], read: Iterable[str | Path] = (), write: Iterable[str | Path] = ()
             ) -> list[str]:
        """``command`` started inside the box (the same pid becomes ``command``); unchanged when not active."""
        if not self.active:
            return list(command)
        policy = json.dumps(self.policy(read, write), separators=(",", ":"))
        return [sys.executable, "-I", "-S", LAUNCHER, policy, "--", *command]

    def confine_self(self, read: Iterable[str | Path] = (), write: Iterable[str | Path] = ()) -> bool:
        """Confine the calling process (single-threaded: a freshly forked child); False when not active."""
        if not self.active:
            return False
        policy = self.policy(read, write)
        landlock.confine(policy["read"], policy["write"])
        return True
