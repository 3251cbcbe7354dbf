"""Folder datasets: sorted walking, byte-identical packing, and extraction that cannot escape."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from slipway.data import iter_folder_files, pack_folder, unpack_folder
from slipway.errors import InvalidArgument


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def packed(src: Path) -> bytes:
    buffer = io.BytesIO()
    pack_folder(src, buffer)
    return buffer.getvalue()


def evil_tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


FILES = {
    "dog/b.txt": b"woof",
    "cat/a.txt": b"meow",
    "cat/sub/c.txt": b"purr",
    "cat/b0.txt": b"hiss",
}


def test_iter_folder_files_is_sorted_and_skips_hidden_and_links(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "ds", {**FILES, "cat/.DS_Store": b"x", ".git/config": b"x"})
    os.symlink(root / "dog" / "b.txt", root / "dog" / "link.txt")
    names = [p.relative_to(root).as_posix() for p in iter_folder_files(root)]
    assert names == ["cat/a.txt", "cat/b0.txt", "cat/sub/c.txt", "dog/b.txt"]


def test_pack_is_byte_identical_for_the_same_content(tmp_path: Path) -> None:
    first = make_tree(tmp_path / "one", FILES)
    second = make_tree(tmp_path / "two", dict(reversed(list(FILES.items()))))
    os.utime(second / "cat" / "a.txt", (1_000_000, 1_000_000))
    (second / "dog" / "b.txt").chmod(0o600)
    (second / "dog" / ".hidden").write_bytes(b"skipped")
    assert packed(first) == packed(second)
    assert hashlib.sha256(packed(first)).hexdigest() == hashlib.sha256(packed(second)).hexdigest()
    (second / "dog" / "b.txt").write_bytes(b"WOOF")
    assert packed(first) != packed(second)


def test_pack_writes_normalised_entries(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "ds", FILES)
    with tarfile.open(fileobj=io.BytesIO(packed(src))) as tar:
        entries = tar.getmembers()
    assert [(m.name, m.isdir()) for m in entries] == [
        ("cat", True),
        ("cat/a.txt", False),
        ("cat/b0.txt", False),
        ("cat/sub", True),
        ("cat/sub/c.txt", False),
        ("dog", True),
        ("dog/b.txt", False),
    ]
    for m in entries:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
        assert m.mode == (0o755 if m.isdir() else 0o644)


def test_pack_refuses_symlinks(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "ds", FILES)
    os.symlink("/etc/passwd", src / "cat" / "passwd")
    with pytest.raises(InvalidArgument) as err:
        packed(src)
    assert "Cannot pack 'cat/passwd'" in err.value.message
    assert "it is a symlink" in err.value.message


def test_pack_then_unpack_round_trips(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "ds", {**FILES, "cat/ünï cödé.txt": b"ok"})
    archive = tmp_path / "ds.tar"
    archive.write_bytes(packed(src))
    for dest, source in [
        (tmp_path / "from-path", archive),
        (tmp_path / "from-stream", io.BytesIO(archive.read_bytes())),
    ]:
        unpack_folder(source, dest)
        got = {p.relative_to(dest).as_posix(): p.read_bytes() for p in iter_folder_files(dest)}
        assert got == {**FILES, "cat/ünï cödé.txt": b"ok"}
        assert packed(dest) == archive.read_bytes()


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (member("../evil"), "it is a '..' component"),
        (member("cat/../../evil"), "it is a '..' component"),
        (member("/tmp/evil-absolute"), "it is an absolute path"),
        (member("C:/evil"), "it is an absolute path"),
        (member("cat/link", tarfile.SYMTYPE, "/etc/passwd"), "it is a link"),
        (member("cat/hard", tarfile.LNKTYPE, "cat/a.txt"), "it is a link"),
        (member("cat/tty", tarfile.CHRTYPE), "it is a device or special file"),
        (member("cat/fifo", tarfile.FIFOTYPE), "it is a device or special file"),
    ],
)
def test_unpack_refuses_unsafe_entries_and_writes_nothing(
    tmp_path: Path, bad: tarfile.TarInfo, problem: str
) -> None:
    data = evil_tar((member("cat/a.txt"), b"fine"), (bad, b"pwned"))
    work = tmp_path / "work"
    work.mkdir()
    dest = work / "dataset"
    with pytest.raises(InvalidArgument) as err:
        unpack_folder(io.BytesIO(data), dest)
    assert err.value.message.startswith(f"Unsafe entry '{bad.name}' in folder archive: {problem}")
    assert not dest.exists()
    assert list(work.iterdir()) == []  # no staging directory left behind
    assert not (tmp_path / "evil").exists()
    assert not Path("/tmp/evil-absolute").exists()


@pytest.mark.parametrize("second", ["cat/a.txt", "cat/a.txt/inner.txt"])
def test_unpack_refuses_a_path_given_twice_or_under_a_file(tmp_path: Path, second: str) -> None:
    # Files are created new and never through a link: a second entry for the same path (or one inside a
    # file) is refused instead of overwriting, and nothing is left behind.
    data = evil_tar((member("cat/a.txt"), b"first"), (member(second), b"second"))
    with pytest.raises(InvalidArgument, match=f"entry '{second}' clashes with an earlier entry"):
        unpack_folder(io.BytesIO(data), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_unpack_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "ds", FILES)
    dest = make_tree(tmp_path / "dest", {"keep.txt": b"mine"})
    with pytest.raises(InvalidArgument, match="it exists and is not an empty directory"):
        unpack_folder(io.BytesIO(packed(src)), dest)
    assert (dest / "keep.txt").read_bytes() == b"mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    unpack_folder(io.BytesIO(packed(src)), empty)
    assert (empty / "cat" / "a.txt").read_bytes() == b"meow"


def test_unpack_of_something_that_is_not_a_tar(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="Folder archive is not a valid tar file"):
        unpack_folder(io.BytesIO(b"definitely not a tar" * 100), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_folder_functions_want_a_directory(tmp_path: Path) -> None:
    file = tmp_path / "data.csv"
    file.write_text("a\n1\n")
    with pytest.raises(InvalidArgument, match="is not a directory"):
        list(iter_folder_files(file))
    with pytest.raises(InvalidArgument, match="is not a directory"):
        packed(file)
