"""The one façade: ``govfabric.connect()`` returns a :class:`Fabric` that the CLI, the
HTTP server and Python users all go through. Module services hang off it."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govfabric.auth import principals
from govfabric.auth.audit import AuditLog, append, bind_workspace
from govfabric.auth.principals import Actor
from govfabric.auth.secrets import SecretBox
from govfabric.config import CONFIG_FILE, DEFAULT_USER, Settings, load_settings, resolve_home
from govfabric.errors import AccessDenied, ConfigError, NotFound
from govfabric.store.db import Store
from govfabric.store.workspace import open_store

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa

    from govfabric.blockchain.service import ChainService
    from govfabric.catalog.service import Catalog
    from govfabric.governance.lineage.service import LineageService
    from govfabric.governance.metadata.service import MetadataService
    from govfabric.governance.quality.service import QualityService
    from govfabric.governance.schedule.service import Scheduler
    from govfabric.governance.security.service import SecurityService
    from govfabric.governance.standards.service import StandardsService
    from govfabric.notify.service import Notifications
    from govfabric.prefill.licences.service import Licences
    from govfabric.prefill.service import Prefill
    from govfabric.sharing_modes.data_service.service import Subscriptions
    from govfabric.sharing_modes.delta_sharing.service import DeltaSharing
    from govfabric.sharing_modes.files.service import DatasetFiles
    from govfabric.sharing_modes.process.service import Shares
    from govfabric.sharing_modes.query_api.service import QueryApi
    from govfabric.sharing_modes.routing.service import Routes
    from govfabric.sharing_modes.sync.service import Topics
    from govfabric.virtualization.access import Access
    from govfabric.virtualization.query import QueryService
    from govfabric.virtualization.tables import VirtualObjects

DEFAULT_ADMIN = DEFAULT_USER


class Fabric:
    """A connection to one workspace, acting as one principal."""

    def __init__(self, settings: Settings, user: str | None = None, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.resolved_store_url)
        self.user = user or settings.user or DEFAULT_ADMIN
        self.secrets = SecretBox(settings.resolved_key_file)
        bind_workspace(self.store, self.secrets, settings.home)  # the audit key and checkpoint, outside the store
        #: the fabric this one was made from by :meth:`as_user`: workspace-wide resources come from it
        self._origin: Fabric | None = None

    @property
    def actor(self) -> Actor:
        """The acting principal as the store holds it now: a principal disabled or given other
        roles by anyone, in any process, acts so from its next call. Kept while the store's change
        counter (``virtualization/cache.py``; every write to principals moves it) stands still;
        read afresh inside a transaction or on a store without the counter's triggers."""
        from govfabric.virtualization import cache

        found = cache.current(self.store)
        generation = found[1] if found is not None else None
        held: tuple[int, Actor] | None = self.__dict__.get("_actor_at")
        if held is not None and generation is not None and held[0] == generation:
            return held[1]
        actor = self._read_actor()
        if generation is not None:  # read inside a transaction: the one held for its generation still holds
            self.__dict__["_actor_at"] = (generation, actor)
        return actor

    def _read_actor(self) -> Actor:
        with self.store.session() as s:
            try:
                return principals.actor_of(principals.get(s, self.user))
            except NotFound:
                raise NotFound(f"acting user {self.user!r} is not a principal of this workspace; "
                               "choose one with --as / GOVFABRIC_USER, or add it with "
                               "`govfabric principal add`") from None

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.store, self.user)

    @cached_property
    def catalog(self) -> Catalog:
        from govfabric.catalog.service import Catalog

        return Catalog(self)

    @cached_property
    def virtual(self) -> VirtualObjects:
        """Virtual tables and views."""
        from govfabric.virtualization.tables import VirtualObjects

        return VirtualObjects(self)

    @cached_property
    def access(self) -> Access:
        """Access requests, grants, masks and row filters."""
        from govfabric.virtualization.access import Access

        return Access(self)

    @cached_property
    def queries(self) -> QueryService:
        from govfabric.virtualization.query import QueryService

        return QueryService(self)

    @cached_property
    def quality(self) -> QualityService:
        """Quality rules (great-expectations, pushed down), runs, work orders and remedies."""
        from govfabric.governance.quality.service import QualityService

        return QualityService(self)

    @cached_property
    def security(self) -> SecurityService:
        """PII classification, default masks and consent records."""
        from govfabric.governance.security.service import SecurityService

        return SecurityService(self)

    @cached_property
    def standards(self) -> StandardsService:
        """Data elements, naming rules and conformance checks."""
        from govfabric.governance.standards.service import StandardsService

        return StandardsService(self)

    @cached_property
    def lineage(self) -> LineageService:
        """Lineage graph, impact analysis and exports (OpenLineage, DOT, HTML)."""
        from govfabric.governance.lineage.service import LineageService

        return LineageService(self)

    @cached_property
    def metadata(self) -> MetadataService:
        """Glossary terms, indicators, business rules and technical metadata."""
        from govfabric.governance.metadata.service import MetadataService

        return MetadataService(self)

    @cached_property
    def subscriptions(self) -> Subscriptions:
        """Data service subscriptions: ordered ranges, pulled changes and signed pushes (§8.4.2.7)."""
        from govfabric.sharing_modes.data_service.service import Subscriptions

        return Subscriptions(self)

    @cached_property
    def schedule(self) -> Scheduler:
        """Scheduled harvests, quality runs and exports."""
        from govfabric.governance.schedule.service import Scheduler

        return Scheduler(self)

    @cached_property
    def datasets(self) -> DatasetFiles:
        """Dataset files (§8.4.2.5): offers, per-consumer files, previews, signed links."""
        from govfabric.sharing_modes.files.service import DatasetFiles

        return DatasetFiles(self)

    @cached_property
    def shares(self) -> Shares:
        """Sharing process management (§8.4.2.10): offers, lifecycle, requests, time limits, statistics."""
        from govfabric.sharing_modes.process.service import Shares

        return Shares(self)

    @cached_property
    def delta_sharing(self) -> DeltaSharing:
        """Delta Sharing (the open protocol): recipients, shares, Parquet files by signed URL."""
        from govfabric.sharing_modes.delta_sharing.service import DeltaSharing

        return DeltaSharing(self)

    @cached_property
    def query_api(self) -> QueryApi:
        """Conditional query services (§8.4.2.6): published lookups, called as this principal."""
        from govfabric.sharing_modes.query_api.service import QueryApi

        return QueryApi(self)

    @cached_property
    def routes(self) -> Routes:
        """Service routing (§8.4.2.3e): providers of a service, policies, failover, breakers."""
        from govfabric.sharing_modes.routing.service import Routes

        return Routes(self)

    @cached_property
    def licences(self) -> Licences:
        """The e-licence library (§9.5.2): import, read by holder, verify, revoke, anchor."""
        from govfabric.prefill.licences.service import Licences

        return Licences(self)

    @cached_property
    def prefill(self) -> Prefill:
        """Service items (事项) and form and material prefill for consenting applicants (§9.4.6.3)."""
        from govfabric.prefill.service import Prefill

        return Prefill(self)

    @cached_property
    def topics(self) -> Topics:
        """Information sync (§8.4.2.9): topics, replies, attachments between departments."""
        from govfabric.sharing_modes.sync.service import Topics

        return Topics(self)

    @cached_property
    def notifications(self) -> Notifications:
        """Notifications to principals: in-app, webhook, e-mail (``send`` is the stable entry)."""
        from govfabric.notify.service import Notifications

        return Notifications(self)

    def sql(self, query: str, dialect: str | None = None, engine: str | None = None) -> pa.Table:
        """Run virtual SQL as this principal; returns an Arrow table (see :meth:`sql_stream`)."""
        return self.queries.sql(query, dialect=dialect, engine=engine)

    def sql_stream(self, query: str, dialect: str | None = None, engine: str | None = None
                   ) -> Iterator[pa.RecordBatch]:
        """Run virtual SQL as this principal, streaming Arrow record batches."""
        return self.queries.stream(query, dialect=dialect, engine=engine)

    def as_user(self, user: str) -> Fabric:
        """The same workspace acting as another principal (shares the store's pool and chain)."""
        other = Fabric(self.settings, user, self.store)
        other._origin = self._origin or self
        return other

    @cached_property
    def chain(self) -> ChainService:
        """The blockchain sharing mode: anchors, on-chain grants and sharing records. One chain
        connection per workspace: a fabric made by :meth:`as_user` shares its origin's (an embedded
        chain is one journal, and must not be replayed twice), acting as its own principal."""
        if self._origin is not None:
            return self._origin.chain.with_actor(self.user)
        from govfabric.blockchain.service import ChainService

        return ChainService(self.store, self.settings, actor=self.user)

    def add_principal(self, name: str, roles: list[str], **kw: Any) -> principals.Principal:
        self.actor.require("admin", action="add principals")
        with self.store.session() as s:
            return principals.add(s, self.actor.name, name, roles=roles, **kw)

    def set_roles(self, name: str, roles: list[str]) -> principals.Principal:
        """Replace a principal's roles (admin only; the last admin keeps admin)."""
        self.actor.require("admin", action="change roles")
        with self.store.session() as s:
            return principals.set_roles(s, self.actor.name, name, roles)

    def set_principal_active(self, name: str, active: bool) -> principals.Principal:
        """Disable or enable a principal (admin only; the last admin stays enabled)."""
        self.actor.require("admin", action="disable or enable principals")
        with self.store.session() as s:
            return principals.set_active(s, self.actor.name, name, active)

    def principals(self) -> list[principals.Principal]:
        with self.store.session() as s:
            return principals.list_all(s)

    def release_engines(self) -> None:
        """Close query-engine connections (they reopen on the next query), freeing attached files."""
        if "queries" in self.__dict__:
            self.queries.close()

    def close(self) -> None:
        if "queries" in self.__dict__:
            self.queries.close()
        if self.settings.lineage_url:  # events queued for the lineage consumer
            from govfabric.governance.lineage.transport import flush

            flush()
        self.store.dispose()

    def __enter__(self) -> Fabric:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def init_workspace(home: str | os.PathLike[str] | None = None, *, store_url: str | None = None,
                   store_password_env: str | None = None, admin: str = DEFAULT_ADMIN,
                   department: str | None = None) -> Fabric:
    """Create (or upgrade) a workspace: config file (0600), secret key, store schema, first admin.

    A password in the store URL is sealed with the workspace key (``store_password = "fernet:…"``)
    or referenced by ``--store-password-env`` (``env:VAR``); the URL in ``config.toml`` has none."""
    import re

    from govfabric.config import split_store_url, write_config
    from govfabric.errors import ValidationFailed

    root = resolve_home(home)
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / CONFIG_FILE
    if not cfg.exists():
        values = {"user": admin}
        if store_url:
            values["store_url"], password = split_store_url(store_url)
            if password and store_password_env:
                raise ValidationFailed("the store URL has a password and --store-password-env is given; "
                                       "give one of them")
            if store_password_env:
                if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", store_password_env):
                    raise ValidationFailed(f"--store-password-env {store_password_env!r} is not an "
                                           "environment variable name")
                values["store_password"] = f"env:{store_password_env}"
            elif password:
                box = SecretBox(load_settings(root).resolved_key_file)
                values["store_password"] = "fernet:" + box.seal(password)
        elif store_password_env:
            raise ValidationFailed("--store-password-env needs --store-url")
        write_config(cfg, values)
        created = True
    else:
        cfg.chmod(0o600)  # workspaces made before config.toml was kept private
        created = False
    settings = load_settings(root)
    try:
        store = Store(settings.resolved_store_url)
        store.migrate()
    except BaseException:
        if created:  # a wrong store URL or password: let `init` be run again with the right one
            cfg.unlink()
        raise
    fabric = Fabric(settings, admin, store)
    fabric.secrets.ensure()  # create the key now, with 0600
    with store.session() as s:
        if not principals.list_all(s):
            principals.add(s, principals.SYSTEM, admin, roles=["admin"], display_name="Workspace administrator",
                           department=department)
            append(s, principals.SYSTEM, "workspace.init", f"workspace:{root.name}",
                   {"store": store.safe_url, "admin": admin})
    return fabric


