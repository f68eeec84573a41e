"""What each process loads: the website and the Celery parent must not carry torch."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import BASE_DIR

LOADS_THE_PROJECT = """
import sys
import django
django.setup()
import config.urls, config.celery  # the URLconf pulls in every view, API endpoint and admin
from django.contrib import admin
admin.autodiscover()
from django.urls import resolve
from ingest import pipeline, tasks  # what the Celery parent imports to know its tasks
heavy = sorted(name for name in ("torch", "torchvision", "onnxruntime") if name in sys.modules)
print(",".join(heavy) or "none")
"""


def test_importing_the_project_loads_no_model_runtime() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    result = subprocess.run(
        [sys.executable, "-c", LOADS_THE_PROJECT], cwd=BASE_DIR, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "none", result.stdout + result.stderr
