"""Tables of the e-licence library (prefix ``lic_``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class Licence(Base):
    """One e-licence: the GB/T 36903 metadata essentials and the stored licence file's digests."""

    __tablename__ = "lic_licences"
    id: Mapped[str] = id_column()
    identifier: Mapped[str] = mapped_column(String(128), unique=True)  # 电子证照标识 (GB/T 36904)
    number: Mapped[str | None] = mapped_column(String(128))  # 证照编号, as printed on the licence
    type_code: Mapped[str] = mapped_column(String(32))
    type_name: Mapped[str] = mapped_column(String(128))
    holder_name: Mapped[str] = mapped_column(String(256))
    holder_id: Mapped[str] = mapped_column(String(32), index=True)
    holder_id_type: Mapped[str] = mapped_column(String(16))  # uscc | resident_id
    authority: Mapped[str] = mapped_column(String(256))
    authority_code: Mapped[str] = mapped_column(String(18))
    department: Mapped[str | None] = mapped_column(String(256))  # whose stewards import and revoke it
    issued_on: Mapped[date] = mapped_column()
    valid_from: Mapped[date] = mapped_column()
    valid_until: Mapped[date | None] = mapped_column()  # none: 长期 (no end)
    status: Mapped[str] = mapped_column(String(16))  # valid | revoked | expired | suspended
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_by: Mapped[str | None] = mapped_column(String(128))
    status_changed_at: Mapped[datetime | None] = mapped_column()
    file_name: Mapped[str | None] = mapped_column(String(256))  # as imported
    stored_name: Mapped[str | None] = mapped_column(String(64))  # under <home>/licences/
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    sm3: Mapped[str | None] = mapped_column(String(64))
    anchor_id: Mapped[str | None] = mapped_column(String(32))
    imported_by: Mapped[str] = mapped_column(String(128))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
