"""Chain operations that need the rest of the workspace (catalog, audit log) through the façade.

The service itself knows only digests; these helpers say where each kind of digest
comes from, so ``anchor`` and ``verify`` recompute it the same way.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from govfabric.blockchain.models import ChainAnchor
from govfabric.blockchain.results import AnchorReceipt, VerificationResult
from govfabric.errors import GovfabricError, NotFound, ValidationFailed

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

DIGEST_KINDS = ("asset", "audit", "file")


def file_digest(path: Path) -> str:
    from govfabric.catalog.harvest.files import file_digest as digest

    try:
        return digest(path)
    except OSError as exc:
        raise NotFound(f"cannot read {path}: {exc.strerror}") from exc


def current_digest(fabric: Fabric, kind: str, item_id: str) -> str:
    """Recompute an item's digest from the data as it is now."""
    if kind == "asset":
        # recomputing reads all of the asset's data: auditors, or its department's steward, or admins
        if not fabric.actor.has("auditor"):
            require_asset_owner(fabric, item_id, "recompute the digest of")
        return fabric.catalog.content_signature(item_id, refresh=True)
    if kind == "audit":
        try:
            seq = int(item_id)
        except ValueError as exc:
            raise ValidationFailed(f"audit items are event sequence numbers, not {item_id!r}") from exc
        events = fabric.audit.segment(seq, seq)
        if not events:
            raise NotFound(f"audit event {seq} no longer exists (deleted?)")
        return fabric.audit.recompute(events[0])
    if kind == "file":
        return file_digest(Path(item_id))
    raise ValidationFailed(f"cannot recompute digests of kind {kind!r}; pass --digest")


def require_asset_owner(fabric: Fabric, ref: str, what: str) -> None:
    """The owning department's steward or an admin (the rule of ``virtualization.access``)."""
    from govfabric.virtualization.access import require_owner

    require_owner(fabric.actor, fabric.catalog.asset(ref).owner_department, f"{what} {ref}")


def add_department(fabric: Fabric, name: str) -> Any:
    """Admit a department to the consortium (admins; granting records add their own as needed)."""
    fabric.actor.require("admin", action="admit departments to the consortium")
    dept = fabric.chain.add_department(name)
    fabric.audit.append("chain.department.add", f"department:{name}", {"address": dept.address})
    return dept


def remove_department(fabric: Fabric, name: str) -> Any:
    fabric.actor.require("admin", action="remove departments from the consortium")
    dept = fabric.chain.remove_department(name)
    fabric.audit.append("chain.department.remove", f"department:{name}", {"address": dept.address})
    return dept


def anchor_assets(fabric: Fabric, refs: list[str]) -> AnchorReceipt:
    """Anchor assets' content signatures: each asset's owning-department steward, or an admin."""
    for ref in refs:
        require_asset_owner(fabric, ref, "anchor")
    items = [(ref, fabric.catalog.content_signature(ref)) for ref in refs]
    receipt = fabric.chain.anchor("asset", items, {"assets": len(items)})
    fabric.audit.append("chain.anchor", f"anchor:{receipt.root}", receipt.to_dict())
    return receipt


def anchor_audit(fabric: Fabric) -> AnchorReceipt:
    """Anchor every audit event since the last anchored segment (one root for the segment);
    auditors and admins."""
    fabric.actor.require("auditor", action="anchor the audit log")
    svc = fabric.chain
    with fabric.store.session() as s:
        metas = s.scalars(
            select(ChainAnchor.meta).where(ChainAnchor.kind == "audit", ChainAnchor.chain_key == svc.chain.chain_key)
        ).all()
    start = max((int(m.get("metadata", {}).get("end_seq", 0)) for m in metas), default=0) + 1
    head_seq, head_hash = fabric.audit.head()
    if head_seq < start:
        raise ValidationFailed(f"no audit events after {start - 1} to anchor")
    events = fabric.audit.segment(start, head_seq)
    items = [(str(ev.seq), ev.hash) for ev in events]
    meta = {"start_seq": start, "end_seq": head_seq, "head_hash": head_hash}
    receipt = svc.anchor("audit", items, meta)
    fabric.audit.append("chain.anchor", f"anchor:{receipt.root}", receipt.to_dict())
    return receipt


