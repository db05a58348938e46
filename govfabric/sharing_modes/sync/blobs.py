"""Attachment bytes: names checked, type sniffed from the content, stored by SHA-256.

Type detection uses ``filetype`` (pure Python magic-byte signatures, no system libmagic, so a fresh
machine or CI installs it from PyPI alone); text has no magic bytes, so content that is valid UTF-8
without NULs is ``text/plain``. Only the types in :data:`ALLOWED` are accepted; the name the
uploader gave is kept for display only and never becomes a path. Blobs live in
``<home>/sync/blobs/ab/abcdef…`` (the workspace, never the export root), written to a temporary file
and renamed, so a failed upload leaves nothing behind."""

from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from govfabric.errors import TooLarge, ValidationFailed

if TYPE_CHECKING:
    from govfabric.config import Settings

#: sniffed type -> what it is called in errors
ALLOWED: dict[str, str] = {
    "image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP",
    "application/pdf": "PDF", "application/zip": "ZIP",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word (.docx)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel (.xlsx)",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint (.pptx)",
    "text/plain": "text (UTF-8)",
}
NAME_MAX = 255
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int
    media_type: str


def blob_root(settings: Settings) -> Path:
    return settings.home / "sync" / "blobs"


def blob_path(settings: Settings, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValidationFailed("an attachment digest must be 64 lowercase hex characters")
    return blob_root(settings) / sha256[:2] / sha256


def check_name(name: str) -> str:
    """The uploader's file name, refused when it could be read as a path or hides characters:
    separators, ``.``/``..``, control and format characters (bidi overrides), over 255 characters."""
    if not isinstance(name, str):
        raise ValidationFailed("give the attachment's file name")
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise ValidationFailed("the attachment name is empty; give a file name such as report.pdf")
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith(".."):
        raise ValidationFailed(f"attachment name {name!r} looks like a path; give a plain file name "
                               "such as report.pdf (no folders, no ..)")
    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    if bad:
        raise ValidationFailed(f"attachment name {name!r} contains control or invisible characters "
                               f"({', '.join(f'U+{ord(c):04X}' for c in bad[:3])}); rename the file")
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"attachment name has {len(name)} characters; at most {NAME_MAX}")
    return name


def sniff(head: bytes, utf8_text: bool) -> str:
    """The media type of content starting with ``head`` (``utf8_text``: the whole content decoded as
    UTF-8 without NULs), refused unless allowed."""
    import filetype

    kind = filetype.guess(head)
    if kind is not None:
        if kind.mime in ALLOWED:
            return kind.mime
        raise ValidationFailed(f"attachments of type {kind.mime} are not accepted; allowed: "
                               f"{', '.join(ALLOWED.values())}")
    if utf8_text and head:
        return "text/plain"
    raise ValidationFailed("the attachment's content is not a recognised type; allowed: "
                           f"{', '.join(ALLOWED.values())}")


def store(settings: Settings, chunks: Iterable[bytes], limit: int) -> Blob:
    """Write ``chunks`` to the blob store (at most ``limit`` bytes); returns its digest, size and
    sniffed type. Over the limit or of a refused type: nothing is kept."""
    root = blob_root(settings)
    root.mkdir(parents=True, exist_ok=True, mode=0o750)
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    text, size, head = True, 0, b""
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=root)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the attachment is over {limit} bytes (sync_max_attachment_bytes); "
                                   "send a smaller file")
                if len(head) < _SNIFF_BYTES:
                    head += chunk[:_SNIFF_BYTES - len(head)]
                if text:
                    text = b"\x00" not in chunk and _decodes(decoder, chunk)
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        text = text and _decodes(decoder, b"", final=True)
        if size == 0:
            raise ValidationFailed("the attachment is empty; send a file with content")
        media_type = sniff(head, text)
        sha = digest.hexdigest()
        target = blob_path(settings, sha)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        if target.exists() and target.stat().st_size == size:
            os.unlink(tmp)
        else:
            os.chmod(tmp, 0o640)
            os.replace(tmp, target)
        return Blob(sha, size, media_type)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _decodes(decoder: codecs.IncrementalDecoder, chunk: bytes, final: bool = False) -> bool:
    try:
        decoder.decode(chunk, final=final)
    except UnicodeDecodeError:
        return False
    return True


def remove_unused(settings: Settings, sha256s: Iterable[str], still_used: set[str]) -> None:
    """Delete blobs no attachment row names any more (after the rows' transaction committed)."""
    for sha in set(sha256s) - still_used:
        try:
            blob_path(settings, sha).unlink(missing_ok=True)
        except OSError:
            pass  # a leftover blob is harmless: it is named by its content
