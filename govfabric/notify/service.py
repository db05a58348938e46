"""Notifications: ``fabric.notifications.send(principal, subject, body, link=None)``.

Every message is stored in-app (``notify_messages``: ``govfabric notifications list|read``,
``GET /api/v1/notifications``). Per the recipient's own settings it is also pushed to a webhook
(signed exactly like data_service pushes: ``sharing_modes/data_service/delivery.py``, with its SSRF
checks) and e-mailed through SMTP (``smtp_url``, ``smtp_password`` sealed or ``env:``, stdlib
``smtplib``). A channel that fails is recorded on the message (``deliveries``), never raised to the
sender: a reply must not fail because the starter's mail server is down.

Kept small and stable on purpose: other modules (share process reminders, prefill 容缺 reminders)
call :meth:`Notifications.send` and nothing else."""

from __future__ import annotations

import json
import re
import secrets as pysecrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import func, select

from govfabric.auth.audit import append
from govfabric.errors import ConfigError, NotFound, ValidationFailed
from govfabric.notify.models import Notification, Preference
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

SUBJECT_MAX = 300
BODY_MAX = 20_000
LINK_MAX = 2_000
LIST_MAX = 500
SMTP_TIMEOUT_S = 10.0
_EMAIL = re.compile(r"^[^@\s<>\"(),;:\\\[\]]{1,64}@[A-Za-z0-9.-]{1,253}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class SettingsView:
    """A principal's channels; the webhook secret only right after it was made."""

    principal: str
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None = None


def message_dict(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "sender": n.sender, "subject": n.subject, "body": n.body, "link": n.link,
            "created_at": n.created_at, "read": n.read_at is not None, "read_at": n.read_at,
            "deliveries": dict(n.deliveries or {})}


def _text(value: str, what: str, limit: int, *, single_line: bool = False) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"the {what} is empty; give some text")
    if len(value) > limit:
        raise ValidationFailed(f"the {what} has {len(value)} characters; at most {limit}")
    if _CONTROL.search(value) or (single_line and ("\n" in value or "\r" in value)):
        raise ValidationFailed(f"the {what} contains control characters; remove them")
    return value.strip() if single_line else value