def anchored_audit_end(fabric: Fabric) -> int | None:
    """The last event of the newest audit segment anchored on this workspace's chain, if any (the
    chain service is started only when some audit segment was anchored)."""
    with fabric.store.session() as s:
        rows = s.execute(select(ChainAnchor.chain_key, ChainAnchor.meta).where(ChainAnchor.kind == "audit")).all()
    if not rows:
        return None
    key = fabric.chain.chain.chain_key
    return max((int(m.get("metadata", {}).get("end_seq", 0)) for k, m in rows if k == key), default=None)


def anchor_files(fabric: Fabric, paths: list[Path]) -> AnchorReceipt:
    """Anchor files' digests (stewards and admins: it reads any file the process can read)."""
    fabric.actor.require("steward", action="anchor files")
    items = [(str(p.resolve()), file_digest(p)) for p in paths]
    receipt = fabric.chain.anchor("file", items, {"files": len(items)})
    fabric.audit.append("chain.anchor", f"anchor:{receipt.root}", receipt.to_dict())
    return receipt


def verify_item(fabric: Fabric, kind: str, item_id: str, digest: str | None = None) -> VerificationResult:
    if kind == "file":
        item_id = str(Path(item_id).resolve())
    return fabric.chain.verify(kind, item_id, digest or current_digest(fabric, kind, item_id))


def run_demo(fabric: Fabric) -> dict[str, Any]:
    """Anchor the demo datasets and audit log, record a grant and a share, tamper with a copy (admins)."""
    fabric.actor.require("admin", action="run the chain demo")
    svc = fabric.chain
    out: dict[str, Any] = {"chain": svc.status()["chain"]}
    refs: list[str] = []
    for asset in fabric.catalog.assets(limit=None):
        try:
            fabric.catalog.content_signature(asset.qualified_name)
        except GovfabricError:
            continue  # registered by hand: no data to sign
        refs.append(asset.qualified_name)
    if refs:
        try:
            out["assets"] = anchor_assets(fabric, refs).to_dict()
        except GovfabricError as exc:
            out["assets"] = str(exc)
    try:
        out["audit"] = anchor_audit(fabric).to_dict()
    except GovfabricError as exc:
        out["audit"] = str(exc)
    asset_id = refs[0] if refs else "demo.dataset"
    grant_id = f"demo-grant-{svc.chain.chain_key}-{len(svc.history(asset_id))}"
    out["grant"] = svc.record_grant(grant_id, asset_id, "market-regulation", fabric.user).to_dict()
    out["share"] = svc.record_share(
        fabric.catalog.content_signature(asset_id) if refs else hashlib.sha256(b"demo").hexdigest(),
        "market-regulation",
        "public-security",
        grant_id,
        asset_id=asset_id,
    ).to_dict()
    out["granted"] = svc.is_granted(grant_id, asset_id, fabric.user)
    out["history"] = [e.to_dict() for e in svc.history(asset_id)]
    out["tamper"] = _tamper_demo(fabric)
    return out


def _tamper_demo(fabric: Fabric) -> dict[str, Any]:
    data_dir = Path(fabric.settings.home) / "data"
    files = sorted(p for p in data_dir.rglob("*") if p.is_file()) if data_dir.exists() else []
    work = Path(tempfile.mkdtemp(prefix="chain-demo-", dir=fabric.settings.home))
    copy = work / (files[0].name if files else "sample.csv")
    if files:
        shutil.copyfile(files[0], copy)
    else:
        copy.write_text("id,name\n1,synthetic\n", encoding="utf-8")
    anchor_files(fabric, [copy])
    before = verify_item(fabric, "file", str(copy))
    raw = bytearray(copy.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one changed bit
    copy.write_bytes(bytes(raw))
    after = verify_item(fabric, "file", str(copy))
    return {"file": str(copy), "before": before.to_dict(), "after_tampering": after.to_dict()}
