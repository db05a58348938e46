"""Applicants as principals: an admin links a person principal to an applicant identifier (the
principal attribute ``applicant_id``, e.g. ``govfabric principal add NAME --attr applicant_id=…``),
so the applicant may read their own prefill history and hold their own licences."""

from __future__ import annotations

from typing import TYPE_CHECKING

from govfabric.errors import GovfabricError

if TYPE_CHECKING:
    from govfabric.auth.principals import Actor
    from govfabric.fabric import Fabric

LINK = "applicant_id"


def linked_applicant(fabric: Fabric, actor: Actor | None = None) -> str | None:
    """The (normalised) applicant identifier linked to the acting principal (``actor`` when the
    caller holds it already) when it is a person, else ``None``; a link that is not a valid
    identifier links nothing."""
    from govfabric.auth import principals
    from govfabric.governance.security.consent import normalise_subject

    actor = actor or fabric.actor
    value = actor.attributes.get(LINK)
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    with fabric.store.session() as s:
        if principals.get(s, actor.name).kind != "person":
            return None
    try:
        return normalise_subject(value)
    except GovfabricError:
        return None
