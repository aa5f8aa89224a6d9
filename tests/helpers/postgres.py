"""The test PostgreSQL server: scripts/test.sh starts one and names it in VIEWBOX_TEST_POSTGRES_URL."""

from __future__ import annotations

import os

import pytest

POSTGRES_ENV = "VIEWBOX_TEST_POSTGRES_URL"


def postgres_url() -> str:
    """Its URL; CI must have it (a missing server fails there), a developer may skip."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set: run the tests with scripts/test.sh")
        pytest.skip(f"{POSTGRES_ENV} not set (scripts/test.sh starts a PostgreSQL server)")
    return url


def reset_postgres(url: str) -> None:
    """Empty the test database (drop and recreate its public schema)."""
    from sqlalchemy import text

    from viewbox.db.database import _make_engine

    engine = _make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
