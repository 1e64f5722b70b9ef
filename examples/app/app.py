#!/usr/bin/python3
"""The example application: what a user's own image looks like on resilient-stack (and the demo the fire drill
measures). Debian's python3 and python3-psycopg2 only; see README.md beside it.

    GET  /healthz           200 "ok": the health check (the stack proxies its /healthz here, and a release waits
                            for it before sending a host's visitors to a new version)
    GET  /                  the page: the title, the placement and the release that served it
    GET  /api/status        200 {"placement", "release", "database"}: the member that accepts writes answers; 503 else
    POST /api/writes?n=N    201 {"n", "placement", "database"} once row N is committed; 503 {"error"} else

    app.py migrate          the release phase: creates the table (idempotent) and records the migration

What the stack hands every application container (environment):
    PORT                    the port to listen on
    DATABASE_URL            postgresql://USER@MEMBER1:5432,MEMBER2:5432,.../DB?target_session_attrs=read-write&...:
                            every database member; libpq keeps the one that accepts writes, the current primary
    PGPASSFILE              the password file of that user (the password is never in the environment)
    PGHOST, PGPORT, PGDATABASE, PGUSER, PGSSLMODE, PGSSLROOTCERT, PGTARGETSESSIONATTRS, PGCHANNELBINDING,
    PGCONNECT_TIMEOUT       the same, for clients that read libpq's variables
    RESILIENT_STACK_PLACEMENT, RESILIENT_STACK_HOST, RESILIENT_STACK_RELEASE
    RESILIENT_STACK_WRITE_TOKEN   the stack's generated token (stack output appWriteToken): this app requires it
                            for writes (Authorization: Bearer TOKEN); errors are generic, details go to the log
plus the stack file's web.app.env and the secrets of resilient-stack:appSecrets.

The credentials rotate by replacing the container (the stack starts the new one with the new user and password
file, waits for its health check, then stops this one): nothing here reloads them.
"""

import hmac
import html
import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TABLE = "writes"
MIGRATIONS = "example_migrations"

# Whatever a query on a lost server would otherwise wait for (TCP retransmissions: minutes), bounded here.
SESSION = {
    "tcp_user_timeout": "3000",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "2",
    "options": "-c statement_timeout=5000",
}

