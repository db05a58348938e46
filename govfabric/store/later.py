"""Writes that may follow the answer: a query's lineage event and usage count.

Recording a query commits its query log row and audit events before the query returns (the audit
trail is never behind an answer). Its OpenLineage event and its usage count are not evidence
anybody relies on at that instant, and were a third of the recording: they are handed to one
writer thread per store, which lets them gather for up to :data:`LINGER` and writes them in one
transaction (many queries, one commit), while the callers already have their answers.

Nothing is lost on a clean shutdown and a process reads its own writes: :meth:`Later.flush` waits
until everything queued so far is committed, and runs before every new :meth:`Store.session`
(ORM reads: lineage service, catalog usage, CLI), before the lineage graph is built, in
``Store.dispose`` (``Fabric.close``) and at interpreter exit. A write that fails is retried alone,
then logged: it never fails another query's.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govfabric.store.db import Store

log = logging.getLogger(__name__)

#: one write: given the batch's write-only transaction (``Store.write_only``)
Write = Callable[[Any], object]
#: how long the writer lets writes gather before it writes them (unless someone waits for them),
#: and how many it writes at most in one transaction: writing right after each query competed with
#: the next one for the interpreter (a service call loop on PostgreSQL: +1 ms wall per call)
LINGER, BATCH = 0.05, 200


class Later:
    """The store's writer of :data:`Write` s queued by :meth:`Store.defer`."""

    def __init__(self, store: Store) -> None:
        self._store = weakref.ref(store)
        self._cv = threading.Condition()
        self._queue: list[Write] = []
        self.queued = self.done = 0  # counts: everything up to ``queued`` is written once ``done`` reaches it
        self._thread: threading.Thread | None = None
        self._waiting = 0  # callers in :meth:`flush`: no lingering then
        live.add(self)

    def add(self, write: Write) -> None:
        with self._cv:
            self._queue.append(write)
            self.queued += 1
            if self._thread is None or not self._thread.is_alive():  # first use, or after a fork
                self._thread = threading.Thread(target=self._run, name="govfabric-later", daemon=True)
                self._thread.start()
            # the writer waits for a first write, or lingers until a batch is full: woken for those only
            # (waking it for each query's writes cost a thread switch per query)
            if len(self._queue) == 1 or len(self._queue) >= BATCH:
                self._cv.notify_all()

    def pending(self) -> bool:
        return self.done != self.queued

    def flush(self) -> None:
        """Wait until every write queued before this call is committed (or failed and logged)."""
        if self.done == self.queued or threading.current_thread() is self._thread:
            return
        with self._cv:
            target = self.queued
            self._waiting += 1
            self._cv.notify_all()
            try:
                while self.done < target:
                    if self._thread is None or not self._thread.is_alive():  # (forked: write them here)
                        self._take_and_write()
                        continue
                    self._cv.wait()
            finally:
                self._waiting -= 1

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue:
                    self._cv.wait()
                self._cv.wait_for(lambda: self._waiting or len(self._queue) >= BATCH, timeout=LINGER)
            self._take_and_write()

    def _take_and_write(self) -> None:
        with self._cv:
            batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
        if batch:
            try:
                self._write(batch)
            finally:
                with self._cv:
                    self.done += len(batch)
                    self._cv.notify_all()

    def _write(self, batch: list[Write]) -> None:
        store = self._store()
        if store is None:
            return
        try:
            with store.write_only(gather=True) as tx:  # each statement's rows in one executemany
                for write in batch:
                    write(tx)
            return
        except Exception:
            if len(batch) == 1:
                log.exception("a deferred store write failed")
                return
        for write in batch:  # one bad write never loses the others
            try:
                with store.write_only(gather=True) as tx:
                    write(tx)
            except Exception:
                log.exception("a deferred store write failed")


#: every store's writer in the process (empty until a first deferred write)
live: weakref.WeakSet[Later] = weakref.WeakSet()


def flush_all() -> None:
    """:meth:`Later.flush` of every store of the process: a second ``Fabric`` on the same workspace
    (a CLI command run in process, another principal's façade) reads what the first one wrote."""
    for later in list(live):
        if later.pending():
            later.flush()


@atexit.register
def _flush_at_exit() -> None:
    for later in list(live):
        try:
            later.flush()
        except Exception:  # pragma: no cover - logged, exit goes on
            log.exception("flushing deferred store writes at exit failed")
