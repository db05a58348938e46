"""Tables of service routing: a routed service and the providers (govfabric servers) that serve it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class RoutedService(Base):
    """A service the gateway routes: ``kind`` ``query`` (a conditional query service of this name,
    served at ``/api/v1/query/{name}`` by every provider), its policy and its breakers' settings."""

    __tablename__ = "share_route_services"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="query")
    policy: Mapped[str] = mapped_column(String(16), default="round-robin")  # round-robin | weighted | region
    failures: Mapped[int] = mapped_column(Integer, default=3)  # failures within window_s that open a breaker
    window_s: Mapped[float] = mapped_column(Float, default=30.0)
    cooldown_s: Mapped[float] = mapped_column(Float, default=10.0)  # open -> half-open probe after this
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RouteProvider(Base):
    """One provider of a service: a govfabric server's base URL, its weight and region, and the app
    credential the gateway signs with there (the secret sealed with the workspace key)."""

    __tablename__ = "share_route_providers"
    __table_args__ = (UniqueConstraint("service_id", "url"),)

    id: Mapped[str] = id_column()
    service_id: Mapped[str] = mapped_column(String(32), index=True)
    url: Mapped[str] = mapped_column(String(512))
    weight: Mapped[int] = mapped_column(Integer, default=1)
    region: Mapped[str | None] = mapped_column(String(64))
    app_id: Mapped[str] = mapped_column(String(128))
    secret_sealed: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