SYNC_CANCELLED = "canceling wait for synchronous replication"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>Served from placement: <strong id="placement">{placement}</strong>, release {release}.</p>
</body></html>
"""


def env(name, default=""):
    return os.environ.get(name, default)


def connect():
    import psycopg2

    return psycopg2.connect(env("DATABASE_URL"), application_name=env("RESILIENT_STACK_HOST", "app"), **SESSION)


class NotAcknowledged(Exception):
    """A commit that only this member holds (its wait for the synchronous standby was cancelled)."""


class Database:
    """One connection to the member that accepts writes, reconnected (to whichever does) when it is lost."""

    def __init__(self):
        self.conn = None
        self.lock = threading.Lock()

    def _drop(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - closing a lost connection
                pass
        self.conn = None

    def run(self, work):
        """``work(cursor)`` in one committed transaction on the primary; (result, member). Retried once on a new
        connection when the connection was lost (the work is idempotent).

        With synchronous replication a commit is acknowledged once a standby holds it. A commit whose wait for the
        standby was cancelled is committed on this member only: PostgreSQL says so with a warning, and that is NOT
        an acknowledgement (a failover may rewind it away): NotAcknowledged."""
        import psycopg2

        with self.lock:
            for attempt in (1, 2):
                try:
                    if self.conn is None or self.conn.closed:
                        self.conn = connect()
                    del self.conn.notices[:]
                    with self.conn:
                        with self.conn.cursor() as cur:
                            result = work(cur)
                    if any(SYNC_CANCELLED in notice for notice in self.conn.notices):
                        self._drop()
                        raise NotAcknowledged("the commit was not confirmed by a synchronous standby")
                    return result, self.conn.info.host
                except (psycopg2.OperationalError, psycopg2.InterfaceError):
                    self._drop()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")


class Handler(BaseHTTPRequestHandler):
    server_version = "resilient-stack-example"
    db = None

    def log_message(self, fmt, *args):  # the journal gets the errors only
        pass

    def authorized(self):
        token = env("RESILIENT_STACK_WRITE_TOKEN")
        given = self.headers.get("Authorization", "")
        return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    def send(self, code, data, content_type):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def reply(self, code, body):
        self.send(code, (json.dumps(body) + "\n").encode(), "application/json")

    def failed(self, exc):
        message = " ".join(str(exc).split())[:300] or type(exc).__name__
        print(f"database error: {message}", file=sys.stderr, flush=True)
        self.reply(503, {"error": "the database is not available", "placement": env("RESILIENT_STACK_PLACEMENT")})

    def do_GET(self):  # noqa: N802 - http.server's name
        path = urlsplit(self.path).path
        if path == "/healthz":
            return self.send(200, b"ok\n", "text/plain")
        if path == "/":
            page = PAGE.format(
                title=html.escape(env("APP_TITLE", "Resilient Stack")),
                placement=html.escape(env("RESILIENT_STACK_PLACEMENT")),
                release=html.escape(env("RESILIENT_STACK_RELEASE")),
            )
            return self.send(200, page.encode(), "text/html; charset=utf-8")
        if path != "/api/status":
            return self.reply(404, {"error": "not found"})
        try:
            _, host = self.db.run(lambda cur: cur.execute("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure is a 503
            return self.failed(exc)
        return self.reply(
            200,
            {
                "placement": env("RESILIENT_STACK_PLACEMENT"),
                "release": env("RESILIENT_STACK_RELEASE"),
                "database": host if self.authorized() else "available",
            },
        )

    def do_POST(self):  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        if url.path != "/api/writes":
            return self.reply(404, {"error": "not found"})
        if not self.authorized():
            return self.reply(401, {"error": "writes need the stack's write token"})
        try:
            n = int(parse_qs(url.query).get("n", [""])[0])
            if not 0 < n < 2**62:
                raise ValueError
        except ValueError:
            return self.reply(400, {"error": "n must be a positive integer"})
        placement = env("RESILIENT_STACK_PLACEMENT")
        sql = f"INSERT INTO {TABLE} (n, placement) VALUES (%s, %s) ON CONFLICT (n) DO NOTHING"
        try:
            _, host = self.db.run(lambda cur: cur.execute(sql, (n, placement)))
        except Exception as exc:  # noqa: BLE001 - any failure is a 503
            return self.failed(exc)
        return self.reply(201, {"n": n, "placement": placement, "database": host})


def migrate():
    """The release phase: the schema this version needs (idempotent), and a row saying this release migrated."""
    conn = connect()
    with conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (n bigint PRIMARY KEY, placement text NOT NULL, "
            "at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS} (release text NOT NULL, host text NOT NULL, "
            "at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
        cur.execute(
            f"INSERT INTO {MIGRATIONS} (release, host) VALUES (%s, %s)",
            (env("RESILIENT_STACK_RELEASE"), env("RESILIENT_STACK_HOST", socket.gethostname())),
        )
    conn.close()
    print(f"migrated: {TABLE}, release {env('RESILIENT_STACK_RELEASE')}", flush=True)


def main(argv):
    if argv[1:] == ["migrate"]:
        return migrate()
    Handler.db = Database()
    server = ThreadingHTTPServer(("0.0.0.0", int(env("PORT", "8080"))), Handler)
    server.daemon_threads = True
    # SIGTERM (podman stop, the end of a release's drain): stop accepting, let the requests under way finish, exit
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"listening on port {server.server_address[1]}, release {env('RESILIENT_STACK_RELEASE')}", flush=True)
    server.serve_forever()
    server.server_close()
    print("stopped (SIGTERM)", flush=True)


if __name__ == "__main__":
    main(sys.argv)
