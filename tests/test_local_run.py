"""`./dev run` serves as production does: DEBUG off (JSON 404s under /api/, error pages that
print no settings), static files from WhiteNoise after collectstatic, media, plain-HTTP cookies;
`--debug` is the only way to Django's debug pages."""

from __future__ import annotations

import subprocess
import sys

import requests
from django.conf import settings

from config import local_run
from tests.conftest import BASE_DIR, subprocess_environment
from tests.test_faults import gunicorn


def test_the_run_environment_turns_debug_off_unless_asked(monkeypatch) -> None:
    monkeypatch.delenv("DEBUG", raising=False)
    assert local_run.environment()["DEBUG"] == "false"
    assert local_run.environment(debug=True)["DEBUG"] == "true"
    exports = subprocess.run(
        [sys.executable, "-m", "config.local_run"], cwd=BASE_DIR, capture_output=True, text=True, check=True
    ).stdout
    assert "export DEBUG=false" in exports and "export SECRET_KEY=" in exports


def test_the_site_under_the_run_environment_answers_as_production(committed_db, monkeypatch) -> None:
    for name in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "HTTPS", "SERVE_MEDIA"):
        monkeypatch.delenv(name, raising=False)
    env = {
        **local_run.environment(),
        "DJANGO_SETTINGS_MODULE": "config.settings",  # the real settings, not the test ones
        "CACHE_URL": settings.CACHES["default"]["LOCATION"],
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=BASE_DIR, env={**subprocess_environment(), **env}, check=True, capture_output=True,
    )  # fmt: skip
    stored = settings.MEDIA_ROOT / "originals" / "run-check.png"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(b"\x89PNG\r\n\x1a\n")
    try:
        with gunicorn("--config", "config/gunicorn.py", env=env) as url:
            missing = requests.get(f"{url}/api/no-such-thing/", timeout=10)
            assert missing.status_code == 404 and missing.json() == {"detail": "Not found."}
            page = requests.get(f"{url}/no-such-page/", timeout=10)
            assert page.status_code == 404
            assert "DATABASE" not in page.text and settings.CACHE_URL not in page.text and "Traceback" not in page.text
            home = requests.get(f"{url}/", timeout=10, allow_redirects=False)
            assert home.status_code == 200  # plain HTTP: no redirect to https
            stylesheet = requests.get(f"{url}/static/css/app.css", timeout=10)
            assert stylesheet.status_code == 200 and "text/css" in stylesheet.headers["Content-Type"]
            assert requests.get(f"{url}/media/originals/run-check.png", timeout=10).status_code == 200
            login = requests.get(f"{url}/admin/login/", timeout=10)
            assert login.status_code == 200 and "secure" not in login.headers.get("Set-Cookie", "").lower()
    finally:
        stored.unlink()
