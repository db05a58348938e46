"""Where files the user asks for may be written, and how (§8.4.2.2c: exports stay inside the fabric).

Two kinds of user-named outputs:

* **data** — query results and exports (``govfabric sql -o``, scheduled exports): only under the
  export root (setting ``export_root``, default ``<home>/exports``). A relative path lands inside
  the root; an absolute one must resolve (symlinks followed) inside it.
* **reports** — lineage pages and graphs a user asks for by path: anywhere the user chooses,
  except the workspace (its home, outside the export root) and its key and store files.

Both are written the same way: a temporary file created next to the target with mode 0640
(``fchmod``, so the umask does not matter), renamed over the target only when complete — a
failure leaves nothing half-written, and a symlink at the target is replaced, never followed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import IO, TYPE_CHECKING

from govfabric.errors import ValidationFailed

if TYPE_CHECKING:
    from govfabric.config import Settings

FILE_MODE = 0o640
DIR_MODE = 0o750
#: files written inside :func:`synced_together`, flushed to disk when it ends
_PENDING: ContextVar[list[Path] | None] = ContextVar("govfabric_outputs_pending", default=None)


def export_root(settings: Settings) -> Path:
    """The export root, resolved; refused when it is the workspace home or a folder above it
    (then every workspace file would be an export target)."""
    home = settings.home.resolve()
    root = settings.resolved_export_root.resolve()
    if root == home or home.is_relative_to(root):
        raise ValidationFailed(f"export_root {root} is the workspace home or contains it; set export_root to a "
                               "folder of its own (default: <home>/exports)")
    return root


def _protected(settings: Settings) -> set[Path]:
    """Workspace files that no output may replace, wherever they are configured to live."""
    files = {settings.resolved_key_file, settings.home / "config.toml"}
    url = settings.resolved_store_url
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        files |= {db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"),
                  db.with_name(db.name + "-journal")}
    return {f.resolve() for f in files}


def _check_not_workspace(settings: Settings, target: Path, root: Path | None) -> None:
    home = settings.home.resolve()
    if target in _protected(settings) or (target.is_relative_to(home)
                                          and not (root is not None and target.is_relative_to(root))):
        raise ValidationFailed(f"{target} is inside the workspace ({home}); workspace files are never "
                               f"overwritten. Write exports under {root or settings.resolved_export_root}")
    if target.is_dir():
        raise ValidationFailed(f"{target} is a folder; give a file name")


def export_path(settings: Settings, given: str | os.PathLike[str]) -> Path:
    """The file a data export named ``given`` may write: inside the export root, never a workspace
    file, never through a symlink that leads out of the root. Creates missing folders in the root."""
    root = export_root(settings)
    raw = Path(given).expanduser()
    candidate = raw if raw.is_absolute() else root / raw
    target = candidate.resolve()
    if not target.is_relative_to(root) or target == root:
        raise ValidationFailed(f"exports are written only under the export root {root}; {given} resolves to "
                               f"{target}. Give a path relative to the root (e.g. reports/out.csv), or ask an "
                               "admin to change export_root")
    _check_not_workspace(settings, target, root)
    root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    target.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if not target.parent.resolve().is_relative_to(root):  # a folder swapped for a symlink meanwhile
        raise ValidationFailed(f"{target.parent} leads out of the export root {root}; remove the symlink")
    return target


def report_path(settings: Settings, given: str | os.PathLike[str]) -> Path:
    """The file a report (lineage page, graph) named ``given`` may write: the user's choice of
    folder, relative to the working directory, but never a workspace file."""
    target = Path(given).expanduser().resolve()
    root = settings.resolved_export_root.resolve()
    _check_not_workspace(settings, target, root)
    if not target.parent.is_dir():
        raise ValidationFailed(f"the folder {target.parent} does not exist; create it first")
    return target


@contextmanager
def atomic_open(target: Path, inside: Path | None = None) -> Iterator[IO[bytes]]:
    """A binary file object whose content replaces ``target`` (mode 0640) when the block ends
    without error; on error the temporary file is removed and ``target`` is untouched.

    The folder is opened once and everything happens relative to it, so a folder swapped for a
    symlink after the path was checked is caught (``inside``: the folder it must be in)."""
    with atomic_folder(target.parent, inside) as folder, folder.open(target.name) as fh:
        yield fh


class AtomicFolder:
    """A folder opened once (:func:`atomic_folder`) that files are written into as :func:`atomic_open`
    writes one: many files pay for opening and checking the folder once."""

    def __init__(self, path: Path, dfd: int) -> None:
        self.path, self._dfd = path, dfd

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        """:func:`atomic_open` of the file ``name`` in this folder."""
        dfd = self._dfd
        tmp = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE, dir_fd=dfd)
        try:
            os.fchmod(fd, FILE_MODE)
            pending = _PENDING.get()
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                if pending is None:
                    os.fsync(fh.fileno())
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            if pending is not None:
                pending.append(self.path / name)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except FileNotFoundError:
                pass
            raise


@contextmanager
def atomic_folder(path: Path, inside: Path | None = None) -> Iterator[AtomicFolder]:
    """The folder ``path``, opened and checked once (``inside``: the folder it must be in, its real
    path checked through the open descriptor), to write files into with :meth:`AtomicFolder.open`."""
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if inside is not None:
            proc = Path(f"/proc/self/fd/{dfd}")
            real = Path(os.readlink(proc)) if proc.exists() else path.resolve()
            if not real.is_relative_to(inside):
                raise ValidationFailed(f"{path} now leads out of {inside}; remove the symlink")
        yield AtomicFolder(path, dfd)
    finally:
        os.close(dfd)


@contextmanager
def synced_together(threads: int = 16) -> Iterator[None]:
    """Files :func:`atomic_open` writes inside the block reach the disk together when it ends, their
    fsyncs in parallel (the file system commits them as a group): many small files cost about one
    flush rather than one each (a licence import of 2,000 files: ~1 s instead of ~4–10 s).

    For new files that something after the block makes visible (a commit recording them): until the
    block ends a file may be renamed into place before its bytes are on disk. Each thread flushes
    its share of the files in turn (a task per file in a pool cost ~2× the CPU)."""
    import threading

    pending: list[Path] = []
    token = _PENDING.set(pending)
    try:
        yield
    finally:
        _PENDING.reset(token)
    paths = [*pending, *{p.parent for p in pending}]
    if not paths:
        return
    n = min(threads, len(paths))
    errors: list[BaseException] = []

    def flush(share: list[Path]) -> None:
        try:
            for p in share:
                _fsync_path(p)
        except BaseException as exc:  # raised below, in the caller's thread
            errors.append(exc)

    workers = [threading.Thread(target=flush, args=(paths[i::n],), name="govfabric-fsync") for i in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def _fsync_path(path: Path) -> None:
    """fsync a file or folder by path (a read-only descriptor flushes the file's data too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_report(settings: Settings, given: str | os.PathLike[str], text: str) -> Path:
    """Write a text report to ``given`` (see :func:`report_path`); returns where it went."""
    target = report_path(settings, given)
    with atomic_open(target) as fh:
        fh.write(text.encode("utf-8"))
    return target
