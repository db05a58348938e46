"""Attachment uploads in a real Chromium: the starter uploads an image on the topic page, a reader
replies with a text file, both appear as download links; a too-large file shows the message; the
starter's page has no serious axe violations."""

from __future__ import annotations

from typing import Any

from portal_helpers import axe_serious, browser_sign_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 200



def test_upload_on_topic_page_and_with_a_reply(new_page: Any, live_portal: str, portal_world: Any) -> None:
    base = live_portal
    topic = portal_world.as_user("steward_mr").topics.start("notice", "上报材料", "请查收")
    starter = new_page()
    reader = new_page()
    url = f"{base}/portal/topics/{topic.id}"

    browser_sign_in(starter, base, "steward_mr")
    starter.goto(url)
    assert axe_serious(starter) == []  # both upload forms shown (the starter's and the reply's)
    starter.get_by_label("为主题上传文件或图片").set_input_files(
        files=[{"name": "图表.png", "mimeType": "image/png", "buffer": PNG}])
    starter.get_by_role("button", name="上传", exact=True).click()
    starter.wait_for_url(url)
    assert starter.get_by_role("link", name="图表.png").is_visible()

    browser_sign_in(reader, base, "analyst1")
    reader.goto(url)
    assert reader.get_by_label("为主题上传文件或图片").count() == 0  # the starter's form only
    reader.get_by_label("您的回复").fill("见附件")
    reader.get_by_label("附加文件或图片（可选）").set_input_files(
        files=[{"name": "说明.txt", "mimeType": "text/plain", "buffer": "数据已更新".encode()}])
    reader.get_by_role("button", name="回复", exact=True).click()
    reader.wait_for_url(url)
    assert reader.get_by_role("link", name="说明.txt").is_visible()
    big = b"a" * (portal_world.admin.settings.sync_max_attachment_bytes + 1)
    reader.get_by_label("您的回复").fill("太大")
    reader.get_by_label("附加文件或图片（可选）").set_input_files(
        files=[{"name": "big.txt", "mimeType": "text/plain", "buffer": big}])
    reader.get_by_role("button", name="回复", exact=True).click()
    assert reader.get_by_text("smaller file").is_visible()
    t = portal_world.topics.get(topic.id)
    assert [r["body"] for r in t["replies"]] == ["见附件"] and len(t["attachments"]) == 2
