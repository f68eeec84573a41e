"""The DATABASES entries of read replicas (config/settings.py); config/db_router.py routes to them."""

from __future__ import annotations

import dj_database_url


def replica_database(url: str, primary: dict, connect_timeout: int) -> dict:
    """A replica's settings: its own server; the primary's options (search settings, pool) with a
    short connect timeout; in tests, the primary's test database (a physical replica holds it)."""
    replica = dj_database_url.parse(url)
    shared = {key: value for key, value in primary.get("OPTIONS", {}).items() if key not in ("host", "port")}
    options = {**shared, **replica.get("OPTIONS", {}), "connect_timeout": connect_timeout}
    if "pool" in options:  # a replica that is down must not hold a request for DB_POOL_TIMEOUT
        options["pool"] = {**options["pool"], "timeout": connect_timeout}
    server = {key: replica[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")}
    return {**primary, **server, "OPTIONS": options, "TEST": {"MIRROR": "default"}}
