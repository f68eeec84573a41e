"""Searches read from a streaming replica; everything else reads and writes the primary.

A request's reads go to one alias, chosen once by `config.middleware.ReplicaReadsMiddleware`
(see `read_alias_for`); outside a request (workers, commands) and for any request it did not
choose a replica for, that alias is the primary. A replica is used only while its health check,
cached for REPLICA_HEALTH_CACHE seconds per process, says it answers, streams from the primary
and is at most REPLICA_MAX_LAG seconds behind. The ORM reads through `ReplicaRouter`, and raw SQL
through the same router (`spaces.vector_sql.read_cursor`).
"""

from __future__ import annotations

import logging
import random
import time
from contextvars import ContextVar
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest

logger = logging.getLogger(__name__)

# Set on the client by a request that wrote: its next reads, for REPLICA_STICKY_SECONDS, see the write.
STICKY_COOKIE = "read_primary"


@dataclass
class Route:
    """Where the current request reads, and whether it wrote (then it reads the primary too)."""

    alias: str = DEFAULT_DB_ALIAS
    wrote: bool = False


current_route: ContextVar[Route | None] = ContextVar("current_route", default=None)


def read_alias() -> str:
    route = current_route.get()
    return route.alias if route else DEFAULT_DB_ALIAS


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str:
        return read_alias()

    def db_for_write(self, model, **hints) -> str:
        route = current_route.get()
        if route is not None:  # what the request reads next must see this write
            route.alias, route.wrote = DEFAULT_DB_ALIAS, True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # the replicas hold the primary's rows

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS


# The lag is 0 while everything received is replayed (an idle primary sends nothing, so the last
# replayed transaction may be old); otherwise the age of the last replayed one, which overstates
# the lag right after a quiet spell: a replica is then skipped a moment longer than it needs.
# A walreceiver row exists (visible to any role) while the replica streams or retries.
HEALTH_SQL = """
SELECT pg_is_in_recovery() AND EXISTS (SELECT FROM pg_stat_wal_receiver),
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END
"""

_health: dict[str, tuple[float, bool]] = {}  # alias -> (when checked, usable), per process


def _check(alias: str) -> bool:
    """Whether the replica answers, streams and keeps up; on a connection of its own, which fails
    at once when the server is gone (a pooled one would wait out the pool's timeout first)."""
    try:
        with psycopg.connect(**connections[alias].get_connection_params(), autocommit=True) as check:
            streaming, lag = check.execute(HEALTH_SQL).fetchone()
    except psycopg.Error as exc:
        logger.warning("Replica %s is skipped: %s", alias, exc)
        return False
    if not streaming or lag is None or float(lag) > settings.REPLICA_MAX_LAG:
        logger.warning("Replica %s is skipped: streaming %s, %s s behind the primary.", alias, streaming, lag)
        return False
    return True


def replica_usable(alias: str) -> bool:
    checked = _health.get(alias)
    if checked is None or time.monotonic() - checked[0] >= settings.REPLICA_HEALTH_CACHE:
        checked = _health[alias] = (time.monotonic(), _check(alias))
    return checked[1]


def mark_unusable(alias: str) -> None:
    """A query failed on the replica: skip it until the next check is due."""
    _health[alias] = (time.monotonic(), False)
    connections[alias].close()


def healthy_replica() -> str | None:
    """One usable replica, at random to spread the load, or None."""
    usable = [alias for alias in settings.DATABASE_REPLICAS if replica_usable(alias)]
    return random.choice(usable) if usable else None


def read_alias_for(request: HttpRequest) -> str:
    """Searches by a visitor who has not just written read a replica; the rest reads the primary:
    writes and uploads (not GET), the admin and staff (they edit what they then look at), and a
    client within REPLICA_STICKY_SECONDS of its last write (an item's page after its upload)."""
    if (
        not settings.DATABASE_REPLICAS
        or request.method not in ("GET", "HEAD")
        or not request.path.startswith(tuple(settings.REPLICA_READ_PATHS))
        or STICKY_COOKIE in request.COOKIES
        or request.user.is_staff
    ):
        return DEFAULT_DB_ALIAS
    return healthy_replica() or DEFAULT_DB_ALIAS
