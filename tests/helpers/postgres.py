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


def restart_postgres(url: str) -> None:
    """Restart the server scripts/test.sh started (its socket folder holds `data/`), waiting until
    it accepts connections again: what a PostgreSQL upgrade or crash does to a running workstation."""
    import glob
    import subprocess
    from pathlib import Path
    from urllib.parse import parse_qs, urlsplit

    folder = parse_qs(urlsplit(url).query).get("host", [""])[0]
    data = Path(folder) / "data"
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not (data / "PG_VERSION").exists() or not binaries:
        pytest.fail(f"cannot restart the test PostgreSQL: no cluster at {data} (run scripts/test.sh)")
    # the new server must not inherit a pipe of ours (it would hold it open for good): its output
    # goes to the cluster's log, as when test.sh started it
    subprocess.run(["runuser", "-u", "postgres", "--", binaries[-1], "-D", str(data), "-l",
                    str(Path(folder) / "log"), "-m", "fast", "-w", "restart"],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)
