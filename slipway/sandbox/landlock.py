"""Confine the calling process with Linux Landlock, and drop root's powers; standard library only.

This file is also the sandbox launcher: ``python -I -S landlock.py POLICY_JSON -- cmd args…`` confines
itself and then executes ``cmd``, so the user's code starts already inside the box (a server with
threads must not call Landlock between fork and exec). It imports nothing from Slipway on purpose:
``-I -S`` keeps its start-up to a few milliseconds.

What the policy allows is all a confined process may touch on the file system: ``read`` paths for
reading and executing, ``write`` paths for everything (create, write, remove). Anything else — the
platform's home (database, credentials, master key, artifact store), other jobs' folders, the
invoking user's home — fails with EACCES, for root too. With Landlock ABI 6 the process also cannot
signal processes outside its box or reach abstract Unix sockets outside it; from ABI 1 it cannot
ptrace them or read their ``/proc/<pid>/environ``/``mem``/``fd``.

Landlock does not stop a process running as root from loading a kernel module or using other
capabilities, so a root caller first gives up every capability for good (bounding set, ambient set,
``SECBIT_NOROOT``: exec grants none back).
"""

from __future__ import annotations

import ctypes
import json
import os
import stat
import sys
from collections.abc import Iterable

__all__ = ["LandlockUnavailable", "abi_version", "confine", "drop_root_powers", "main"]

# Syscall numbers are the same on every architecture (they came after the tables were unified).
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
_PR_SET_SECUREBITS = 28
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
# NOROOT, NO_SETUID_FIXUP, KEEP_CAPS off, NO_CAP_AMBIENT_RAISE, each with its lock bit.
_SECUREBITS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 7)

# File-system rights by the ABI that introduced them.
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ABI1 = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV  # those allowed on a non-directory


class LandlockUnavailable(OSError):
    """The kernel cannot confine processes (too old, or Landlock not enabled at boot)."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: object) -> int:
    result = _libc.syscall(number, *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(result)


def abi_version() -> int:
    """The Landlock ABI this kernel offers; 0 when it has none (or it is disabled)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        return _syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except OSError:
        return 0


def _handled(abi: int) -> int:
    rights = _FS_ABI1
    if abi >= 2:
        rights |= _REFER
    if abi >= 3:
        rights |= _TRUNCATE
    if abi >= 5:
        rights |= _IOCTL_DEV
    return rights


def drop_root_powers() -> None:
    """As root: give up every capability, and make sure no later exec grants any back."""
    if os.geteuid() != 0:
        return
    _prctl = _libc.prctl
    if _prctl(_PR_SET_SECUREBITS, ctypes.c_ulong(_SECUREBITS), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot lock the securebits: {os.strerror(err)}")
    try:
        last = int(open("/proc/sys/kernel/cap_last_cap").read())
    except OSError:
        last = 40
    for cap in range(last + 1):
        _prctl(_PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0)
    _prctl(_PR_CAP_AMBIENT, ctypes.c_ulong(_PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)

    class _Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class _Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = _Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_Data * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot drop capabilities: {os.strerror(err)}")


def confine(read: Iterable[str], write: Iterable[str]) -> int:
    """Confine this process (and every process it starts) to ``read`` and ``write``; return the ABI used.

    Call it with a single thread running: Landlock restricts the calling thread and its future children.
    Paths that do not exist are skipped. Raises LandlockUnavailable when the kernel cannot do it.
    """
    abi = abi_version()
    if abi < 1:
        raise LandlockUnavailable("this kernel has no Landlock (Linux 5.13 or newer with Landlock enabled)")
    handled = _handled(abi)
    read_rights = _EXECUTE | _READ_FILE | _READ_DIR
    attr = _RulesetAttr(handled, 0, (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0)
    size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        for paths, rights in ((read, read_rights), (write, handled)):
            for path in paths:
                _add_path(ruleset, path, rights & handled)
        drop_root_powers()
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot set no_new_privs: {os.strerror(err)}")
        _syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return abi


def _add_path(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # absent paths grant nothing
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
        rule = _PathBeneathAttr(rights, fd)
        _syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule),
                 ctypes.c_uint32(0))
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    """``landlock.py POLICY_JSON -- cmd args…``: confine, then become ``cmd`` (same pid, same environment)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[1] != "--":
        print("usage: landlock.py POLICY_JSON -- command [args…]", file=sys.stderr)
        return 2
    policy = json.loads(args[0])
    try:
        confine(policy.get("read", []), policy.get("write", []))
    except OSError as exc:
        print(f"Sandbox: cannot confine the process: {exc}", file=sys.stderr)
        return 126
    command = args[2:]
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"Sandbox: cannot run {command[0]!r}: {exc}", file=sys.stderr)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
