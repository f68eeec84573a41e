"""Searches read a real streaming replica of the project's PostgreSQL (config/db_router.py).

The replica (`config.local_servers.start_replica`) is a physical copy of the whole cluster, so it
holds the primary's test database too: the `replica1` alias is a test mirror of `default` (same
database name, the replica's server). Rows must be committed to reach it, so these tests use
committed rows (the module's demo catalogue) rather than rolled-back transactions. Only these
tests list the alias in DATABASE_REPLICAS; every other test reads the primary alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from skimage import data

from catalog.models import Image
from config import db_router, local_servers
from spaces.vector_sql import read_cursor
from tests.conftest import add_processed_images, png_bytes

REPLICA = "replica1"


@pytest.fixture(scope="session")
def replica(django_db_setup) -> Iterator[str]:
    """The project's own replica, started once for the session (and stopped after it, unless it ran before)."""
    # A replica of another server could not be stopped and started by the tests.
    assert not os.environ.get("DATABASE_URL"), "Unset DATABASE_URL: this replicates the own PostgreSQL."
    was_running = local_servers.replica_running()
    local_servers.start_replica()
    yield REPLICA
    if not was_running:
        local_servers.stop_replica()


@pytest.fixture
def api(replica, demo_catalogue, django_db_blocker, settings, monkeypatch) -> Iterator[APIClient]:
    """A visitor's client, with searches reading the replica (checked at every request)."""
    settings.DATABASE_REPLICAS = [replica]
    settings.REPLICA_HEALTH_CACHE = 0
    monkeypatch.setattr(db_router, "_health", {})
    with django_db_blocker.unblock():
        yield APIClient()
        Image.objects.exclude(pk__in=[image.pk for image in demo_catalogue.values()]).delete()


def add_cat() -> Image:
    """A processed item (a mirrored cat) committed on the primary."""
    (image,) = add_processed_images(
        [(png_bytes(data.chelsea()[:, ::-1].copy()), "mirrored.png", "Mirrored", "Animals")]
    )
    return image


def cats(client: APIClient, **cookies: str) -> set[int]:
    """Ids of the items a word search for "cat" finds (all of the few items, nearest first)."""
    for name, value in cookies.items():
        client.cookies[name] = value
    response = client.get("/api/search/images/", {"q": "cat", "k": 10})
    assert response.status_code == 200, response.content
    return {hit["id"] for hit in response.json()["results"]}


def in_recovery(alias: str) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        return cursor.fetchone()[0]


def ready_on_replica(pk: int) -> bool:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT 1 FROM catalog_image WHERE id = %s AND status = 'ready'", [pk])
        return cursor.fetchone() is not None


def replica_sql(statement: str) -> None:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(statement)


def test_a_write_on_the_primary_is_searched_on_the_replica(api, demo_catalogue) -> None:
    image = add_cat()
    committed = time.monotonic()
    while not ready_on_replica(image.pk):
        assert time.monotonic() - committed < 5, "the item did not reach the replica in 5 s"
        time.sleep(0.001)
    lag = time.monotonic() - committed
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT extract(epoch FROM replay_lag) FROM pg_stat_replication")
        (reported,) = cursor.fetchone()
    print(f"\nreplica lag: visible after {lag * 1000:.1f} ms; the primary reports replay_lag {reported}")

    with (
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        found = cats(api)
    assert image.pk in found and {item.pk for item in demo_catalogue.values()} <= found
    assert any("spaces_imageembedding" in query["sql"] for query in on_replica.captured_queries)
    assert not on_primary.captured_queries, on_primary.captured_queries
    assert in_recovery(REPLICA) and not in_recovery("default")
    with CaptureQueriesContext(connections["default"]) as on_primary:
        page = api.get("/search/", {"q": "cat"})  # the search page too
    assert page.status_code == 200 and f"/images/{image.pk}/" in page.content.decode()
    # Only the visitor's session (the results kept for previous/next on item pages) is written,
    # on the primary; the search itself read the replica.
    assert all(
        "django_session" in query["sql"] or query["sql"] in ("BEGIN", "COMMIT") for query in on_primary.captured_queries
    ), on_primary.captured_queries


def test_a_lagging_replica_is_skipped_and_writers_read_the_primary(api, settings) -> None:
    settings.REPLICA_MAX_LAG = 3600
    staff_user = get_user_model().objects.create_user("replica-staff", is_staff=True)
    replica_sql("SELECT pg_wal_replay_pause()")
    try:
        image = add_cat()
        assert image.pk not in cats(api)  # a visitor's search reads the replica, which has not replayed it
        assert image.pk in cats(APIClient(), **{db_router.STICKY_COOKIE: "1"})  # just wrote: the primary
        post = APIClient().post("/api/search/by-photo/", {})
        assert post.status_code == 400 and db_router.STICKY_COOKIE in post.cookies  # a POST makes it sticky
        staff = APIClient()
        staff.force_login(staff_user)
        assert image.pk in cats(staff)
        settings.REPLICA_MAX_LAG = 0.5
        time.sleep(1)  # the replica is now over a second behind
        assert image.pk in cats(api)
    finally:
        replica_sql("SELECT pg_wal_replay_resume()")
        staff_user.delete()


def test_a_write_pins_the_rest_of_the_request_to_the_primary() -> None:
    router = db_router.ReplicaRouter()
    route = db_router.Route(alias=REPLICA)
    token = db_router.current_route.set(route)
    try:
        assert router.db_for_read(Image) == REPLICA and read_cursor().db.alias == REPLICA
        assert router.db_for_write(Image) == "default"
        assert router.db_for_read(Image) == "default" and route.wrote  # and the client's next reads (the cookie)
    finally:
        db_router.current_route.reset(token)
    assert router.db_for_read(Image) == "default"  # outside a request: workers, commands
    assert not router.allow_migrate(REPLICA, "catalog") and router.allow_migrate("default", "catalog")


def timed_search(client: APIClient) -> tuple[set[int], float, int]:
    """(ids found, seconds taken, queries run on the primary)."""
    start = time.monotonic()
    with CaptureQueriesContext(connections["default"]) as on_primary:
        found = cats(client)
    return found, time.monotonic() - start, len(on_primary.captured_queries)


def test_search_answers_when_the_replica_stops(api, settings, demo_catalogue) -> None:
    expected = {item.pk for item in demo_catalogue.values()}
    settings.REPLICA_HEALTH_CACHE = 60  # the replica was healthy when it stops: the request's query fails
    assert timed_search(api)[0] == expected
    local_servers.stop_replica()
    try:
        found, mid_request, primary_queries = timed_search(api)  # fails on the replica, runs again on the primary
        assert found == expected and primary_queries and mid_request < 1
        found, skipped, primary_queries = timed_search(api)  # known down: straight to the primary
        assert found == expected and primary_queries and skipped < 1
        settings.REPLICA_HEALTH_CACHE = 0
        found, checked, primary_queries = timed_search(api)  # its health check fails at once
        assert found == expected and primary_queries and checked < 1
        print(f"\nreplica down: {mid_request * 1000:.0f} ms (failed mid-request), {skipped * 1000:.0f} ms (skipped),")
        print(f"{checked * 1000:.0f} ms (health check refused)")
    finally:
        local_servers.start_replica()
