"""Information sync (§8.4.2.9): topics, replies, search, attachments by content hash, bad input."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from govfabric.errors import AccessDenied, NotFound, TooLarge, ValidationFailed
from govfabric.sharing_modes.sync import blobs

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 300
XSS = "<script>alert('x')</script><img src=x onerror=alert(1)>"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_topic_lifecycle_and_permissions(workspace, steward, analyst) -> None:
    t = steward.topics.start("question", XSS, "正文 body")
    assert t.title == XSS  # stored as text, verbatim: escaping is the renderer's job
    with pytest.raises(AccessDenied, match="only its starter"):
        analyst.topics.edit(t.id, title="hijacked")
    edited = steward.topics.edit(t.id, title="新标题", type="notice")
    assert (edited.title, edited.type) == ("新标题", "notice")
    with pytest.raises(AccessDenied, match="starter steward1 or an admin"):
        analyst.topics.delete(t.id)
    workspace.topics.delete(t.id)  # an admin may, audited as such
    with pytest.raises(NotFound):
        analyst.topics.get(t.id)
    ev = workspace.audit.events(action="topic.delete")[-1]
    assert ev.details["by_admin"] is True and ev.details["starter"] == "steward1"
    own = analyst.topics.start("discussion", "mine", "x")
    analyst.topics.delete(own.id)
    assert workspace.audit.events(action="topic.delete")[-1].details["by_admin"] is False
    # values never reach the audit log
    assert all(XSS not in str(e.details) for e in workspace.audit.events())


@pytest.mark.parametrize(("kind", "title", "body", "message"), [
    ("gossip", "t", "b", "unknown topic type"),
    ("notice", "", "b", "title is empty"),
    ("notice", "a\nb", "b", "control characters"),
    ("notice", "a\x00b", "b", "control characters"),
    ("notice", "x" * 201, "b", "at most 200"),
    ("notice", "t", "   ", "body is empty"),
])
def test_bad_topics_are_refused_and_nothing_written(workspace, analyst, kind, title, body, message) -> None:
    with pytest.raises(ValidationFailed, match=message):
        analyst.topics.start(kind, title, body)
    assert analyst.topics.search() == []


def test_reply_notifies_the_starter(workspace, steward, analyst) -> None:
    t = steward.topics.start("request", "需要企业数据", "please")
    steward.topics.reply(t.id, "self-reply: no notification")
    assert steward.notifications.list() == []
    r = analyst.topics.reply(t.id, "已提供 / done")
    [n] = steward.notifications.list(unread=True)
    assert n.sender == "analyst1" and "需要企业数据" in n.subject and "已提供" in n.body
    assert n.link == f"/api/v1/topics/{t.id}"
    assert analyst.notifications.list() == []
    detail = analyst.topics.get(t.id)
    assert [x["id"] for x in detail["replies"]][-1] == r.id
    with pytest.raises(NotFound):
        analyst.topics.reply("0" * 32, "nowhere")


def test_search(workspace, steward, analyst) -> None:
    a = steward.topics.start("notice", "数据共享通知", "周五更新 100% 完成")
    b = analyst.topics.start("question", "接口报错", "call fails")
    c = analyst.topics.start("discussion", "other", "nothing")
    workspace.topics.reply(b.id, "看一下 logs")

    def ids(**kw) -> set[str]:  # type: ignore[no-untyped-def]
        return {t["id"] for t in analyst.topics.search(**kw)}

    assert ids() == {a.id, b.id, c.id}
    assert ids(text="共享") == {a.id}
    assert ids(text="logs") == {b.id}  # a reply's text counts
    assert ids(text="100%") == {a.id} and ids(text="%") == {a.id}  # wildcards are literal
    assert ids(text="_") == set()
    assert ids(type="question") == {b.id}
    assert ids(starter="analyst1") == {b.id, c.id}
    assert ids(replier="admin") == {b.id}
    assert ids(replier="admin", starter="steward1") == set()
    now = datetime.now(UTC)
    assert ids(since=now - timedelta(minutes=5), until=now + timedelta(minutes=5)) == {a.id, b.id, c.id}
    assert ids(since=now + timedelta(minutes=5)) == set()
    assert ids(until=now - timedelta(minutes=5)) == set()
    [row] = analyst.topics.search(replier="admin")
    assert row["replies"] == 1
    with pytest.raises(ValidationFailed, match="unknown topic type"):
        analyst.topics.search(type="bogus")
    with pytest.raises(ValidationFailed, match="time range is empty"):
        analyst.topics.search(since=now, until=now)


def test_attachments_by_content_hash(workspace, steward, analyst) -> None:
    root = blobs.blob_root(workspace.settings)
    t = steward.topics.start("notice", "附件", "files")
    text = "名单\n".encode() * 10
    a1 = steward.topics.attach(t.id, "名单.txt", [text[:5], text[5:]])  # a split multi-byte character
    assert (a1.media_type, a1.size, a1.sha256) == ("text/plain", len(text), hashlib.sha256(text).hexdigest())
    png = steward.topics.attach(t.id, "chart.png", [PNG])
    assert png.media_type == "image/png"
    # the content decides, not the name
    also_png = steward.topics.attach(t.id, "innocent.txt", [PNG])
    assert also_png.media_type == "image/png"
    assert len(_files(root)) == 2  # stored once per content
    assert _files(root)[0].name in {a1.sha256, png.sha256}
    assert not str(blobs.blob_path(workspace.settings, a1.sha256)).startswith(
        str(workspace.settings.resolved_export_root))
    r = analyst.topics.reply(t.id, "my file")
    with pytest.raises(AccessDenied, match="only its author"):
        analyst.topics.attach(t.id, "x.txt", [b"x"])
    mine = analyst.topics.attach(t.id, "reply.txt", [b"reply file"], reply_id=r.id)
    with pytest.raises(AccessDenied):
        steward.topics.attach(t.id, "x.txt", [b"x"], reply_id=r.id)
    row, path = analyst.topics.attachment(t.id, png.id)
    assert path.read_bytes() == PNG and row.name == "chart.png"
    with pytest.raises(NotFound):
        analyst.topics.attachment("0" * 32, png.id)  # the attachment must belong to the topic
    # a second topic shares the PNG blob: deleting the first keeps it, drops the rest
    t2 = steward.topics.start("notice", "again", "same png")
    steward.topics.attach(t2.id, "copy.png", [PNG])
    steward.topics.delete(t.id)
    assert [p.name for p in _files(root)] == [png.sha256]
    assert mine.sha256 != png.sha256


@pytest.mark.parametrize("name", ["../../etc/passwd", "..\\..\\boot.ini", "/abs/x.txt", "..", ".",
                                  "a\x00b.txt", "a\nb.txt", "evil\u202etxt.exe", "", "x" * 256])
def test_bad_attachment_names_refused(workspace, steward, name) -> None:
    t = steward.topics.start("notice", "names", "x")
    with pytest.raises(ValidationFailed, match="attachment name"):
        steward.topics.attach(t.id, name, [b"hello"])
    assert steward.topics.get(t.id)["attachments"] == []
    assert _files(blobs.blob_root(workspace.settings)) == []


@pytest.mark.parametrize(("content", "message"), [
    ([EXE], "application/x-msdownload are not accepted"),
    ([b"\x00\x01\x02binary"], "not a recognised type"),
    ([b"\xff\xfe\xfd not utf-8"], "not a recognised type"),
    ([], "attachment is empty"),
])
def test_wrong_types_refused_nothing_half_written(workspace, steward, content, message) -> None:
    t = steward.topics.start("notice", "types", "x")
    with pytest.raises(ValidationFailed, match=message):
        steward.topics.attach(t.id, "file.txt", content)
    assert steward.topics.get(t.id)["attachments"] == []
    assert _files(blobs.blob_root(workspace.settings)) == []  # no temporary file left either


def test_oversize_refused_nothing_half_written(workspace, steward) -> None:
    workspace.settings.sync_max_attachment_bytes = 1000
    steward.settings.sync_max_attachment_bytes = 1000
    t = steward.topics.start("notice", "big", "x")
    pulled: list[int] = []

    def endless():  # type: ignore[no-untyped-def]
        for i in range(1000):
            pulled.append(i)
            yield b"a" * 300

    with pytest.raises(TooLarge, match="over 1000 bytes"):
        steward.topics.attach(t.id, "big.txt", endless())
    assert len(pulled) == 4  # stopped at the limit, not after reading everything
    assert steward.topics.get(t.id)["attachments"] == []
    assert _files(blobs.blob_root(workspace.settings)) == []
    assert steward.topics.attach(t.id, "ok.txt", [b"a" * 1000]).size == 1000


def test_attach_racing_a_delete_of_the_same_content_leaves_no_dangling_row(workspace, steward,
                                                                          monkeypatch) -> None:
    """A delete elsewhere may remove a blob between this upload storing it and its row committing
    (the delete did not see the row yet): the upload is then undone and refused, not left pointing
    at nothing."""
    from govfabric.errors import Conflict

    t = steward.topics.start("notice", "race", "x")
    real = blobs.store

    def store_then_lose(settings, chunks, limit):  # type: ignore[no-untyped-def]
        blob = real(settings, chunks, limit)
        blobs.blob_path(settings, blob.sha256).unlink()  # what the concurrent delete did
        return blob

    monkeypatch.setattr(blobs, "store", store_then_lose)
    with pytest.raises(Conflict, match="upload it again"):
        steward.topics.attach(t.id, "a.txt", [b"hello"])
    assert steward.topics.get(t.id)["attachments"] == []
