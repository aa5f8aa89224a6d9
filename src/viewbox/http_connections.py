"""HTTP connections that cannot hold the server: uvicorn's h11 protocol with two guards.

uvicorn never times out a connection that is still sending its request line and headers (50
slow-header connections stayed open for good), and counts idle connections against
`limit_concurrency`, so a flood of idle ones answers normal clients 503. Here:

- a connection has `request_timeout` seconds to send each request's line and headers, from when it
  opens or its last answer went out; then it is closed (a keep-alive that idles that long, too);
- when connections run short (90% of the limit), the ones that wait for a request are closed,
  longest idle first, so that a client with a request gets served.

A request whose headers arrived is left alone, however long its body or its answer takes.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


def guarded_h11(request_timeout: float) -> type[H11Protocol]:
    """The protocol class for uvicorn.Config(http=…), closing idle connections after `request_timeout`."""

    class GuardedH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _idle_since = 0.0

        def connection_made(self, transport) -> None:  # noqa: ANN001 - asyncio's signature
            limit = self.limit_concurrency
            if limit is not None and len(self.connections) >= limit * 0.9:
                _close_idlest(self.connections, len(self.connections) - int(limit * 0.9) + 1)
            super().connection_made(transport)
            self._wait_for_request()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._in_request():
                self._stop_waiting()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self._in_request() and not self.transport.is_closing():
                self._wait_for_request()

        def handle_websocket_upgrade(self, event) -> None:  # noqa: ANN001 - uvicorn's signature
            self._stop_waiting()  # the WebSocket protocol owns the connection from here
            super().handle_websocket_upgrade(event)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

        def idle(self) -> bool:
            """Waiting for a request (none being read or answered)."""
            return self._timer is not None

        def _in_request(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _wait_for_request(self) -> None:
            self._stop_waiting()
            self._idle_since = self.loop.time()
            self._timer = self.loop.call_later(request_timeout, self._too_slow)

        def _stop_waiting(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _too_slow(self) -> None:
            self._timer = None
            if not self._in_request() and not self.transport.is_closing():
                self.transport.close()

    return GuardedH11Protocol


def _close_idlest(connections: set, count: int) -> None:
    """Close up to `count` connections that wait for a request, longest idle first."""
    idle = sorted((c for c in connections if getattr(c, "idle", lambda: False)()),
                  key=lambda c: c._idle_since)
    for connection in idle[:count]:
        connection._stop_waiting()
        connection.transport.close()
