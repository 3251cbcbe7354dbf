"""The inspection child: loads a user's model inside the sandbox and answers in plain JSON.

``run([REQUEST_JSON])`` (``python -m slipway.inspection.child REQUEST_JSON`` by hand) is started by
:class:`slipway.inspection.Inspector` on the server's own Slipway, already confined: it can read the
artifact folder and write its scratch folder only. It sets its memory limit before anything of the
model is touched, reads the signature off an estimator when asked, exports and verifies the ONNX
copy, and writes ``result.json``; the export lands in the scratch folder's view of the artifact,
which links to the artifact's files so nothing is copied.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from slipway.errors import InvalidArgument
from slipway.inspection import ONNX_FILE, describe_into

MB = 1024 * 1024


def _limit_memory(limit_mb: int | None) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limit_mb:
        # Address space, as for training jobs: an allocation past it fails with MemoryError.
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * MB, limit_mb * MB))


def _view(folder: Path, view: Path, model_file: str | None) -> None:
    """Links to the artifact's entries, so that the export can be written beside them (the artifact is read-only)."""
    view.mkdir(parents=True, exist_ok=True)
    for entry in sorted(folder.iterdir()):
        # A stale export is replaced by a verified one, never written through (unless it is the model itself).
        if entry.name != ONNX_FILE or model_file == ONNX_FILE:
            (view / entry.name).symlink_to(entry)


def inspect(request: dict[str, Any]) -> dict[str, Any]:
    from slipway.artifacts import Manifest

    view = Path(request["view"])
    manifest = request["manifest"]
    _view(Path(request["folder"]), view, manifest.get("model_file"))
    estimator = None
    if request.get("describe"):
        from slipway.artifacts.flavors.sklearn import describe_estimator, load_estimator

        estimator = load_estimator(view / request["describe"])
        manifest = describe_into(manifest, describe_estimator(estimator))
    typed = Manifest.from_dict(manifest, view)
    answer: dict[str, Any] = {"problem_type": typed.problem_type, "signature": typed.signature.to_dict()}
    if request.get("onnx"):
        from slipway.artifacts.loading import export_onnx

        answer["onnx"] = export_onnx(view, typed, estimator)
    return answer


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--spare"]:
        return spare(torch="pytorch" in args[1:])
    request = json.loads(Path(args[0]).read_text())
    result = Path(request["result"])
    _limit_memory(request.get("memory_limit_mb"))
    try:
        answer = inspect(request)
    except InvalidArgument as exc:
        _write(result, {"ok": False, "invalid": True, "error": exc.message})
        return 1
    except BaseException as exc:  # a pickle may raise anything, SystemExit included
        traceback.print_exc()
        first = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else ""
        _write(result, {"ok": False, "error": f"{type(exc).__name__}: {first}".rstrip(": ")})
        return 1
    _write(result, {"ok": True, **answer})
    return 0


def _preload(torch: bool = False) -> None:
    import joblib  # noqa: F401
    import numpy  # noqa: F401
    import onnxruntime  # noqa: F401
    import pandas  # noqa: F401
    import skl2onnx  # noqa: F401
    import sklearn.base  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.pipeline  # noqa: F401

    import slipway.artifacts.flavors.sklearn  # noqa: F401
    import slipway.artifacts.loading  # noqa: F401
    import slipway.artifacts.onnx_runtime  # noqa: F401

    if torch:
        import slipway.artifacts.flavors.torch_builtin  # noqa: F401
        import slipway.artifacts.flavors.torch_onnx  # noqa: F401


def spare(torch: bool = False) -> int:
    """Wait (libraries imported) for one inspection on stdin; run it in a fork that confines itself first.

    The spare itself never reads the model: it may hold threads that libraries started, which a
    confinement of the calling thread would not cover; the fork has one thread, confines it, then works.
    """
    try:
        _preload(torch)
    except ImportError:  # an extra is missing: the fork imports what the model needs, as a cold child does
        pass
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    order = json.loads(line)
    fd = os.open(order["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)  # nothing of the spare's pipe from the server
            os.close(null)
            from slipway.sandbox import Sandbox

            Sandbox(Path(order["home"]), order["mode"]).confine_self(read=order["read"], write=order["write"])
            os.environ.update(order["env"])
            os.chdir(order["cwd"])
            code = main([order["request"]])
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            # Library destructors started in the spare's threads abort in a fork (ONNX Runtime): skip them.
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # the server reads a signal as such (the memory limit shows as SIGKILL/SIGSEGV)
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


def run(argv: list[str]) -> NoReturn:
    """The entry point the inspector starts: ``main``, then out without tearing the libraries down."""
    code = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run(sys.argv[1:])
