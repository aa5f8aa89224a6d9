"""Live updates for the web UI: workspace, job and library changes fanned out to every open tab.

Listeners of the workspace, the job runner and the library are called from whichever thread made
the change (an XML-RPC request, a job, the DICOM node). The hub registers one listener on each,
once, and hands every event to the event loop of each connected client with
`loop.call_soon_threadsafe`; a client is one asyncio queue, dropped when its stream ends.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ..station import Station

# A client that stops reading gets at most this many queued events, then a "resync" that makes
# it fetch the whole state again: a stuck tab never makes the server hold unbounded memory.
MAX_QUEUED = 1000
KEEPALIVE_SECONDS = 15.0
# Streams end after this long and the browser reconnects (EventSource does it by itself, and the
# page refetches the state on reconnect); a server shutting down then never waits long for a tab.
STREAM_LIFETIME_SECONDS = 60.0
_END = "end"  # internal: the stream closes (never sent to the browser)


@dataclass(eq=False)
class _Client:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue


class EventHub:
    """Fan-out of change events to connected browser tabs."""

    def __init__(self, workstation: Station):
        self._clients: set[_Client] = set()
        self._lock = threading.Lock()
        workstation.workspace.add_listener(self._workspace_changed)
        workstation.jobs.add_listener(self._job_changed)
        workstation.on_stored(self._stored)
        workstation.on_deleted(self._deleted)
        workstation.measurements.on_change(self._measured)
        workstation.on_shutdown(self.end_streams)

    # -- listeners (any thread) -----------------------------------------------------------------

    def _workspace_changed(self, kind: str, snapshot: dict) -> None:
        self.publish("workspace", {"kind": kind, "workspace": snapshot})

    def _job_changed(self, job) -> None:
        self.publish("job", job.as_dict())

    def _stored(self, study_uids: list[str]) -> None:
        self.publish("library", {"kind": "stored", "study_uids": study_uids[:100]})

    def _measured(self, study_uid: str, kind: str, measurements: list[dict]) -> None:
        self.publish("measurements", {"kind": kind, "study_uid": study_uid, "measurements": measurements})

    def _deleted(self, study_uids: list[str]) -> None:
        self.publish("library", {"kind": "deleted", "study_uids": study_uids[:100]})

    def end_streams(self) -> None:
        """End every stream now (KillOsiriX): the server then stops without waiting for tabs."""
        self.publish(_END, {})

    def publish(self, event: str, data: dict) -> None:
        """Send `event` to every connected client; safe from any thread."""
        with self._lock:
            clients = list(self._clients)
        if not clients:
            return  # no tab open: a headless workstation pays nothing for the UI
        message = (event, json.dumps(data, default=str))
        for client in clients:
            try:
                client.loop.call_soon_threadsafe(_offer, client.queue, message)
            except RuntimeError:  # that client's loop is closed: it is going away
                self._drop(client)

    # -- clients (event loop) -------------------------------------------------------------------

    def _drop(self, client: _Client) -> None:
        with self._lock:
            self._clients.discard(client)

    @property
    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    async def stream(self, lifetime: float = STREAM_LIFETIME_SECONDS) -> AsyncIterator[bytes]:
        """Server-Sent Events for one tab: `hello` first, then events as they happen."""
        client = _Client(asyncio.get_running_loop(), asyncio.Queue())
        with self._lock:
            self._clients.add(client)
        try:
            yield b"retry: 500\nevent: hello\ndata: {}\n\n"
            loop = client.loop
            deadline = loop.time() + lifetime
            while loop.time() < deadline:
                timeout = min(KEEPALIVE_SECONDS, deadline - loop.time())
                try:
                    event, data = await asyncio.wait_for(client.queue.get(), timeout=max(timeout, 0.01))
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if event == _END:
                    return
                yield f"event: {event}\ndata: {data}\n\n".encode()
        finally:
            self._drop(client)


def _offer(queue: asyncio.Queue, message: tuple[str, str]) -> None:
    if queue.qsize() >= MAX_QUEUED:
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(("resync", "{}"))
        return
    queue.put_nowait(message)
