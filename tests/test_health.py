"""`/healthz`: what a load balancer sees when the database, Redis or the workers are missing."""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings as django_settings

from config.health import WORKERS_KEY
from tests.conftest import free_port


@pytest.mark.django_db
def test_healthz_is_ok_with_the_database_redis_and_a_worker(client, celery_worker) -> None:
    deadline = time.monotonic() + 120  # the worker's first heartbeat comes once it is ready
    while (response := client.get("/healthz")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "worker": "ok"}}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_healthz_is_503_when_redis_does_not_answer(client, settings) -> None:
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "failing",
        "checks": {"database": "ok", "redis": "failing", "worker": "unknown"},
    }


@pytest.mark.django_db
def test_healthz_is_503_when_no_worker_was_seen(client, settings) -> None:
    settings.CELERY_BROKER_URL = django_settings.REDIS_URL.rsplit("/", 1)[0] + "/14"  # no worker beats here
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(WORKERS_KEY)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "worker": "none seen in the last 30 s"}


@pytest.mark.django_db
def test_healthz_answers_probes_by_address_over_plain_http(client, settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    probe = client.get("/healthz", headers={"host": "10.0.0.7"})
    assert probe.status_code in (200, 503) and "checks" in probe.json()  # neither 400 (host) nor 301 (HTTPS)
    assert client.get("/", headers={"host": "10.0.0.7"}).status_code == 400  # the rest of the site still checks
