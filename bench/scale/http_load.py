"""Search over HTTP at one catalogue size: gunicorn serves the database copy, each search mode is
timed (p50/p95/p99, one keep-alive client), then throughput is measured with 1, 4 and 16 clients."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
from django.conf import settings

from bench.http_client import HttpClient, multipart
from bench.scale.catalogue import ScaleCatalogue
from bench.system import started

WORDS = ["dog", "ocean", "cat sofa", "street", "sheep", "car", "beach", "tabby cat", "music", "kitchen"]
WEB_LOG = settings.BASE_DIR / ".local" / "bench-scale-web.log"
Request = tuple[str, str, bytes | None, dict]  # method, path, body, headers
MakeRequest = Callable[[int], Request]  # the n-th request of a mode


def percentiles(durations: list[float]) -> tuple[float, float, float]:
    ordered = sorted(durations)
    at = lambda share: ordered[min(len(ordered) - 1, int(share * len(ordered)))]  # noqa: E731
    return at(0.5), at(0.95), at(0.99)


def words_path(n: int, match: str) -> str:
    return "/api/search/images/?" + urlencode({"q": WORDS[n % len(WORDS)], "match": match})


def search_modes(catalogue: ScaleCatalogue, dataset: Path, requests: int) -> dict[str, MakeRequest]:
    """Each search mode's requests, on items drawn at random."""
    photos = sorted(dataset.glob("**/*.JPEG"))[:20] or sorted(dataset.glob("**/*.jp*g"))[:20]
    photo_bodies = [multipart("file", path.name, path.read_bytes()) for path in photos]
    rng = np.random.default_rng(1)
    rows = rng.integers(len(catalogue.ids), size=requests)
    items = [catalogue.ids[row] for row in rows]
    focus = catalogue.top_classes(items)
    modes: dict[str, MakeRequest] = {
        "words, semantic": lambda n: ("GET", words_path(n, "semantic"), None, {}),
        "words, hybrid": lambda n: ("GET", words_path(n, "hybrid"), None, {}),
        "more like this (blend)": lambda n: ("GET", f"/api/search/similar/{items[n]}/", None, {}),
        "more like this (visual)": lambda n: ("GET", f"/api/search/similar/{items[n]}/?similarity=visual", None, {}),
        "focused": lambda n: (
            "GET",
            f"/api/search/similar/{items[n]}/?similarity=visual&focus_class={focus[n]}",
            None,
            {},
        ),
        "by photo": lambda n: ("POST", "/api/search/by-photo/", *photo_bodies[n % len(photo_bodies)]),
        "similar words": lambda n: ("GET", f"/api/search/words/?q={WORDS[n % len(WORDS)].split()[0]}", None, {}),
    }
    return modes


@dataclass(frozen=True)
class HttpLoad:
    """How hard to press: timed requests per mode, seconds per throughput run, gunicorn's port."""

    port: int
    requests: int
    seconds: float

    def measure(
        self, url: str, modes: dict[str, MakeRequest]
    ) -> tuple[dict[str, tuple[float, float, float]], dict[int, float]]:
        """gunicorn serving the database at `url`: each mode's p50/p95/p99 ms, and requests/s of
        a mix of word searches and more like this by client count."""
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "PORT": str(self.port),
            **{rate: "100000000/min" for rate in ("SEARCH_RATE", "PHOTO_SEARCH_RATE", "FOCUS_SEARCH_RATE")},
        }
        command = [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", "config.wsgi"]
        latency: dict[str, tuple[float, float, float]] = {}
        throughput: dict[int, float] = {}
        with started(command, env, WEB_LOG) as web, self.client() as client:
            client.wait_ready(web)
            for name, make in modes.items():
                for n in range(5):  # warm: models loaded, pool filled, caches read
                    client.call(*make(n))
                latency[name] = percentiles([client.timed(*make(n)) for n in range(self.requests)])
            mixed = [modes["words, hybrid"], modes["more like this (blend)"]]
            for clients in (1, 4, 16):
                throughput[clients] = self.throughput(clients, mixed)
        return latency, throughput

    def client(self) -> HttpClient:
        return HttpClient(self.port, log=str(WEB_LOG.relative_to(settings.BASE_DIR)))

    def throughput(self, clients: int, makes: list[MakeRequest]) -> float:
        """Requests/s of `clients` clients, each sending the `makes` in turn, for `seconds`."""
        deadline = time.monotonic() + self.seconds

        def run(worker: int) -> int:
            done = 0
            with self.client() as client:
                while time.monotonic() < deadline:
                    client.call(*makes[(worker + done) % len(makes)](done % self.requests))
                    done += 1
            return done

        start = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            total = sum(pool.map(run, range(clients)))
        return total / (time.monotonic() - start)
