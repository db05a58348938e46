"""Attachment uploads from the portal (multipart forms): the starter's upload on a topic page and a
file with a reply, through the sync service's one check (exact size, sniffed type, safe name,
content-hash storage); too large or refused → a clear message and nothing stored; CSRF on the
multipart form; anonymous visitors can neither upload nor download."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from portal_helpers import csrf_of, signed_in

from govfabric.sharing_modes.sync import blobs

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 200


def _upload(c: Any, page: str, action: str, name: str, content: bytes, csrf: bool = True, **data: str) -> Any:
    token = {"csrf_token": csrf_of(c.get(page).text)} if csrf else {}
    return c.post(action, data={**token, **data}, files={"file": (name, content, "application/octet-stream")})


def _stored(world: Any) -> list[str]:
    root = blobs.blob_root(world.settings)
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def topic(client: Any) -> Any:
    return client.world.as_user("steward_mr").topics.start("notice", "上报材料", "请查收")


def test_starter_uploads_a_file_and_a_reader_downloads_it(client: Any, topic: Any) -> None:
    c = signed_in(client, "steward_mr")
    page = f"/portal/topics/{topic.id}"
    shown = c.get(page).text
    assert f'action="{page}/attachments" enctype="multipart/form-data"' in shown and 'type="file"' in shown
    r = _upload(c, page, f"{page}/attachments", "图表.png", PNG)
    assert r.status_code == 303 and r.headers["location"] == page
    (a,) = client.world.topics.get(topic.id)["attachments"]
    assert (a["name"], a["media_type"], a["size"]) == ("图表.png", "image/png", len(PNG))
    assert _stored(client.world) == [hashlib.sha256(PNG).hexdigest()]  # content-hash storage
    link = f"{page}/attachments/{a['id']}"
    assert f'href="{link}"' in c.get(page).text

    signed_in(c, "analyst1")
    assert 'type="file" name="file" required' not in c.get(page).text  # not the starter: no topic upload form
    got = c.get(link)
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    refused = _upload(c, page, f"{page}/attachments", "x.png", PNG)  # only the starter attaches to the topic
    assert refused.status_code == 403 and len(client.world.topics.get(topic.id)["attachments"]) == 1
    c.cookies.clear()
    assert c.get(link).status_code == 303 and c.get(link).headers["location"].startswith("/portal/login")
    anon = c.post(f"{page}/attachments", files={"file": ("x.png", PNG, "image/png")})
    assert anon.status_code in (303, 403) and len(client.world.topics.get(topic.id)["attachments"]) == 1


def test_reply_with_a_file_and_without(client: Any, topic: Any) -> None:
    c = signed_in(client, "analyst1")
    page = f"/portal/topics/{topic.id}"
    assert f'action="{page}/reply" enctype="multipart/form-data"' in c.get(page).text
    assert _upload(c, page, f"{page}/reply", "说明.txt", "数据已更新".encode(), body="见附件").status_code == 303
    token = csrf_of(c.get(page).text)
    empty_input = c.post(f"{page}/reply", data={"csrf_token": token, "body": "无附件"},
                         files={"file": ("", b"", "application/octet-stream")})
    assert empty_input.status_code == 303
    t = client.world.topics.get(topic.id)
    assert [r["body"] for r in t["replies"]] == ["见附件", "无附件"]
    (a,) = t["attachments"]
    assert a["reply_id"] == t["replies"][0]["id"] and a["media_type"] == "text/plain"
    assert c.get(f"{page}/attachments/{a['id']}").content == "数据已更新".encode()


def test_too_large_or_refused_type_stores_nothing(client: Any, topic: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(client.world.admin.settings, "sync_max_attachment_bytes", 1000)
    c = signed_in(client, "steward_mr")
    page = f"/portal/topics/{topic.id}"
    for size in (1001, 200_000):  # just over (the service's exact check) and far over (the body cap)
        for action, data in ((f"{page}/attachments", {}), (f"{page}/reply", {"body": "附件"})):
            r = _upload(c, page, action, "big.txt", b"a" * size, **data)
            assert r.status_code == 413 and "1000 bytes" in r.text and "smaller file" in r.text, (size, action)
    r = _upload(c, page, f"{page}/reply", "tool.exe", b"MZ\x90\x00" + b"\x00\xff" * 100, body="程序")
    assert r.status_code == 422 and "are not accepted" in r.text
    r = _upload(c, page, f"{page}/attachments", "../../etc/passwd", b"root")
    assert r.status_code == 422 and "looks like a path" in r.text
    t = client.world.topics.get(topic.id)
    assert t["attachments"] == [] and t["replies"] == [] and _stored(client.world) == []


def test_multipart_forms_without_csrf_are_403(client: Any, topic: Any) -> None:
    c = signed_in(client, "steward_mr")
    page = f"/portal/topics/{topic.id}"
    assert _upload(c, page, f"{page}/attachments", "a.png", PNG, csrf=False).status_code == 403
    assert _upload(c, page, f"{page}/reply", "a.png", PNG, csrf=False, body="x").status_code == 403
    assert _upload(c, page, f"{page}/reply", "a.png", PNG, csrf=False, body="x", csrf_token="0" * 64).status_code == 403
    t = client.world.topics.get(topic.id)
    assert t["attachments"] == [] and t["replies"] == [] and _stored(client.world) == []
    r = c.post(f"{page}/attachments", data={"csrf_token": csrf_of(c.get(page).text)},
               files={"file": ("", b"", "application/octet-stream")})
    assert r.status_code == 422 and "choose a file" in r.text
