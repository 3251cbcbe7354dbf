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

import glob
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from slipway.sandbox import landlock

__all__ = ["MODES", "Isolation", "Sandbox", "SandboxUnavailable", "isolation", "user_environment"]

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
_GPU_DEVICES = ("/dev/nvidia*", "/dev/nvidia-caps", "/dev/dri")  # CUDA opens these read-write (ioctl)

# What of the server's environment user code gets: locale, search paths, thread and GPU knobs, CA bundles,
# pip's configuration. Everything else (cloud keys, tokens, SLIPWAY_*) stays with the server.
_ENV_NAMES = frozenset({
    "PATH", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED", "LD_LIBRARY_PATH", "KERAS_BACKEND", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
})
_ENV_PREFIXES = ("LC_", "CUDA_", "NVIDIA_", "OPENBLAS_", "PIP_")
_URL_WITH_PASSWORD = re.compile(r"://[^/@\s]+:[^/@\s]*@")


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
    fix = "run Slipway on Linux 5.13 or newer with Landlock enabled (lsm=…,landlock on the kernel command line)"
    if mode == "landlock":
        return Isolation(False, "", f"jobs are not isolated, so none will run (setting 'sandbox' is 'landlock'): "
                                    f"this kernel has no Landlock; {fix}")
    return Isolation(False, "", f"jobs are not isolated: this kernel has no Landlock; {fix}")


def user_environment(source: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``source`` that user code may see: an allow-list, never a URL carrying a password.

    ``PYTHONPATH`` starts with the folder this server's ``slipway`` comes from when that is not the
    interpreter's own site-packages (a server run from a checkout): the runner and replica a job or
    endpoint starts are then this server's code, not another installed copy, which its box would
    not let it read anyway.
    """
    env = {k: v for k, v in source.items()
           if (k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)) and not _URL_WITH_PASSWORD.search(v)}
    root = _code_root()
    if root is not None:
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join([root, *(p for p in paths if p != root)])
    return env


@lru_cache(maxsize=1)
def _code_root() -> str | None:
    import site

    root = str(Path(__file__).resolve().parents[2])
    installed = {os.path.realpath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    return None if root in installed else root


def _editable_sources() -> set[str]:
    """Source folders of packages installed editable (``pip install -e``), which a new interpreter imports.

    setuptools' finder modules, imported at start-up by their ``.pth`` file, map each package to its
    folder; a job's interpreter finds ``slipway`` there even when this server runs from another checkout.
    """
    out: set[str] = set()
    for name, module in list(sys.modules.items()):
        mapping = getattr(module, "MAPPING", None) if name.startswith("__editable__") else None
        if isinstance(mapping, dict):
            out.update(str(p) for p in mapping.values() if isinstance(p, str) and os.path.isabs(p))
    return out


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
    """Starts user code confined. ``home`` (the platform's) is never readable unless a caller names a folder in it.

    ``hidden``: more folders kept closed as ``home`` is (on a Ray node: the server's home, Ray's session folder).
    """

    home: Path
    mode: str = "auto"
    hidden: tuple[Path, ...] = ()

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
            raise SandboxUnavailable(
                "The 'sandbox' setting is 'landlock', and this kernel has no Landlock, so user code was not "
                "started unconfined. Run Slipway on Linux 5.13 or newer with Landlock enabled, or set "
                "sandbox = \"auto\" to run user code unconfined (then every job can read the platform's home).")
        return False

    def _closed(self) -> list[Path]:
        """Folders never readable, not even when a Python installation lies inside them: the homes of the platform."""
        return [Path(p).resolve() for p in (self.home, *self.hidden)]

    def _forbidden(self) -> list[Path]:
        out = self._closed()
        user_home = os.environ.get("HOME")
        if user_home:
            out.append(Path(user_home).resolve())
        return out

    def read_paths(self) -> list[str]:
        """What every confined process may read: system paths, Python, Slipway's code; never the homes."""
        forbidden = self._forbidden()
        closed = self._closed()
        candidates = [Path(p) for p in _SYSTEM_READ] + [Path("/etc") / e for e in _ETC_READ]
        python = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable))}
        python.update(p for p in sys.path if p and os.path.isabs(p) and os.path.isdir(p))
        python.update(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.isabs(p))
        python.add(str(Path(__file__).resolve().parents[1]))  # the slipway package (editable installs)
        python.update(_editable_sources())
        out: list[str] = []
        for p in [*candidates, *(Path(p).resolve() for p in sorted(python))]:
            if not p.exists() or any(_inside(p, c) for c in closed) or p in forbidden:
                continue  # the user's ~ itself on sys.path (a server started with `python -m` from ~) is no Python
            # A Python installed under the user's home (pyenv, a venv in a project) is named outright;
            # a folder that merely contains a home is opened around it.
            out.extend(_allow_around(p, closed + [f for f in forbidden[len(closed):] if not _inside(p, f)]))
        return out

    def policy(self, read: Iterable[str | Path] = (), write: Iterable[str | Path] = ()) -> dict[str, list[str]]:
        gpus = sorted({d for pattern in _GPU_DEVICES for d in glob.glob(pattern)})
        return {"read": self.read_paths() + [str(p) for p in read],
                "write": [*_DEV_WRITE, *gpus, *(str(p) for p in write)]}

    def wrap(self, command: Sequence[str], read: Iterable[str | Path] = (), write: Iterable[str | Path] = ()
             ) -> list[str]:
        """``command`` started inside the box (the same pid becomes ``command``); unchanged when not active."""
        if not self.active:
            return list(command)
        policy = self.policy(read, write)
        args = [a for path in policy["read"] for a in ("-r", path)]
        args += [a for path in policy["write"] for a in ("-w", path)]
        return [sys.executable, "-I", "-S", LAUNCHER, *args, "--", *command]

    def confine_self(self, read: Iterable[str | Path] = (), write: Iterable[str | Path] = ()) -> bool:
        """Confine the calling process (single-threaded: a freshly forked child); False when not active."""
        if not self.active:
            return False
        policy = self.policy(read, write)
        landlock.confine(policy["read"], policy["write"])
        return True
