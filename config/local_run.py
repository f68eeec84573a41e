"""The environment of `./dev run`: production settings (DEBUG off, JSON errors under /api/,
WhiteNoise serving collected static files) on the local machine over plain HTTP.

    eval "$(python -m config.local_run [--debug])"   # what ./dev run does

Variables already set win. The secret key is made once and kept in .local/secret-key.
"""

from __future__ import annotations

import os
import secrets
import shlex
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = BASE_DIR / ".local" / "secret-key"


def secret_key() -> str:
    if not SECRET_KEY_FILE.exists():
        SECRET_KEY_FILE.parent.mkdir(exist_ok=True)
        SECRET_KEY_FILE.write_text(secrets.token_urlsafe(50))
        SECRET_KEY_FILE.chmod(0o600)
    return SECRET_KEY_FILE.read_text().strip()


def environment(*, debug: bool = False) -> dict[str, str]:
    wanted = {
        "DEBUG": "true" if debug else "false",  # --debug: Django's debug pages (they show settings)
        "SECRET_KEY": secret_key(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HTTPS": "false",  # plain http on this machine: no redirect, no secure-only cookies, no HSTS
        "SERVE_MEDIA": "true",  # no separate web server for the uploaded files
    }
    return {name: os.environ.get(name, value) for name, value in wanted.items()}


if __name__ == "__main__":
    debug = "--debug" in sys.argv[1:]
    for name, value in environment(debug=debug).items():
        print(f"export {name}={shlex.quote(value)}")
