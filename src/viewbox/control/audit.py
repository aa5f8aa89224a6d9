"""The audit log: one JSON line per call (time, peer, user, transport, method, parameters, outcome).

Appended under a lock and flushed per line, so a crash loses nothing already answered.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

MAX_VALUE_CHARS = 500
SECRET_PARAMS = {"password", "token", "secret"}


def _loggable(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "…"
    if isinstance(value, dict):
        return {k: ("***" if str(k).lower() in SECRET_PARAMS else _loggable(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_loggable(v) for v in value[:50]]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return str(value)


class AuditLog:
    """Appends audit records to a file (created with its folder on first use)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: TextIO | None = None

    def record(self, *, peer: str | None, user: str | None, transport: str, method: str,
               params: dict | None, status: int, error: str | None, message: str | None = None) -> None:
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                 "peer": peer, "user": user, "transport": transport, "method": method,
                 "params": _loggable(params or {}), "status": status, "error": error}
        if message:
            entry["message"] = _loggable(message)
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