def connect(home: str | os.PathLike[str] | None = None, user: str | None = None, *,
            store_url: str | None = None, migrate: bool = False) -> Fabric:
    """Open an existing workspace. ``home`` defaults to ``GOVFABRIC_HOME`` or ``./.govfabric``.

    The store's schema revision is checked (one query), never migrated here: concurrent processes
    would race their DDL. ``govfabric upgrade`` (:func:`upgrade_workspace`) or ``migrate=True`` migrates."""
    settings, store = open_store(home, store_url=store_url, check=not migrate)
    fabric = Fabric(settings, user, store)
    if migrate:  # with the fabric made: its audit binding is on the store
        fabric.store.migrate()
    return fabric


def upgrade_workspace(home: str | os.PathLike[str] | None = None, user: str | None = None) -> tuple[
        list[str], list[str]]:
    """Run the store's pending migrations under the migration lock, audited; returns (before, after) heads."""
    from govfabric.store.migrate import current_heads

    root = resolve_home(home)
    if not (root / CONFIG_FILE).exists():
        raise ConfigError(f"no govfabric workspace at {root}; create one with `govfabric init`")
    settings = load_settings(root)
    store = Store(settings.resolved_store_url)
    user = user or settings.user or DEFAULT_ADMIN
    try:
        _require_admin_to_upgrade(store, user)
        before = sorted(current_heads(store.engine))
        store.migrate()
        after = sorted(current_heads(store.engine))
    finally:
        store.dispose()
    fabric = Fabric(settings, user, store)
    with fabric, fabric.store.session() as s:
        append(s, fabric.user, "workspace.upgrade", f"workspace:{root.name}",
               {"store": store.safe_url, "from": before, "to": after})
    return before, after


def _require_admin_to_upgrade(store: Store, user: str) -> None:
    """Migrations change the store for everyone: an active admin runs them. The principal is read
    with a plain query of the columns every revision has (the models may be newer than the store)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with store.engine.connect() as conn:
            found = principals.roles_before_upgrade(conn, user)
    except SQLAlchemyError:
        return  # no principals table yet: nothing to protect, `init` creates the first admin
    if found is None:
        raise NotFound(f"acting user {user!r} is not a principal of this workspace; choose one with --as")
    roles, active = found
    if not active or "admin" not in roles:
        raise AccessDenied(f"{user} may not upgrade the workspace: migrations change the store for everyone; "
                           "ask an admin to run `govfabric upgrade`")


def workspace_exists(home: str | os.PathLike[str] | None = None) -> bool:
    return (Path(resolve_home(home)) / CONFIG_FILE).exists()
