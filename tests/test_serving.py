"""The site served the way `./dev run` serves it: gunicorn with config/gunicorn.py, pooled connections.

The load test is the scenario of the "too many clients" bug: thousands of mixed requests (pages,
thumbnails, the stylesheet, API searches) from concurrent clients against gunicorn started with
config/gunicorn.py must give no 5xx, while PostgreSQL's connection count, sampled from the side,
stays within workers x pool size.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.conftest import BASE_DIR, free_port, subprocess_database_url, subprocess_environment

WEB_WORKERS, WEB_THREADS = 2, 4  # the pool holds one connection per thread: 8 at most
REQUESTS, CLIENTS = 5000, 12
WEB_APPLICATION_NAME = "catalogue-test-web"  # tells the web server's connections apart in pg_stat_activity


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def web_server(demo_catalogue, celery_worker) -> Iterator[int]:
    """gunicorn with the project's config (as `./dev run` starts it) on the test database; its port."""
    port = free_port()
    env = subprocess_environment()
    database_url = env["DATABASE_URL"]
    env |= {
        "DATABASE_URL": f"{database_url}{'&' if '?' in database_url else '?'}application_name={WEB_APPLICATION_NAME}",
        "PORT": str(port),
        "WEB_WORKERS": str(WEB_WORKERS),
        "WEB_THREADS": str(WEB_THREADS),
    }
    env.pop("DB_POOL_MAX_SIZE", None)  # the gunicorn config sizes the pool
    log_path = BASE_DIR / ".local" / "test-web.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", "config.wsgi"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120  # healthy = serving, with the worker's heartbeat seen
            while True:
                assert process.poll() is None, f"gunicorn exited:\n{log_path.read_text()[-3000:]}"
                try:
                    if get(port, "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"gunicorn not healthy:\n{log_path.read_text()[-3000:]}"
                time.sleep(0.3)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=30)


class ConnectionSampler(threading.Thread):
    """Counts the test database's connections (all, and the web server's) from a connection of its own."""

    def __init__(self, conninfo: str) -> None:
        super().__init__(daemon=True)
        self.conninfo = conninfo
        self.done = threading.Event()
        self.samples = 0
        self.most = self.most_web = 0
        self.web_backends: set[int] = set()  # server processes that ever served the web server

    def run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as connection:
            while not self.done.is_set():
                rows = connection.execute(
                    "SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database()"
                ).fetchall()
                web = {pid for pid, name in rows if name == WEB_APPLICATION_NAME}
                self.samples += 1
                self.most, self.most_web = max(self.most, len(rows)), max(self.most_web, len(web))
                self.web_backends |= web
                self.done.wait(0.05)


@pytest.mark.django_db  # not for its own queries: pytest-django sets up the test database for marked tests only
def test_thousands_of_mixed_requests_no_5xx_and_bounded_connections(web_server, demo_catalogue) -> None:
    port = web_server
    mix = [
        "/",
        "/static/css/app.css",
        "/api/images/",
        "/api/search/images/?q=cat",
        "/api/search/words/?q=said",
        "/search/?q=cat+sofa",
        "/search/words/?q=said",
        "/healthz",
    ]
    for image in demo_catalogue.values():
        mix += [
            f"/?category={image.category.slug}",
            image.get_absolute_url(),
            image.thumbnail.url,
            f"/api/images/{image.pk}/",
            f"/api/search/similar/{image.pk}/",
            f"/search/similar/{image.pk}/",
        ]
    paths = [mix[i % len(mix)] for i in range(REQUESTS)]

    local = threading.local()

    def fetch(path: str) -> tuple[str, int]:
        for attempt in range(2):  # a kept-alive connection the server closed is retried once, as browsers do
            connection = getattr(local, "connection", None) or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            local.connection = connection
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                return path, response.status
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                local.connection = None
                if attempt:
                    return path, 0
        raise AssertionError("unreachable")

    sampler = ConnectionSampler(subprocess_database_url())
    sampler.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as clients:
            results = list(clients.map(fetch, paths))
    finally:
        sampler.done.set()
        sampler.join(timeout=10)
    elapsed = time.monotonic() - started

    statuses = Counter(status for _, status in results)
    failed = Counter((path, status) for path, status in results if status != 200)
    print(
        f"\n{len(results)} requests in {elapsed:.1f} s ({len(results) / elapsed:.0f}/s), statuses {dict(statuses)}; "
        f"PostgreSQL connections: at most {sampler.most} ({sampler.most_web} of the web server, "
        f"{len(sampler.web_backends)} opened by it) in {sampler.samples} samples"
    )
    assert len(results) == REQUESTS
    assert not [key for key in failed if key[1] >= 500 or key[1] == 0], failed  # no 5xx, no dropped connection
    assert not failed, failed  # and every request of the mix succeeds
    bound = WEB_WORKERS * WEB_THREADS
    assert 1 <= sampler.most_web <= bound
    assert len(sampler.web_backends) <= bound  # pooled: connections are reused, not opened per request
    # Besides the web server: this test process, its Celery worker and the sampler (and one spare).
    assert sampler.most <= bound + 4
    assert sampler.samples >= 10
