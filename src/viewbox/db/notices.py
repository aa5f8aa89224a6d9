"""Library changes told to every process that shares a database: "studies stored", "studies deleted".

One small interface, two carriers. `LocalNotifier` hands notices to the subscribers of this process
(SQLite: one workstation owns the data folder). `PostgresNotifier` also sends them with NOTIFY and
hears other processes' with LISTEN, so a study stored through node A of a reading room appears in
node B's database window within a second, and a delete closes its viewers on every node. The same
interface can carry stored-object events between the processes of one node (a DICOM node in its
own process) — any carrier that delivers `Notice`s will do.

Notices are hints to refresh, never the data itself: a subscriber reads the database again. A
listener that lost its connection says so with a "resync" notice once it is back.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text

from .database import Database

log = logging.getLogger(__name__)

CHANNEL = "viewbox_library"
APPLICATION_PREFIX = "viewbox "  # application_name of a listening node's connection (peers)
_MAX_PAYLOAD = 7000  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
_COALESCE_SECONDS = 0.05  # notices of a burst (an ingest) travel together


@dataclass(frozen=True)
class Notice:
    """`kind` is 'stored', 'deleted' or 'resync' (a listener was cut off: refresh everything)."""

    kind: str
    study_uids: tuple[str, ...] = ()
    node: str = ""


Subscriber = Callable[[Notice], None]


class LocalNotifier:
    """Notices delivered to this process's subscribers only (no other process shares the rows)."""

    carrier = "local"

    def __init__(self) -> None:
        self.node_id = uuid.uuid4().hex[:12]  # tells our own notices from our peers'
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call `subscriber(notice)` for every library change made by another process."""
        self._subscribers.append(subscriber)

    def publish(self, kind: str, study_uids: list[str]) -> None:
        """Tell the other processes (none here) that these studies changed."""

    def listen(self, name: str) -> None:
        """Start hearing other processes (nothing to hear here); `name` is how they see us."""

    def close(self) -> None:
        self._subscribers.clear()

    def _deliver(self, notice: Notice) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(notice)
            except Exception:  # noqa: BLE001 - one subscriber must not stop the others
                log.exception("notice subscriber %r failed", subscriber)


class PostgresNotifier(LocalNotifier):
    """NOTIFY on publish (from a background thread that merges a burst into one message) and a
    LISTEN connection in another thread that delivers other nodes' notices."""

    carrier = "postgresql"

    def __init__(self, database: Database):
        super().__init__()
        self._database = database
        self._outbox: queue.Queue[tuple[str, tuple[str, ...]] | None] = queue.Queue()
        self._stop = threading.Event()
        self._sender: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._lock = threading.Lock()
        self._name = "node"

    def publish(self, kind: str, study_uids: list[str]) -> None:
        with self._lock:
            if self._sender is None and not self._stop.is_set():
                self._sender = threading.Thread(target=self._send_loop, name="viewbox-notify",
                                                daemon=True)
                self._sender.start()
        self._outbox.put((kind, tuple(study_uids)))

    def listen(self, name: str) -> None:
        self._name = name
        with self._lock:
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen_loop, name="viewbox-listen",
                                                  daemon=True)
                self._listener.start()

    def close(self) -> None:
        """Send what is queued, then stop both threads."""
        self._stop.set()
        self._outbox.put(None)
        for thread in (self._sender, self._listener):
            if thread is not None:
                thread.join(timeout=5)
        super().close()

    # -- sending ---------------------------------------------------------------------------------

    def _send_loop(self) -> None:
        done = False
        while not done:
            item = self._outbox.get()
            pending: dict[str, set[str]] = {}
            while item is not None:
                pending.setdefault(item[0], set()).update(item[1])
                try:
                    item = self._outbox.get(timeout=_COALESCE_SECONDS)
                except queue.Empty:
                    break
            else:
                done = True  # close(): what was queued before it is still sent
            if pending:
                try:
                    self._send(pending)
                except Exception:  # noqa: BLE001 - peers refresh later; storing never fails for this
                    log.warning("could not tell the other nodes of %s", sorted(pending), exc_info=True)

    def _send(self, pending: dict[str, set[str]]) -> None:
        with self._database.begin() as conn:
            for kind, uids in pending.items():
                for payload in _payloads(kind, sorted(uids), self.node_id):
                    conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                                 {"channel": CHANNEL, "payload": payload})

    # -- listening -------------------------------------------------------------------------------

    def _listen_loop(self) -> None:
        import psycopg

        cut_off = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(_conninfo(self._database), autocommit=True,
                                     application_name=(APPLICATION_PREFIX + self._name)[:63]) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if cut_off:  # what was said while we were away is lost: refresh everything
                        self._deliver(Notice("resync", (), ""))
                        cut_off = False
                    while not self._stop.is_set():
                        for message in conn.notifies(timeout=0.5, stop_after=64):
                            self._heard(message.payload)
            except Exception:  # noqa: BLE001 - the database restarts or the network drops: retry
                if self._stop.is_set():
                    return
                if not cut_off:
                    log.warning("lost the notice connection to the database; retrying", exc_info=True)
                cut_off = True
                self._stop.wait(1.0)

    def _heard(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            notice = Notice(str(message["kind"]), tuple(str(u) for u in message["studies"]), str(message["node"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed notice: %.200r", payload)
            return
        if notice.node != self.node_id:  # our own changes were delivered when we made them
            self._deliver(notice)


def _payloads(kind: str, uids: list[str], node: str) -> list[str]:
    """JSON messages under PostgreSQL's payload limit, together naming every study."""
    payloads: list[str] = []
    chunk: list[str] = []
    size = 0
    for uid in uids:
        if chunk and size + len(uid) + 4 > _MAX_PAYLOAD:
            payloads.append(json.dumps({"kind": kind, "studies": chunk, "node": node}))
            chunk, size = [], 0
        chunk.append(uid)
        size += len(uid) + 4
    payloads.append(json.dumps({"kind": kind, "studies": chunk, "node": node}))
    return payloads


def _conninfo(database: Database) -> str:
    return database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def notifier_for(database: Database) -> LocalNotifier:
    """The carrier that reaches every process sharing `database`."""
    if database.dialect == "postgresql":
        return PostgresNotifier(database)
    return LocalNotifier()


def peers(database: Database) -> list[dict]:
    """The nodes listening on this database now (PostgreSQL): name, address, since when."""
    if database.dialect != "postgresql":
        return []
    with database.read() as conn:
        rows = conn.execute(text(
            "SELECT application_name, client_addr, backend_start FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE :prefix "
            "ORDER BY backend_start"), {"prefix": APPLICATION_PREFIX + "%"}).all()
    return [{"node": row[0][len(APPLICATION_PREFIX):], "address": str(row[1] or "local"),
             "since": row[2].isoformat(timespec="seconds") if row[2] else None} for row in rows]