class Notifications:
    """Notifications, acting as ``fabric``'s principal (the sender, or the reader of their own)."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    # -- sending ---------------------------------------------------------------------------------

    def send(self, principal: str, subject: str, body: str, link: str | None = None) -> Notification:
        """Store a message for ``principal`` and push it to their webhook and e-mail, if set.
        Returns the stored message with each channel's outcome in ``deliveries``."""
        from govfabric.auth import principals

        sender = self.fabric.actor.name
        subject = _text(subject, "subject", SUBJECT_MAX, single_line=True)
        body = _text(body, "body", BODY_MAX)
        if link is not None:
            link = _text(link, "link", LINK_MAX, single_line=True)
        with self.store.session() as s:
            principals.get(s, principal)  # NotFound names the principal
            row = Notification(recipient=principal, sender=sender, subject=subject, body=body, link=link,
                               deliveries={"in_app": "stored"})
            s.add(row)
            s.flush()
            append(s, sender, "notify.send", f"principal:{principal}", {"notification": row.id})
            pref = s.get(Preference, principal)
            channels = None if pref is None else (pref.email, pref.webhook_url, pref.webhook_secret)
            s.expunge(row)
        if channels is None:
            return row
        email, url, sealed = channels
        outcomes: dict[str, str] = {}
        if url and sealed:
            outcomes["webhook"] = self._webhook(row, url, self.fabric.secrets.open(sealed))
        if email:
            outcomes["email"] = self._email(row, email)
        if outcomes:
            with self.store.session() as s:
                stored = s.get(Notification, row.id)
                if stored is not None:
                    stored.deliveries = {**(stored.deliveries or {}), **outcomes}
                    append(s, sender, "notify.deliver", f"principal:{principal}",
                           {"notification": row.id, "channels": {k: v.split(":")[0] for k, v in outcomes.items()}})
            row.deliveries = {**row.deliveries, **outcomes}
        return row

    def _webhook(self, row: Notification, url: str, secret: str) -> str:
        from govfabric.sharing_modes.data_service import delivery

        try:
            delivery.check_target(url, self.fabric.settings)
        except ValidationFailed as exc:
            return f"failed: {exc}"
        payload = json.dumps({"notification": row.id, "recipient": row.recipient, "sender": row.sender,
                              "subject": row.subject, "body": row.body, "link": row.link,
                              "created_at": row.created_at.isoformat()},
                             ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        status, error = delivery.post(url, secret, row.id, payload)
        return "sent" if error is None else f"failed: {error}"

    def _email(self, row: Notification, to: str) -> str:
        import smtplib
        from email.message import EmailMessage

        from govfabric.auth.secrets import open_secret, redact

        settings = self.fabric.settings
        if not settings.smtp_url:
            return "failed: no smtp_url is set; an admin sets it with `govfabric config` or GOVFABRIC_SMTP_URL"
        password: str | None = None
        try:
            parts = urlsplit(settings.smtp_url)
            if parts.scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
                raise ConfigError("smtp_url must be smtp://, smtps:// or smtp+starttls:// with a host")
            password = open_secret(settings.smtp_password, self.fabric.secrets)
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = settings.smtp_from, to, row.subject
            msg["Message-ID"] = f"<{row.id}@govfabric>"
            msg.set_content(row.body + (f"\n\n{row.link}\n" if row.link else "\n"))
            port = parts.port or (465 if parts.scheme == "smtps" else 25)
            client_cls = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
            with client_cls(parts.hostname, port, timeout=SMTP_TIMEOUT_S) as smtp:
                if parts.scheme == "smtp+starttls":
                    smtp.starttls()
                if parts.username:
                    smtp.login(unquote(parts.username), password or "")
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException, ConfigError, ValueError) as exc:
            return "failed: " + redact(f"{type(exc).__name__}: {exc}", password)[:300]
        return "sent"

    # -- reading one's own -----------------------------------------------------------------------

    def list(self, *, unread: bool = False, limit: int = 100) -> list[Notification]:
        """The caller's messages, newest first."""
        if not 0 < limit <= LIST_MAX:
            raise ValidationFailed(f"limit must be 1–{LIST_MAX}")
        me = self.fabric.actor.name
        with self.store.session() as s:
            q = select(Notification).where(Notification.recipient == me)
            if unread:
                q = q.where(Notification.read_at.is_(None))
            rows = list(s.scalars(q.order_by(Notification.created_at.desc(), Notification.id).limit(limit)))
            s.expunge_all()
            return rows

    def unread_count(self) -> int:
        me = self.fabric.actor.name
        with self.store.session() as s:
            return int(s.scalar(select(func.count()).select_from(Notification).where(
                Notification.recipient == me, Notification.read_at.is_(None))) or 0)

    def read(self, notification_id: str) -> Notification:
        """Mark one of the caller's messages read (another principal's is not found)."""
        me = self.fabric.actor.name
        with self.store.session() as s:
            row = s.get(Notification, notification_id)
            if row is None or row.recipient != me:
                raise NotFound(f"no notification {notification_id!r} for {me}; "
                               "list yours with `govfabric notifications list`")
            if row.read_at is None:
                row.read_at = utcnow()
                append(s, me, "notify.read", f"notification:{row.id}", {})
            s.flush()
            s.expunge(row)
            return row

    # -- the caller's channels -------------------------------------------------------------------

    def settings(self) -> SettingsView:
        me = self.fabric.actor.name
        with self.store.session() as s:
            pref = s.get(Preference, me)
            return SettingsView(me, pref.email if pref else None, pref.webhook_url if pref else None)

    def configure(self, *, email: str | None = None, webhook_url: str | None = None,
                  clear_email: bool = False, clear_webhook: bool = False,
                  new_webhook_secret: bool = False) -> SettingsView:
        """Set the caller's e-mail and webhook. A new webhook (or ``new_webhook_secret``) gets a new
        secret, returned once (it is stored sealed)."""
        from govfabric.sharing_modes.data_service import delivery

        me = self.fabric.actor.name
        if email is not None:
            email = email.strip()
            if not _EMAIL.match(email):
                raise ValidationFailed(f"{email!r} is not an e-mail address; e.g. name@example.gov.cn")
        if webhook_url is not None:
            webhook_url = _text(webhook_url, "webhook URL", LINK_MAX, single_line=True)
            delivery.check_target(webhook_url, self.fabric.settings)
        secret: str | None = None
        with self.store.session() as s:
            pref = s.get(Preference, me)
            if pref is None:
                pref = Preference(principal=me)
                s.add(pref)
            if clear_email:
                pref.email = None
            if email is not None:
                pref.email = email
            if clear_webhook:
                pref.webhook_url, pref.webhook_secret = None, None
            if webhook_url is not None and (webhook_url != pref.webhook_url or pref.webhook_secret is None):
                new_webhook_secret = True
                pref.webhook_url = webhook_url
            if new_webhook_secret and pref.webhook_url:
                secret = pysecrets.token_urlsafe(32)
                pref.webhook_secret = self.fabric.secrets.seal(secret)
            pref.updated_at = utcnow()
            append(s, me, "notify.configure", f"principal:{me}",
                   {"email": pref.email is not None, "webhook": pref.webhook_url is not None,
                    "new_secret": secret is not None})
            return SettingsView(me, pref.email, pref.webhook_url, secret)
