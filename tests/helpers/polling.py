"""Waiting in tests without sleeps: poll a condition until a deadline."""

from __future__ import annotations

import time


def eventually(check, timeout: float = 20.0, message: str = "condition", interval: float = 0.02):
    """Poll `check()` until it returns a truthy value and return that value; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {timeout}s (last: {value!r})")
        time.sleep(interval)
