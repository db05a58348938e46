"""Information sync (§8.4.2.9): a coordination channel between departments.

Topics (a type from :data:`TYPES`, a title, a body), replies and attachments. Any signed-in principal
reads and replies; only the starter edits or deletes a topic (an admin may delete one, audited as
such); attachments are added by the starter (to the topic) or a reply's author (to that reply). The
starter is notified of each reply through ``fabric.notifications``. Titles and bodies are stored as
given (plain text: the API returns JSON, the portal escapes). Nothing here reads source data."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, or_, select

from govfabric.auth.audit import append
from govfabric.errors import AccessDenied, Conflict, NotFound, ValidationFailed
from govfabric.sharing_modes.sync import blobs
from govfabric.sharing_modes.sync.models import Attachment, Reply, Topic
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from govfabric.fabric import Fabric

#: topic type -> its Chinese label
TYPES: dict[str, str] = {"notice": "通知", "question": "问题", "discussion": "讨论", "request": "需求",
                         "feedback": "反馈"}
TITLE_MAX = 200
BODY_MAX = 50_000
SEARCH_MAX = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _type(value: str) -> str:
    if value not in TYPES:
        raise ValidationFailed(f"unknown topic type {value!r}; choose one of {', '.join(TYPES)}")
    return value


def _text(value: str, what: str, limit: int, *, single_line: bool = False) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"the {what} is empty; give some text")
    if len(value) > limit:
        raise ValidationFailed(f"the {what} has {len(value)} characters; at most {limit}")
    if _CONTROL.search(value) or (single_line and ("\n" in value or "\r" in value)):
        raise ValidationFailed(f"the {what} contains control characters; remove them")
    return value.strip() if single_line else value


def topic_dict(t: Topic, replies: int | None = None) -> dict[str, Any]:
    out = {"id": t.id, "type": t.type, "title": t.title, "body": t.body, "starter": t.starter,
           "created_at": t.created_at, "updated_at": t.updated_at}
    if replies is not None:
        out["replies"] = replies
    return out


def reply_dict(r: Reply) -> dict[str, Any]:
    return {"id": r.id, "topic_id": r.topic_id, "author": r.author, "body": r.body, "created_at": r.created_at}


def attachment_dict(a: Attachment) -> dict[str, Any]:
    return {"id": a.id, "topic_id": a.topic_id, "reply_id": a.reply_id, "name": a.name,
            "media_type": a.media_type, "size": a.size, "sha256": a.sha256, "uploaded_by": a.uploaded_by,
            "created_at": a.created_at}


class Topics:
    """Information sync, acting as ``fabric``'s principal."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    def _me(self) -> str:
        """The caller; a name that is not an active principal is refused (``actor`` raises)."""
        return self.fabric.actor.name

    # -- topics ----------------------------------------------------------------------------------

    def start(self, type: str, title: str, body: str) -> Topic:
        me = self._me()
        row = Topic(type=_type(type), title=_text(title, "title", TITLE_MAX, single_line=True),
                    body=_text(body, "body", BODY_MAX), starter=me)
        with self.store.session() as s:
            s.add(row)
            s.flush()
            append(s, me, "topic.start", f"topic:{row.id}", {"type": row.type})
            s.expunge(row)
            return row

    def edit(self, topic_id: str, *, type: str | None = None, title: str | None = None,
             body: str | None = None) -> Topic:
        """Change a topic's type, title or body: its starter only."""
        me = self._me()
        if type is None and title is None and body is None:
            raise ValidationFailed("nothing to change; give a new type, title or body")
        with self.store.session() as s:
            row = self._topic(s, topic_id)
            if row.starter != me:
                raise AccessDenied(f"{me} may not edit topic {row.id}: only its starter {row.starter} may")
            changed = []
            if type is not None:
                row.type = _type(type)
                changed.append("type")
            if title is not None:
                row.title = _text(title, "title", TITLE_MAX, single_line=True)
                changed.append("title")
            if body is not None:
                row.body = _text(body, "body", BODY_MAX)
                changed.append("body")
            row.updated_at = utcnow()
            append(s, me, "topic.edit", f"topic:{row.id}", {"fields": changed})
            s.flush()
            s.expunge(row)
            return row

    def delete(self, topic_id: str) -> None:
        """Delete a topic with its replies and attachments: its starter, or an admin (audited as an
        admin deletion). Blobs no other attachment names are removed after the commit."""
        actor = self.fabric.actor
        with self.store.session() as s:
            row = self._topic(s, topic_id)
            by_admin = row.starter != actor.name
            if by_admin and "admin" not in actor.roles:
                raise AccessDenied(f"{actor.name} may not delete topic {row.id}: only its starter "
                                   f"{row.starter} or an admin may")
            atts = list(s.scalars(select(Attachment).where(Attachment.topic_id == row.id)))
            shas = {a.sha256 for a in atts}
            replies = list(s.scalars(select(Reply).where(Reply.topic_id == row.id)))
            for obj in (*atts, *replies, row):
                s.delete(obj)
            s.flush()
            append(s, actor.name, "topic.delete", f"topic:{row.id}",
                   {"starter": row.starter, "by_admin": by_admin, "replies": len(replies),
                    "attachments": len(atts)})
        with self.store.session() as s:
            used = set(s.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(shas)))) if shas else set()
        blobs.remove_unused(self.fabric.settings, shas, used)

    def get(self, topic_id: str) -> dict[str, Any]:
        """A topic with its replies and attachments (any signed-in principal)."""
        self._me()
        with self.store.session() as s:
            row = self._topic(s, topic_id)
            replies = list(s.scalars(select(Reply).where(Reply.topic_id == row.id)
                                     .order_by(Reply.created_at, Reply.id)))
            atts = list(s.scalars(select(Attachment).where(Attachment.topic_id == row.id)
                                  .order_by(Attachment.created_at, Attachment.id)))
            return {**topic_dict(row), "replies": [reply_dict(r) for r in replies],
                    "attachments": [attachment_dict(a) for a in atts]}

    def search(self, *, text: str | None = None, type: str | None = None, starter: str | None = None,
               replier: str | None = None, since: datetime | None = None, until: datetime | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
        """Topics matching every given condition, newest first: ``text`` in the title or body (or a
        reply's body), ``type``, ``starter``, ``replier`` (someone who replied), created in
        [``since``, ``until``)."""
        self._me()
        if not 0 < limit <= SEARCH_MAX:
            raise ValidationFailed(f"limit must be 1–{SEARCH_MAX}")
        if since is not None and until is not None and since >= until:
            raise ValidationFailed("the time range is empty: since must be before until")
        q = select(Topic)
        if text is not None:
            text = _text(text, "search text", TITLE_MAX, single_line=True)
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            in_reply = exists().where(Reply.topic_id == Topic.id, Reply.body.ilike(pattern, escape="\\"))
            q = q.where(or_(Topic.title.ilike(pattern, escape="\\"), Topic.body.ilike(pattern, escape="\\"),
                            in_reply))
        if type is not None:
            q = q.where(Topic.type == _type(type))
        if starter is not None:
            q = q.where(Topic.starter == starter)
        if replier is not None:
            q = q.where(exists().where(Reply.topic_id == Topic.id, Reply.author == replier))
        if since is not None:
            q = q.where(Topic.created_at >= since)
        if until is not None:
            q = q.where(Topic.created_at < until)
        with self.store.session() as s:
            rows = list(s.scalars(q.order_by(Topic.created_at.desc(), Topic.id).limit(limit)))
            counts = self._reply_counts(s, [r.id for r in rows])
            return [topic_dict(r, counts.get(r.id, 0)) for r in rows]

    # -- replies ---------------------------------------------------------------------------------

    def reply(self, topic_id: str, body: str, *, attachment: tuple[str, Iterable[bytes]] | None = None) -> Reply:
        """Reply to a topic (any signed-in principal); the starter is notified unless it is them.
        ``attachment`` (name, chunks) is checked and stored first, as :meth:`attach` does, and added in
        the reply's transaction: a refused file leaves neither reply nor file behind."""
        me = self._me()
        body = _text(body, "reply", BODY_MAX)
        name = blobs.check_name(attachment[0]) if attachment else ""
        blob = blobs.store(self.fabric.settings, attachment[1], self.fabric.settings.sync_max_attachment_bytes) \
            if attachment else None
        with self.store.session() as s:
            topic = self._topic(s, topic_id)
            row = Reply(topic_id=topic.id, author=me, body=body)
            s.add(row)
            s.flush()
            append(s, me, "topic.reply", f"topic:{topic.id}", {"reply": row.id})
            att = self._add(s, me, topic.id, row.id, name, blob) if blob else None
            s.expunge(row)
            starter, title = topic.starter, topic.title
        if att is not None:
            self._still_stored(me, att)
        if starter != me:
            self.fabric.notifications.send(
                starter, f"新回复 / New reply: {title}"[:300],
                f"{me} replied to your topic “{title}”.\n\n{body[:2000]}",
                link=f"/api/v1/topics/{topic_id}")
        return row

    # -- attachments -----------------------------------------------------------------------------

    def attach(self, topic_id: str, name: str, chunks: Iterable[bytes], *, reply_id: str | None = None) -> Attachment:
        """Store a file on a topic (its starter) or on a reply (its author). The name is checked, the
        size limited (``sync_max_attachment_bytes``), the type sniffed from the content."""
        me = self._me()
        name = blobs.check_name(name)
        with self.store.session() as s:
            topic = self._topic(s, topic_id)
            owner = topic.starter
            if reply_id is not None:
                reply = s.get(Reply, reply_id)
                if reply is None or reply.topic_id != topic.id:
                    raise NotFound(f"topic {topic.id} has no reply {reply_id!r}")
                owner = reply.author
        if owner != me:
            where = f"reply {reply_id}" if reply_id else f"topic {topic_id}"
            raise AccessDenied(f"{me} may not attach files to {where}: only its author {owner} may")
        blob = blobs.store(self.fabric.settings, chunks, self.fabric.settings.sync_max_attachment_bytes)
        with self.store.session() as s:
            self._topic(s, topic_id)  # still there
            row = self._add(s, me, topic_id, reply_id, name, blob)
        self._still_stored(me, row)
        return row

    @staticmethod
    def _add(s: Session, me: str, topic_id: str, reply_id: str | None, name: str, blob: blobs.Blob) -> Attachment:
        """The attachment row for a stored blob, audited in the caller's transaction."""
        row = Attachment(topic_id=topic_id, reply_id=reply_id, name=name, media_type=blob.media_type,
                         size=blob.size, sha256=blob.sha256, uploaded_by=me)
        s.add(row)
        s.flush()
        append(s, me, "topic.attach", f"topic:{topic_id}",
               {"attachment": row.id, "media_type": blob.media_type, "size": blob.size, "sha256": blob.sha256})
        s.expunge(row)
        return row

    def _still_stored(self, me: str, row: Attachment) -> None:
        """A concurrent delete may have removed the same content before ``row`` was visible to it."""
        if not blobs.blob_path(self.fabric.settings, row.sha256).is_file():
            with self.store.session() as s:
                s.execute(delete(Attachment).where(Attachment.id == row.id))
                append(s, me, "topic.detach", f"topic:{row.topic_id}", {"attachment": row.id, "reason": "lost_race"})
            raise Conflict("the attachment was removed by a concurrent delete while it was stored; upload it again")

    def attachment(self, topic_id: str, attachment_id: str) -> tuple[Attachment, Path]:
        """An attachment's row and its blob's path, for a signed-in principal (audited)."""
        me = self._me()
        with self.store.session() as s:
            row = s.get(Attachment, attachment_id)
            if row is None or row.topic_id != topic_id:
                raise NotFound(f"topic {topic_id} has no attachment {attachment_id!r}")
            append(s, me, "topic.download", f"topic:{topic_id}", {"attachment": row.id})
            s.expunge(row)
        path = blobs.blob_path(self.fabric.settings, row.sha256)
        if not path.is_file():
            raise NotFound(f"attachment {row.id}'s content is missing from the workspace; upload it again")
        return row, path

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _topic(s: Session, topic_id: str) -> Topic:
        row = s.get(Topic, topic_id) if isinstance(topic_id, str) and len(topic_id) <= 32 else None
        if row is None:
            raise NotFound(f"no topic {topic_id!r}; find topics with `govfabric topic search`")
        return row

    @staticmethod
    def _reply_counts(s: Session, ids: list[str]) -> dict[str, int]:
        from sqlalchemy import func

        if not ids:
            return {}
        rows = s.execute(select(Reply.topic_id, func.count()).where(Reply.topic_id.in_(ids))
                         .group_by(Reply.topic_id))
        return {tid: int(n) for tid, n in rows}
