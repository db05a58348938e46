"""The chain service: anchoring with proofs, verification, sharing records, grants, history.

Local rows are written only after the chain has mined the transaction, and all the
rows of one operation go in one store transaction, so nothing is ever recorded as
anchored (or granted, or shared) that the chain does not hold.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import and_, or_, select

from govfabric.blockchain.books import StoreDeploymentBook, StoreJournal, StoreNetworkBook
from govfabric.blockchain.chains.base import Chain, ChainEvent, TxResult
from govfabric.blockchain.hashing import get_hash
from govfabric.blockchain.merkle import MerkleTree, Proof, root_from_proof, sibling_positions, tree_chunks
from govfabric.blockchain.models import (
    ChainAnchor,
    ChainAnchorItem,
    ChainAnchorTree,
    ChainDepartment,
    ChainEventRecord,
)
from govfabric.blockchain.results import (
    AnchorReceipt,
    Department,
    HistoryEvent,
    ShareReceipt,
    VerificationResult,
)
from govfabric.blockchain.salts import Salter, leaf_data
from govfabric.blockchain.signers import KeyStore, Signer
from govfabric.canonical import CANON, NotCanonicalJSON, canonical, form, jsonable
from govfabric.errors import AlreadyExists, ChainError, NotFound, ValidationFailed
from govfabric.store import Store

KIND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
HEX = re.compile(r"^[0-9a-fA-F]{2,128}$")
OPERATOR = "operator"
TREE_CHUNK = 1024  # nodes per stored row of a Merkle tree (32 KiB)


class SettingsLike(Protocol):
    home: Path
    chain_url: str | None


def asset_key(asset_id: str) -> bytes:
    """Public key of an asset id (ids may go on chain; consumers must be able to compute it)."""
    return hashlib.sha256(b"govfabric:asset\x00" + asset_id.encode()).digest()


def grant_key(grant_id: str) -> bytes:
    return hashlib.sha256(b"govfabric:grant\x00" + grant_id.encode()).digest()


def _meta_digest(algorithm: str, meta: Any) -> str:
    """An anchor's stored metadata digested in the form it was anchored with (``canon``: RFC 8785);
    "" when the stored record cannot be serialised (it was altered)."""
    try:
        return get_hash(algorithm).digest(form(meta.get("canon") if isinstance(meta, dict) else None)(meta)).hex()
    except NotCanonicalJSON:
        return ""


def _digest_bytes(digest_hex: str, what: str) -> bytes:
    text = digest_hex.lower().removeprefix("0x")
    for prefix in ("sha256:", "sm3:", "keccak256:"):
        text = text.removeprefix(prefix)
    if not HEX.match(text) or len(text) % 2:
        raise ValidationFailed(f"{what} {digest_hex!r} is not a hex digest")
    return bytes.fromhex(text)


class ChainService:
    """One workspace's view of its chain (embedded unless ``settings.chain_url`` is set)."""

    def __init__(
        self,
        store: Store,
        settings: SettingsLike,
        *,
        chain: Chain | None = None,
        actor: str | None = None,
        algorithm: str = "sha256",
        expected_chain_id: int | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.actor = actor
        self.algorithm = get_hash(algorithm).name
        self.directory = Path(settings.home) / "chain"
        self.keys = KeyStore(self.directory / "keys")
        self.salter = Salter.from_file(self.directory / "salt.key")
        self._chain = chain
        self._expected_chain_id = expected_chain_id
        self._ready = {"chain": False}  # shared with with_actor() copies: fund and deploy once

    def with_actor(self, actor: str) -> ChainService:
        """The same chain connection, keys and deployments, recording ``actor`` as who acts."""
        _ = self.chain  # connect first: both must share one chain (an embedded one is one journal)
        other = copy.copy(self)
        other.actor = actor
        return other

    # --- the chain ------------------------------------------------------------------
    @property
    def chain(self) -> Chain:
        if self._chain is None:
            book = StoreDeploymentBook(self.store)
            if self.settings.chain_url:
                from govfabric.blockchain.chains.jsonrpc import JsonRpcChain

                self._chain = JsonRpcChain(
                    self.settings.chain_url,
                    book,
                    StoreNetworkBook(self.store),
                    expected_chain_id=self._expected_chain_id,
                )
            else:
                from govfabric.blockchain.chains.embedded import EmbeddedChain

                self._chain = EmbeddedChain(book, StoreJournal(self.store))
        return self._chain

    @property
    def operator(self) -> Signer:
        return self.keys.signer(OPERATOR)

    def import_operator_key(self, private_key_hex: str) -> str:
        """Use an existing (funded, consortium-admin) account as this workspace's operator."""
        self._ready["chain"] = False
        return self.keys.import_key(OPERATOR, private_key_hex).address

    def ensure_ready(self) -> None:
        """Fund the operator on a chain with a faucet, deploy missing contracts, check present ones."""
        if self._ready["chain"]:
            return
        chain = self.chain
        faucet = getattr(chain, "faucet", None)
        if faucet is not None:
            chain.fund(faucet, self.operator.address)
        elif not chain.can_pay(self.operator.address):
            raise ChainError(
                f"the workspace operator account {self.operator.address} has no funds on "
                f"{chain.description}; "
                "fund it on the network (or install a funded key with ChainService.import_operator_key)"
            )
        chain.ensure_deployed(self.operator)
        self._ready["chain"] = True

    def status(self) -> dict[str, Any]:
        self.ensure_ready()
        chain = self.chain
        deployments = StoreDeploymentBook(self.store).load(chain.chain_key)
        with self.store.session() as s:
            anchors = s.scalars(select(ChainAnchor).where(ChainAnchor.chain_key == chain.chain_key)).all()
        out: dict[str, Any] = {
            "chain": chain.description,
            "chain_key": chain.chain_key,
            "chain_id": chain.chain_id,
            "keeps_own_state": chain.KEEPS_OWN_STATE,
            "operator": self.operator.address,
            "contracts": {n: d.address for n, d in deployments.items()},
            "anchors": len(anchors),
            "anchored_items": sum(a.item_count for a in anchors),
            "departments": [d.to_dict() for d in self.departments()],
        }
        replayed = getattr(chain, "replayed", None)
        if replayed is not None:
            out["journal_entries_replayed_on_start"] = replayed
        return out

    # --- consortium -----------------------------------------------------------------
    def add_department(self, name: str) -> Department:
        """Create the department's key (if new), fund it where gas costs, and admit it to the consortium."""
        self.ensure_ready()
        chain = self.chain
        name = name.strip()
        if not name or len(name) > 64:
            raise ValidationFailed("a department name needs 1–64 characters")
        with self.store.session() as s:
            row = s.scalar(
                select(ChainDepartment).where(
                    ChainDepartment.chain_key == chain.chain_key, ChainDepartment.name == name
                )
            )
            if row is not None and row.active:
                raise AlreadyExists(f"department {name!r} is already in the consortium ({row.address})")
        key_name = "dept-" + hashlib.sha256(name.encode()).hexdigest()[:16]
        signer = self.keys.signer(key_name)
        chain.fund(getattr(chain, "faucet", None) or self.operator, signer.address)
        if chain.is_member(signer.address):
            tx_hash = ""
        else:
            tx_hash = chain.add_member(self.operator, signer.address, name).tx_hash
        with self.store.session() as s:
            if row is None:
                s.add(
                    ChainDepartment(
                        chain_key=chain.chain_key,
                        name=name,
                        address=signer.address,
                        key_name=key_name,
                        tx_hash=tx_hash,
                    )
                )
            else:
                db_row = s.get(ChainDepartment, row.id)
                assert db_row is not None
                db_row.active, db_row.tx_hash = True, tx_hash
        return Department(name, signer.address, True)

    def remove_department(self, name: str) -> Department:
        self.ensure_ready()
        row = self._department_row(name)
        self.chain.remove_member(self.operator, row.address)
        with self.store.session() as s:
            db_row = s.get(ChainDepartment, row.id)
            assert db_row is not None
            db_row.active = False
        return Department(row.name, row.address, False)

    def departments(self) -> list[Department]:
        with self.store.session() as s:
            rows = s.scalars(
                select(ChainDepartment)
                .where(ChainDepartment.chain_key == self.chain.chain_key)
                .order_by(ChainDepartment.name)
            ).all()
            return [Department(r.name, r.address, r.active) for r in rows]

    def _department_row(self, name: str) -> ChainDepartment:
        with self.store.session() as s:
            row = s.scalar(
                select(ChainDepartment).where(
                    ChainDepartment.chain_key == self.chain.chain_key, ChainDepartment.name == name
                )
            )
        if row is None or not row.active:
            raise NotFound(f"department {name!r} is not in the consortium; add it with add_department")
        return row

    def _department(self, name: str, create: bool = True) -> tuple[Signer, str]:
        try:
            row = self._department_row(name)
        except NotFound:
            if not create:
                raise
            self.add_department(name)
            row = self._department_row(name)
        return self.keys.signer(row.key_name, create=False), row.address

    # --- anchoring ------------------------------------------------------------------
    def anchor(
        self,
        kind: str,
        items: Sequence[tuple[str, str]],
        metadata: dict[str, Any] | None = None,
        *,
        department: str | None = None,
    ) -> AnchorReceipt:
        """Anchor a batch as one Merkle root in one transaction; store each item's salt and the tree."""
        if not KIND.match(kind):
            raise ValidationFailed(f"anchor kind {kind!r} must be 1–32 lowercase letters, digits, '_' or '-'")
        if not items:
            raise ValidationFailed("nothing to anchor: the batch is empty")
        ids = [str(i) for i, _ in items]
        if len(set(ids)) != len(ids):
            raise ValidationFailed("a batch names the same item twice; anchor each item once per batch")
        digests = [_digest_bytes(d, f"digest of {i}") for i, d in items]
        self._refuse_already_anchored(kind, ids, [d.hex() for d in digests])
        algo = get_hash(self.algorithm)
        salts = os.urandom(32 * len(ids))
        tree = MerkleTree([leaf_data(salts[32 * n : 32 * n + 32], ids[n], digests[n]) for n in range(len(ids))], algo)
        meta = {
            "kind": kind,
            "algorithm": algo.name,
            "count": len(ids),
            "root": tree.root.hex(),
            "metadata": jsonable(metadata or {}),  # stored as JSON, so hashed as stored
            "canon": CANON,  # RFC 8785; anchors recorded before it have no marker and the old form
        }
        metadata_digest = algo.digest(canonical(meta))
        self.ensure_ready()
        signer = self.operator if department is None else self._department(department)[0]
        tx = self.chain.anchor(signer, tree.root, metadata_digest, kind, len(ids))
        contract = StoreDeploymentBook(self.store).load(self.chain.chain_key)["AnchorRegistry"].address
        with self.store.session() as s:
            row = ChainAnchor(
                chain_key=self.chain.chain_key,
                kind=kind,
                root=tree.root.hex(),
                algorithm=algo.name,
                meta=meta,
                metadata_digest=metadata_digest.hex(),
                item_count=len(ids),
                contract=contract,
                submitter=signer.address,
                tx_hash=tx.tx_hash,
                block_number=tx.block_number,
                block_time=tx.block_time,
                created_by=self.actor,
            )
            s.add(row)
            s.flush()
            s.execute(
                ChainAnchorItem.__table__.insert(),
                [
                    {
                        "id": os.urandom(16).hex(),
                        "anchor_id": row.id,
                        "kind": kind,
                        "item_id": ids[n],
                        "digest": digests[n].hex(),
                        "salt": salts[32 * n : 32 * n + 32].hex(),
                        "leaf_index": n,
                    }
                    for n in range(len(ids))
                ],
            )
            s.execute(
                ChainAnchorTree.__table__.insert(),
                [
                    {"anchor_id": row.id, "level": lv, "chunk": ch, "nodes": data}
                    for lv, ch, data in tree_chunks(tree, TREE_CHUNK)
                ],
            )
            self._index_events(s, tx, None, {})
            anchor_id = row.id
        return AnchorReceipt(
            anchor_id=anchor_id,
            kind=kind,
            root=tree.root.hex(),
            algorithm=algo.name,
            item_count=len(ids),
            metadata_digest=metadata_digest.hex(),
            tx_hash=tx.tx_hash,
            block_number=tx.block_number,
            block_time=tx.block_time,
            chain=self.chain.chain_key,
            contract=contract,
        )

    def _refuse_already_anchored(self, kind: str, ids: list[str], digests: list[str]) -> None:
        wanted = dict(zip(ids, digests, strict=True))
        dupes: list[str] = []
        with self.store.session() as s:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = s.execute(
                    select(ChainAnchorItem.item_id, ChainAnchorItem.digest, ChainAnchor.block_number)
                    .join(ChainAnchor, ChainAnchor.id == ChainAnchorItem.anchor_id)
                    .where(
                        ChainAnchor.chain_key == self.chain.chain_key,
                        ChainAnchorItem.kind == kind,
                        ChainAnchorItem.item_id.in_(chunk),
                    )
                ).all()
                dupes.extend(f"{i} (block {b})" for i, d, b in rows if wanted.get(i) == d)
        if dupes:
            shown = ", ".join(dupes[:5]) + (f" and {len(dupes) - 5} more" if len(dupes) > 5 else "")
            raise AlreadyExists(
                f"already anchored with the same digest: {shown}; verify them instead, or anchor only changed items"
            )

    # --- verification ---------------------------------------------------------------
    def verify(self, kind: str, item_id: str, digest_hex: str) -> VerificationResult:
        """Recompute the leaf from the given digest, walk the stored proof, check the root on chain."""
        given = _digest_bytes(digest_hex, "digest")
        with self.store.session() as s:
            found = s.execute(
                select(ChainAnchorItem, ChainAnchor)
                .join(ChainAnchor, ChainAnchor.id == ChainAnchorItem.anchor_id)
                .where(
                    ChainAnchor.chain_key == self.chain.chain_key,
                    ChainAnchorItem.kind == kind,
                    ChainAnchorItem.item_id == item_id,
                )
                .order_by(ChainAnchor.block_number.desc())
                .limit(1)
            ).first()
        if found is None:
            raise NotFound(f"{kind} {item_id!r} was never anchored on {self.chain.description}; anchor it first")
        item, anchor = found
        problems: list[str] = []
        if item.digest != given.hex():
            problems.append(
                f"content digest differs from the anchored one (anchored {item.digest}, now {given.hex()}): "
                "the data changed since block " + str(anchor.block_number)
            )
        leaf = leaf_data(bytes.fromhex(item.salt), item_id, given)
        try:
            proof = self._read_proof(anchor, item.leaf_index)
            computed = root_from_proof(leaf, proof, anchor.algorithm)
        except ValidationFailed as exc:
            problems.append(f"the stored proof is unusable: {exc}")
            computed = b""
        if computed and computed.hex() != anchor.root:
            problems.append(
                f"the Merkle proof leads to root {computed.hex()}, not the anchored root {anchor.root}"
                + ("" if item.digest != given.hex() else " (the stored proof or salt was altered)")
            )
        meta_digest = _meta_digest(anchor.algorithm, anchor.meta)
        if meta_digest != anchor.metadata_digest or anchor.meta.get("root") != anchor.root:
            problems.append("the local anchor record (metadata) was altered since it was anchored")
        self.ensure_ready()
        onchain = self.chain.get_anchor(bytes.fromhex(anchor.root))
        block_number, block_time = anchor.block_number, anchor.block_time
        if onchain is None:
            problems.append(
                f"root {anchor.root} is not on {self.chain.description}: "
                "the local anchor record is not backed "
                "by the chain (altered record, or a node that lost its state)"
            )
        else:
            block_number, block_time = onchain.block_number, onchain.block_time
            if onchain.metadata_digest.hex() != anchor.metadata_digest:
                problems.append(
                    f"on-chain metadata digest {onchain.metadata_digest.hex()} differs from the local "
                    f"{anchor.metadata_digest}"
                )
            if onchain.block_number != anchor.block_number:
                problems.append(
                    f"the chain says block {onchain.block_number}, the local record block {anchor.block_number}"
                )
        return VerificationResult(
            ok=not problems,
            kind=kind,
            item_id=item_id,
            digest=given.hex(),
            anchor_id=anchor.id,
            root=anchor.root,
            tx_hash=anchor.tx_hash,
            block_number=block_number,
            block_time=block_time,
            chain=self.chain.chain_key,
            problems=problems,
        )

    def _read_proof(self, anchor: ChainAnchor, index: int) -> Proof:
        """Read only the chunks holding the proof's siblings (a 1M-leaf tree is 64 MB)."""
        positions = sibling_positions(anchor.item_count, index)
        wanted = {(lv, pos // TREE_CHUNK) for lv, pos in positions}
        chunks: dict[tuple[int, int], bytes] = {}
        if wanted:
            cond = or_(*(and_(ChainAnchorTree.level == lv, ChainAnchorTree.chunk == ch) for lv, ch in wanted))
            with self.store.session() as s:
                for lv, ch, data in s.execute(
                    select(ChainAnchorTree.level, ChainAnchorTree.chunk, ChainAnchorTree.nodes).where(
                        ChainAnchorTree.anchor_id == anchor.id, cond
                    )
                ):
                    chunks[(lv, ch)] = bytes(data)
        siblings = []
        for lv, pos in positions:
            data = chunks.get((lv, pos // TREE_CHUNK), b"")
            start = (pos % TREE_CHUNK) * 32
            node = data[start : start + 32]
            if len(node) != 32:
                raise ValidationFailed(f"the stored Merkle tree of anchor {anchor.id} is missing nodes")
            siblings.append(node)
        return Proof(index, anchor.item_count, siblings)

    def proof_bundle(self, kind: str, item_id: str) -> dict[str, Any]:
        """A portable proof of one item (salt, proof, root, chain, tx) for a third party to check."""
        with self.store.session() as s:
            found = s.execute(
                select(ChainAnchorItem, ChainAnchor)
                .join(ChainAnchor, ChainAnchor.id == ChainAnchorItem.anchor_id)
                .where(ChainAnchorItem.kind == kind, ChainAnchorItem.item_id == item_id)
                .order_by(ChainAnchor.block_number.desc())
                .limit(1)
            ).first()
        if found is None:
            raise NotFound(f"{kind} {item_id!r} was never anchored")
        item, anchor = found
        proof = self._read_proof(anchor, item.leaf_index)
        return {
            "kind": kind,
            "item_id": item_id,
            "salt": item.salt,
            "algorithm": anchor.algorithm,
            "root": anchor.root,
            "proof": proof.to_json(),
            "chain": anchor.chain_key,
            "contract": anchor.contract,
            "tx_hash": anchor.tx_hash,
            "block_number": anchor.block_number,
        }

    def verify_bundle(self, bundle: dict[str, Any], digest_hex: str) -> VerificationResult:
        """Check a portable proof against the chain, without the local anchor rows."""
        given = _digest_bytes(digest_hex, "digest")
        try:
            kind, item_id, root = str(bundle["kind"]), str(bundle["item_id"]), str(bundle["root"])
            leaf = leaf_data(bytes.fromhex(bundle["salt"]), item_id, given)
            proof = Proof.from_json(bundle["proof"])
            computed = root_from_proof(leaf, proof, str(bundle["algorithm"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationFailed(f"malformed proof bundle: {exc}") from exc
        problems: list[str] = []
        if computed.hex() != root:
            problems.append(
                f"the proof leads to root {computed.hex()}, not the bundle's root {root}: "
                "the digest changed or the proof belongs to another root"
            )
        self.ensure_ready()
        onchain = self.chain.get_anchor(bytes.fromhex(root))
        if onchain is None:
            problems.append(f"root {root} is not anchored on {self.chain.description}")
        return VerificationResult(
            ok=not problems,
            kind=kind,
            item_id=item_id,
            digest=given.hex(),
            root=root,
            tx_hash=bundle.get("tx_hash"),
            block_number=onchain.block_number if onchain else None,
            block_time=onchain.block_time if onchain else None,
            chain=self.chain.chain_key,
            problems=problems,
        )

    # --- sharing records and grants -------------------------------------------------
    def grantee_key(self, grantee: str) -> bytes:
        """Salted key of a principal: grantees are people or systems, never written in the clear."""
        return self.salter.key("grantee", grantee)

    def record_share(
        self,
        asset_version_digest: str,
        provider: str,
        consumer: str,
        grant_id: str,
        asset_id: str | None = None,
    ) -> ShareReceipt:
        """The provider department records that an asset version went to a consumer department."""
        digest = _digest_bytes(asset_version_digest, "asset version digest")
        self.ensure_ready()
        signer, _ = self._department(provider)
        _, consumer_address = self._department(consumer)
        key = asset_key(asset_id) if asset_id else self.salter.key("asset-version", digest.hex())
        salted = self.salter.key("share", digest.hex())
        tx = self.chain.record_share(signer, key, salted, consumer_address, grant_key(grant_id))
        labels = {"provider": provider, "consumer": consumer, "grant_id": grant_id}
        with self.store.session() as s:
            self._index_events(s, tx, asset_id, labels)
        record = next((int(e.args["record"]) for e in tx.events if e.name == "ShareRecorded"), None)
        return ShareReceipt(tx.tx_hash, tx.block_number, tx.block_time, record)

    def record_grant(
        self,
        grant_id: str,
        asset_id: str,
        department_owner: str,
        grantee: str,
        expires: datetime | None = None,
    ) -> ShareReceipt:
        """The owning department grants ``grantee`` access to ``asset_id`` on chain."""
        self.ensure_ready()
        signer, _ = self._department(department_owner)
        until = int(expires.timestamp()) if expires else 0
        tx = self.chain.grant(signer, grant_key(grant_id), asset_key(asset_id), self.grantee_key(grantee), until)
        labels = {"grant_id": grant_id, "owner": department_owner, "grantee": grantee}
        with self.store.session() as s:
            self._index_events(s, tx, asset_id, labels)
        return ShareReceipt(tx.tx_hash, tx.block_number, tx.block_time)

    def revoke_grant(self, grant_id: str, department_owner: str, asset_id: str | None = None) -> ShareReceipt:
        self.ensure_ready()
        signer, _ = self._department(department_owner, create=False)
        tx = self.chain.revoke(signer, grant_key(grant_id))
        with self.store.session() as s:
            self._index_events(s, tx, asset_id, {"grant_id": grant_id, "owner": department_owner})
        return ShareReceipt(tx.tx_hash, tx.block_number, tx.block_time)

    def is_granted(self, grant_id: str, asset_id: str, grantee: str) -> bool:
        """What the contract says now: granted, not revoked, not expired, owner still a member."""
        self.ensure_ready()
        return self.chain.is_granted(grant_key(grant_id), asset_key(asset_id), self.grantee_key(grantee))

    def _index_events(self, s: Any, tx: TxResult, asset_id: str | None, labels: dict[str, Any]) -> None:
        for e in tx.events:
            s.add(
                ChainEventRecord(
                    chain_key=self.chain.chain_key,
                    contract=e.contract,
                    event=e.name,
                    asset_key=e.args.get("asset_key"),
                    asset_id=asset_id,
                    tx_hash=e.tx_hash,
                    log_index=e.log_index,
                    block_number=e.block_number,
                    block_time=e.block_time,
                    args=e.args,
                    labels=labels,
                )
            )

    def history(self, asset_id: str) -> list[HistoryEvent]:
        """Sharing and grant events of an asset as the chain holds them.

        A chain with cheap log queries answers directly; on the embedded chain the
        local index names the transactions and each one's receipt is re-read from
        the chain, so an altered or invented index row is reported, not trusted.
        """
        self.ensure_ready()
        key = asset_key(asset_id)
        with self.store.session() as s:
            rows = s.scalars(
                select(ChainEventRecord)
                .where(
                    ChainEventRecord.chain_key == self.chain.chain_key,
                    ChainEventRecord.asset_key == key.hex(),
                )
                .order_by(ChainEventRecord.block_number, ChainEventRecord.log_index)
            ).all()
        labels = {(r.tx_hash, r.log_index): r.labels for r in rows}
        if self.chain.FAST_LOG_QUERIES:
            events = self.chain.asset_events(key)
            return [self._history_event(e, labels.get((e.tx_hash, e.log_index), {}), True) for e in events]
        out: list[HistoryEvent] = []
        by_tx: dict[str, list[ChainEvent]] = {}
        for r in rows:
            if r.tx_hash not in by_tx:
                by_tx[r.tx_hash] = self.chain.tx_events(r.tx_hash)
            match = next((e for e in by_tx[r.tx_hash] if e.log_index == r.log_index and e.name == r.event), None)
            if match is not None and match.args == r.args:
                out.append(self._history_event(match, r.labels, True))
            else:
                stored = ChainEvent(r.contract, r.event, r.args, r.tx_hash, r.log_index, r.block_number, r.block_time)
                out.append(self._history_event(stored, r.labels, False))
        return out

    def _history_event(self, e: ChainEvent, labels: dict[str, Any], verified: bool) -> HistoryEvent:
        return HistoryEvent(e.name, e.block_number, e.block_time, e.tx_hash, dict(e.args), dict(labels), verified)

    def close(self) -> None:
        if self._chain is not None:
            self._chain.close()
