"""Transactions that lose a race with another writer (another thread, process or node on the same
database) are run again instead of failing: that is normal life for a reading room."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from .database import Database
from .ingest import ConcurrentChange

log = logging.getLogger(__name__)
T = TypeVar("T")

# PostgreSQL: serialization failure, deadlock, unique and foreign-key violations (a row created or
# deleted by another writer between our read and our write).
_RETRIED_SQLSTATES = {"40001", "40P01", "23505", "23503"}
ATTEMPTS = 8


def lost_a_race(exc: BaseException) -> bool:
    """Whether `exc` means another writer got in the way (worth running the transaction again)."""
    if isinstance(exc, ConcurrentChange):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _RETRIED_SQLSTATES:
        return True
    return "database is locked" in str(orig)  # SQLite: another process held the write lock


def transaction_retried(database: Database, work: Callable[[Connection], T],
                        attempts: int = ATTEMPTS) -> T:
    """Run `work(conn)` in a transaction, again from the start while it loses races.

    `work` must have no effect outside the transaction that it cannot repeat.
    """
    for attempt in range(1, attempts + 1):
        try:
            with database.begin() as conn:
                return work(conn)
        except (DBAPIError, ConcurrentChange) as exc:
            if attempt == attempts or not lost_a_race(exc):
                raise
            log.debug("transaction lost a race (attempt %d): %s", attempt, exc)
            time.sleep(random.uniform(0, 0.005 * attempt))  # noqa: S311 - jitter, not security
    raise AssertionError("unreachable")
