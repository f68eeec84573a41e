"""HTTP as the benchmarks' clients speak it to the gunicorn they start."""

from __future__ import annotations

import http.client
import subprocess
import time
import uuid

from django.core.management.base import CommandError


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> int:
    """One request on a connection of its own; its status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    """A form upload of one JPEG file: its body and headers."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


class HttpClient:
    """One keep-alive connection, as a browser or an API client holds one."""

    def __init__(self, port: int, log: str) -> None:
        self.port = port
        self.log = log  # the server's log, named when it answers other than 200

    def __enter__(self) -> HttpClient:
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()

    def call(self, method: str, path: str, body: bytes | None, headers: dict) -> None:
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        response.read()
        if response.status != 200:
            raise CommandError(f"{method} {path} answered {response.status}; see {self.log}")

    def timed(self, method: str, path: str, body: bytes | None, headers: dict) -> float:
        """The request's round trip in ms."""
        start = time.perf_counter()
        self.call(method, path, body, headers)
        return (time.perf_counter() - start) * 1000

    def wait_ready(self, web: subprocess.Popen) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if web.poll() is not None:
                raise CommandError(f"gunicorn exited; see {self.log}")
            try:
                self.call("GET", "/api/classes/", None, {})
                return
            except (OSError, CommandError):
                self.connection.close()
                time.sleep(0.5)
        raise CommandError("gunicorn did not answer within 2 minutes.")
