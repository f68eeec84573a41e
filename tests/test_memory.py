"""What an uploaded image can cost in memory: a 1-bit 6300x6300 PNG (39.7 Mpx in about 15 kB)
decodes to 40 MB, and to 119 MB more in RGB. Search by photo decodes at the scale the encoder
needs, at most PHOTO_DECODE_CONCURRENCY at a time per process, under a lower pixel limit."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image as PILImage
from rest_framework.test import APIClient

from tests.conftest import BASE_DIR
from tests.test_faults import child_pids, gunicorn
from tests.test_outages import WEB

CONCURRENT = 8
WEB_PROCESS_LIMIT_MB = 400  # the web process's memory target (docs/benchmarks.md, Memory)


@pytest.fixture(scope="module")
def bilevel_png(tmp_path_factory) -> Path:
    buffer = io.BytesIO()
    PILImage.new("1", (6300, 6300), 1).save(buffer, format="PNG")
    path = tmp_path_factory.mktemp("memory") / "bilevel.png"
    path.write_bytes(buffer.getvalue())
    return path


DECODE_EIGHT = """
import sys, threading
from ml import images
data = open(sys.argv[1], "rb").read()
# VmHWM, not ru_maxrss: that one is kept across exec, so it would be the parent's (pytest's) peak.
peak = lambda: int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM"))) / 1024
before = peak()
def decode():
    images.open_query_photo(data, max_pixels=40_000_000, concurrent=2)
threads = [threading.Thread(target=decode) for _ in range(int(sys.argv[2]))]
[thread.start() for thread in threads]
[thread.join() for thread in threads]
print(round(peak() - before))
"""


def test_eight_concurrent_decodes_of_a_small_file_of_many_pixels_stay_bounded(bilevel_png) -> None:
    decoded = subprocess.run(
        [sys.executable, "-c", DECODE_EIGHT, str(bilevel_png), str(CONCURRENT)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert not decoded.stderr, decoded.stderr  # a thread that failed prints its traceback there
    grown = decoded.stdout.strip()
    print(f"\n{CONCURRENT} concurrent decodes of the 1-bit 6300x6300 PNG: peak RSS +{grown} MB")
    assert int(grown) < 150  # two at a time, 40 MB each decoded; whole and in RGB it was 1,261 MB


@pytest.mark.django_db
def test_search_by_photo_has_a_lower_pixel_limit_than_uploads(bilevel_png, admin_user, media) -> None:
    api = APIClient()
    search = api.post("/api/search/by-photo/", {"file": SimpleUploadedFile("b.png", bilevel_png.read_bytes())})
    assert search.status_code == 400 and "the limit is 16 megapixels" in search.json()["detail"]
    page = Client().post(reverse("search:photo"), {"file": SimpleUploadedFile("b.png", bilevel_png.read_bytes())})
    assert page.status_code == 400 and "the limit is 16 megapixels" in page.content.decode()
    api.force_authenticate(admin_user)
    upload = api.post(
        "/api/images/", {"file": SimpleUploadedFile("b.png", bilevel_png.read_bytes()), "category": "Big"}
    )
    assert upload.status_code == 201, upload.content


def test_eight_concurrent_searches_by_photo_keep_the_web_process_under_its_target(
    bilevel_png, one_searchable_item
) -> None:
    """At the upload limit (40 Mpx) rather than the search limit, so that every photo is decoded."""
    pid_file = BASE_DIR / ".local" / "test-gunicorn.pid"
    with gunicorn(*WEB, "--pid", str(pid_file), env={"PHOTO_SEARCH_MAX_PIXELS": "40000000"}) as url:
        answers: list[int] = []

        def search() -> None:
            files = {"file": ("b.png", bilevel_png.read_bytes())}
            answers.append(requests.post(f"{url}/api/search/by-photo/", files=files, timeout=120).status_code)

        search()  # the encoder loads on the first search
        threads = [threading.Thread(target=search) for _ in range(CONCURRENT)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        (worker,) = child_pids(int(pid_file.read_text()))
        status = Path(f"/proc/{worker}/status").read_text()
        peak_mb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
    print(f"\nweb process after {CONCURRENT} concurrent searches by the 1-bit 6300x6300 PNG: peak RSS {peak_mb:.0f} MB")
    assert answers == [200] * (CONCURRENT + 1)
    assert peak_mb < WEB_PROCESS_LIMIT_MB
