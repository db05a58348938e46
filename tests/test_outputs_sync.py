"""Files written together reach the disk together (issue 15: the demo's 2,000 licence files were
one fsync each): inside ``synced_together`` no file waits for its own fsync; when the block ends
every file and its folder are flushed, before what follows (the commit that records them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from govfabric import outputs
from govfabric.outputs import atomic_open, synced_together


def test_files_written_together_are_flushed_when_the_block_ends(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[tuple[int, int]] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        synced.append((st.st_dev, st.st_ino))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with synced_together():
        for i in range(5):
            with atomic_open(tmp_path / f"f{i}.txt") as fh:
                fh.write(b"x" * i)
        assert synced == []  # nothing flushed one by one
    wanted = {(os.stat(p).st_dev, os.stat(p).st_ino) for p in [*tmp_path.glob("f*.txt"), tmp_path]}
    assert set(synced) == wanted and len(wanted) == 6
    assert [(tmp_path / f"f{i}.txt").read_bytes() for i in range(5)] == [b"x" * i for i in range(5)]
    assert oct((tmp_path / "f1.txt").stat().st_mode & 0o777) == oct(outputs.FILE_MODE)
    synced.clear()
    with atomic_open(tmp_path / "alone.txt") as fh:  # outside the block: flushed before the rename, as before
        fh.write(b"a")
    assert len(synced) == 1


def test_a_failed_block_flushes_nothing_and_the_next_write_syncs_alone(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    with pytest.raises(RuntimeError), synced_together():
        with atomic_open(tmp_path / "a.txt") as fh:
            fh.write(b"a")
        raise RuntimeError("the import failed")
    assert calls == []
    with atomic_open(tmp_path / "b.txt") as fh:
        fh.write(b"b")
    assert len(calls) == 1


def test_a_folder_opened_once_for_many_files_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``atomic_folder``: the folder is opened (and checked against ``inside``) once, each file is
    written as ``atomic_open`` writes it; a folder leading out of ``inside`` is refused."""
    from govfabric.errors import ValidationFailed
    from govfabric.outputs import atomic_folder

    folder = tmp_path / "lib"
    folder.mkdir()
    dirs: list[str] = []
    real_open = os.open

    def counting_open(path: object, flags: int, *a: object, **k: object) -> int:
        if flags & os.O_DIRECTORY:
            dirs.append(str(path))
        return real_open(path, flags, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", counting_open)
    with synced_together(), atomic_folder(folder, inside=folder.resolve()) as out:
        for i in range(4):
            with out.open(f"f{i}.txt") as fh:
                fh.write(b"y" * i)
        with pytest.raises(RuntimeError), out.open("broken.txt") as fh:
            fh.write(b"half")
            raise RuntimeError("boom")
    assert dirs == [str(folder)]
    assert sorted(p.name for p in folder.iterdir()) == [f"f{i}.txt" for i in range(4)]  # no temporary file
    assert (folder / "f3.txt").read_bytes() == b"yyy"
    assert oct((folder / "f2.txt").stat().st_mode & 0o777) == oct(outputs.FILE_MODE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / "link").symlink_to(elsewhere)
    with pytest.raises(ValidationFailed, match="leads out of"), atomic_folder(folder / "link", inside=folder.resolve()):
        pass
    assert list(elsewhere.iterdir()) == []


def test_a_failed_flush_raises_when_the_block_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An fsync that fails in a flushing thread is raised in the caller, before what follows the block."""
    real = outputs._fsync_path

    def fsync_path(path: Path) -> None:
        if path.name == "f3.txt":
            raise OSError(5, "Input/output error")
        real(path)

    monkeypatch.setattr(outputs, "_fsync_path", fsync_path)
    with pytest.raises(OSError, match="Input/output"), synced_together():
        for i in range(6):
            with atomic_open(tmp_path / f"f{i}.txt") as fh:
                fh.write(b"z")
