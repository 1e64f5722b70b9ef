"""The drill's load: a visitor that uses the stack as its users do, through the name and the application.

``visitor.sh`` (package data ``data/visitor.sh``, installed at :data:`VISITOR` by the visitor's user data) runs
in the visitor container, on the internet network like any client. The stack's name resolves there, through the
system's resolver, to the A record set the stack outputs (the container's ``/etc/hosts``, in the record set's
order); the visitor connects to the addresses in turn, giving each :data:`CONNECT_TIMEOUT_S` seconds, as a
browser moves on to the next address of a name (where a browser waits for the system's own connect timeout,
much longer). Nothing health-checks the entry point for the visitor.

- :class:`Visits`: a GET of the page every ``interval`` seconds; an attempt succeeds on HTTP 200. The page
  names the placement that served it.
- :class:`Writes`: numbered ``POST /api/writes?n=N``, one after the other: the web application commits row N
  through its multi-host connection string (it finds the primary by itself); an attempt succeeds once the
  application answers 201, i.e. once the COMMIT is acknowledged. Every acknowledged row number is kept
  (:attr:`LoadStream.acks`), so the RPO counts rows, not guesses.

Each attempt is an :class:`resilient_stack.drills.report.Attempt` (start, end, ok, detail).
"""

from __future__ import annotations

import re
import subprocess
import threading
from importlib import resources

from resilient_stack.drills.report import Attempt
from resilient_stack.testing import podman

__all__ = [
    "LoadStream",
    "Visits",
    "Writes",
    "visitor_script",
    "parse_line",
    "error_kind",
    "TABLE",
    "VISITOR",
    "RUN_DIR",
    "CONNECT_TIMEOUT_S",
]

TABLE = "writes"  # the rows the example application writes (examples/app/app.py: TABLE), the drill counts
VISITOR = "/usr/local/bin/firedrill-visitor"  # where the visitor's user data installs data/visitor.sh
RUN_DIR = "/run/firedrill"  # the visitor's stop flag (named in data/visitor.sh)
CONNECT_TIMEOUT_S = 2  # how long the visitor gives each address to accept the connection


def visitor_script() -> str:
    """The visitor's bash script (package data)."""
    return resources.files(__package__).joinpath("data", "visitor.sh").read_text(encoding="utf-8")


def parse_line(line: str) -> tuple[int, Attempt, str, str] | None:
    """One output line of the visitor (``ok|err N START END REMOTE_IP DETAIL``) as (number, attempt, the address
    that answered, error message); ``None`` for any other line (``end N``)."""
    parts = line.rstrip("\n").split(" ", 5)
    if len(parts) < 5 or parts[0] not in ("ok", "err"):
        return None
    try:
        n, t0, t1 = int(parts[1]), float(parts[2]), float(parts[3])
    except ValueError:
        return None
    ok = parts[0] == "ok"
    remote = parts[4]
    detail = parts[5] if len(parts) > 5 else ""
    return n, Attempt(t0, t1, ok, detail if ok else f"{remote}: {detail}"), remote, "" if ok else detail


def error_kind(message: str) -> str:
    """An error without its numbers and details, to count errors by kind in the report's notes."""
    kind = re.sub(r"\s{2,}.*", "", re.sub(r"[0-9.]+", "N", message))
    return kind[:100].strip() or "error"


class LoadStream:
    """One run of the visitor script in the visitor container; each output line is one attempt."""

    mode = ""

    def __init__(
        self,
        container: str,
        url: str,
        *,
        interval: float,
        first: int,
        count: int,
        seconds: int,
        connect_timeout: int = CONNECT_TIMEOUT_S,
        token: str = "",
        resolver: str = "",
    ) -> None:
        self.container = container
        self.attempts: list[Attempt] = []
        self.remotes: list[str] = []  # the address that answered each attempt ("-": none)
        self.acks: dict[int, float] = {}
        self.errors: dict[str, int] = {}  # error kind -> count
        # the write token (the stack output appWriteToken) through the environment, never on a command line
        self.proc = podman.popen_exec(
            container,
            [VISITOR, self.mode, url, f"{interval:g}", str(first), str(count), str(seconds), str(connect_timeout)]
            + ([resolver] if resolver else []),
            env={"RS_WRITE_TOKEN": token} if token else None,
        )
        self._reader = threading.Thread(target=self._read, name=f"firedrill-{self.mode}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parsed = parse_line(line)
            if parsed is None:
                continue
            n, a, remote, message = parsed
            self.attempts.append(a)
            self.remotes.append(remote)
            if a.ok:
                self.acks[n] = a.end
            else:
                kind = error_kind(message)
                self.errors[kind] = self.errors.get(kind, 0) + 1

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for a bounded run to end by itself."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reader.join(timeout=5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


class Visits(LoadStream):
    """GETs of the page."""

    mode = "get"


class Writes(LoadStream):
    """Numbered, committed writes through the web application."""

    mode = "write"


def stop(container: str, *streams: LoadStream, timeout: float = 45.0) -> None:
    """Raise the visitor's stop flag and wait for the streams to end (each finishes its attempt in flight)."""
    podman.exec_in(container, ["touch", f"{RUN_DIR}/stop"], check=False, timeout=30)
    for s in streams:
        s.wait(timeout)
    podman.exec_in(container, ["rm", "-f", f"{RUN_DIR}/stop"], check=False, timeout=30)
