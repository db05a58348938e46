"""Tables of the auth module: principals, the hash-chained audit log, app credentials and access tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class Principal(Base):
    """A person, application or business system that acts in the workspace."""

    __tablename__ = "auth_principals"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(32), default="person")
    department: Mapped[str | None] = mapped_column(String(256))
    roles: Mapped[list] = mapped_column(default=list)
    attributes: Mapped[dict] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """One event; ``hash`` covers the event's fields and ``prev_hash``."""

    __tablename__ = "auth_audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(512), index=True)
    details: Mapped[dict] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's head, one row: locking it serialises appends; it also exposes tail deletion."""

    __tablename__ = "auth_audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class AppCredential(Base):
    """A business system's signing key: the principal (kind ``business_system``) it acts as, a key
    id and the shared secret sealed with the workspace SecretBox (never stored plain)."""

    __tablename__ = "auth_apps"

    id: Mapped[str] = id_column()
    principal: Mapped[str] = mapped_column(String(128), unique=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    alg: Mapped[str] = mapped_column(String(32), default="hmac-sha256")
    rate_limit: Mapped[str | None] = mapped_column(String(64))
    daily_quota: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column()


class AccessToken(Base):
    """A person's personal access token: only its keyed digest is stored."""

    __tablename__ = "auth_tokens"

    id: Mapped[str] = id_column()
    principal: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class PasswordHash(Base):
    """A person's portal password, as an argon2id hash (never the password)."""

    __tablename__ = "auth_passwords"

    principal: Mapped[str] = mapped_column(String(128), primary_key=True)
    hash: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebSession(Base):
    """A signed-in portal session: only the keyed digest of its cookie is stored."""

    __tablename__ = "auth_web_sessions"

    id: Mapped[str] = id_column()
    principal: Mapped[str] = mapped_column(String(128), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
