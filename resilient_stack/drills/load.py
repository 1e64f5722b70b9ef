"""The drill's load: HTTP GETs to the entry point, and numbered, committed writes to the database.

- :class:`HttpLoad` (a thread of this process): a GET to the entry point every ``interval`` seconds, each
  with a 2 s timeout; a request succeeds on HTTP 200. The web page names the placement that served it.
- :class:`Writer`: ``firedrill-writer`` (package data ``data/firedrill-writer.sh``, installed by the entry
  point's user data at :data:`WRITER`) runs in the entry point container, on the internet network like any
  client: one ``INSERT INTO firedrill_writes (n) VALUES (n)`` per connection, TLS + SCRAM as the
  application; an attempt succeeds once its COMMIT is acknowledged. Every acknowledged row number is kept
  (:attr:`Writer.acks`), so the RPO counts rows, not guesses. The database host it writes to is the one
  named in ``/run/firedrill/target`` (the failover re-points it).

Each attempt is an :class:`resilient_stack.drills.report.Attempt` (start, end, ok, detail).
"""

from __future__ import annotations

import re
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from importlib import resources
from typing import Any

from resilient_stack.drills.report import Attempt
from resilient_stack.testing import podman

__all__ = ["HttpLoad", "Writer", "writer_script", "parse_writer_line", "error_kind", "TABLE", "WRITER", "RUN_DIR"]

TABLE = "firedrill_writes"  # the writer's table (named in data/firedrill-writer.sh)
WRITER = "/usr/local/sbin/firedrill-writer"  # where the entry point's user data installs the writer
RUN_DIR = "/run/firedrill"  # the writer's target file and stop flag (named in data/firedrill-writer.sh)


def writer_script() -> str:
    """The writer's bash script (package data)."""
    return resources.files(__package__).joinpath("data", "firedrill-writer.sh").read_text(encoding="utf-8")


class HttpLoad(threading.Thread):
    """GETs to the entry point every ``interval`` s, each with a 2 s timeout, bounded in count and time."""

    def __init__(self, url: str, *, interval: float, max_requests: int, max_seconds: float) -> None:
        super().__init__(name="firedrill-http", daemon=True)
        self.url = url
        self.interval = interval
        self.max_requests = max_requests
        self.deadline = time.monotonic() + max_seconds
        self.attempts: list[Attempt] = []
        self.stop = threading.Event()
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the web hosts' Debian snakeoil certificate
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx), _NoRedirect())

    def run(self) -> None:
        while not self.stop.is_set() and len(self.attempts) < self.max_requests and time.monotonic() < self.deadline:
            t0 = time.time()
            ok, detail = False, ""
            try:
                with self._opener.open(self.url, timeout=2) as r:
                    body = r.read(8192).decode("utf-8", "replace")
                    ok = r.status == 200
                    m = re.search(r'id="placement">([^<]*)<', body)
                    detail = m.group(1) if m else f"HTTP {r.status}"
            except urllib.error.HTTPError as exc:
                detail = f"HTTP {exc.code}"
            except Exception as exc:  # noqa: BLE001 - any failure is a failed request
                detail = type(exc).__name__ + ": " + str(exc)[:80]
            self.attempts.append(Attempt(t0, time.time(), ok, detail))
            self.stop.wait(self.interval)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a redirect is not a 200
        return None


def parse_writer_line(line: str) -> tuple[int, Attempt, str] | None:
    """One output line of the writer (``ack|err N START END HOST [error]``) as (row number, attempt, error
    message); ``None`` for any other line (``end N``)."""
    parts = line.rstrip("\n").split(" ", 5)
    if len(parts) < 5 or parts[0] not in ("ack", "err"):
        return None
    n, t0, t1 = int(parts[1]), float(parts[2]), float(parts[3])
    ok = parts[0] == "ack"
    message = "" if ok or len(parts) < 6 else parts[5]
    return n, Attempt(t0, t1, ok, parts[4] if ok else f"{parts[4]}: {message}"), message


def error_kind(message: str) -> str:
    """A write error without its numbers and details, to count errors by kind in the report's notes."""
    kind = re.sub(r"\s{2,}.*", "", re.sub(r"[0-9.]+", "N", message))
    return kind[:100].strip() or "error"


class Writer:
    """The numbered writes, run by ``firedrill-writer`` in the entry point container (on the internet
    network, like any client); each output line is one attempt."""

    def __init__(self, container: str, *, db: str, user: str, password: str, max_rows: int, max_seconds: int) -> None:
        self.container = container
        self.attempts: list[Attempt] = []
        self.acks: dict[int, float] = {}
        self.errors: dict[str, int] = {}  # error kind -> count
        self.proc = podman.popen_exec(container, [WRITER, db, user, str(max_rows), str(max_seconds)],
                                      env={"PGPASSWORD": password})
        self._reader = threading.Thread(target=self._read, name="firedrill-writer", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parsed = parse_writer_line(line)
            if parsed is None:
                continue
            n, a, message = parsed
            self.attempts.append(a)
            if a.ok:
                self.acks[n] = a.end
            else:
                kind = error_kind(message)
                self.errors[kind] = self.errors.get(kind, 0) + 1

    def stop(self, timeout: float = 15.0) -> None:
        podman.exec_in(self.container, ["touch", f"{RUN_DIR}/stop"], check=False, timeout=30)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
