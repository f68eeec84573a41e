"""The load run: 200 visitors searching and 20 staff uploading at once (see loadtest/run).

Writes a summary (requests, responses by status, 5xx, ids of accepted uploads) to
$LOADTEST_SUMMARY when Locust stops; loadtest/run then waits for the uploads to be processed.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import random
from collections import Counter

import numpy as np
from locust import HttpUser, between, events, task
from PIL import Image

TOKEN = os.environ["LOADTEST_TOKEN"]
QUERIES = ["cat", "dog", "coffee", "rocket", "sea", "street", "cat sofa", "2:cat -dog", "astronaut", "coins", "car"]
statuses: Counter[str] = Counter()
accepted: list[int] = []
seeds = itertools.count(random.randrange(1 << 30))


@events.request.add_listener
def count(response=None, exception=None, **kwargs) -> None:
    statuses[
        str(response.status_code) if response is not None and response.status_code else type(exception).__name__
    ] += 1


@events.quitting.add_listener
def summarise(environment, **kwargs) -> None:
    five_xx = sum(n for status, n in statuses.items() if status.startswith("5"))
    summary = {"requests": sum(statuses.values()), "statuses": dict(statuses), "5xx": five_xx, "accepted": accepted}
    with open(os.environ["LOADTEST_SUMMARY"], "w") as out:
        json.dump(summary, out)


class Visitor(HttpUser):
    """Searches by words on the pages and the API, and browses."""

    wait_time = between(0.5, 2)

    @task(4)
    def search_page(self) -> None:
        self.client.get("/search/", params={"q": random.choice(QUERIES)}, name="/search/?q=")

    @task(4)
    def search_api(self) -> None:
        self.client.get("/api/search/images/", params={"q": random.choice(QUERIES)}, name="/api/search/images/?q=")

    @task(1)
    def similar_words(self) -> None:
        self.client.get("/api/search/words/", params={"q": random.choice(QUERIES)}, name="/api/search/words/?q=")

    @task(1)
    def home(self) -> None:
        self.client.get("/")


class Uploader(HttpUser):
    """A staff member uploading distinct photos through the API."""

    fixed_count = 20
    wait_time = between(2, 5)

    @task
    def upload(self) -> None:
        pixels = np.random.default_rng(next(seeds)).integers(0, 256, (96, 128, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        response = self.client.post(
            "/api/images/",
            files={"file": ("load.png", buffer.getvalue(), "image/png")},
            data={"category": "Load test"},
            headers={"Authorization": f"Token {TOKEN}"},
        )
        if response.status_code == 201:
            accepted.append(response.json()["id"])
