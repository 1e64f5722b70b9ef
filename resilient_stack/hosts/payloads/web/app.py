#!/usr/bin/python3
"""resilient_stack's web application (cloud-init installs it on every web host; nginx serves it under /api/).

    GET  /api/status        200 {"placement", "database"}: the member that accepts writes answers; else 503
    POST /api/writes?n=N    201 {"n", "placement", "database"} once the row N is committed; 503 {"error"} else

Writes need the stack's write token (``Authorization: Bearer TOKEN``: the stack output ``appWriteToken``, a
Pulumi secret; 401 without it): the internet reads the page, only the operator and the fire drill write. Which
database member answered is said to those holding the token only; errors are generic (the details go to the
journal). nginx limits the request rate of /api/.

It reaches PostgreSQL through ONE libpq connection string that lists every database member with
target_session_attrs=read-write: libpq tries the members in turn and keeps the one that accepts writes, the
current primary, so no one re-points the application after a failover. TLS verified against the cluster's CA
(sslmode=verify-full) with channel binding (SCRAM-SHA-256-PLUS). The member that last accepted writes is tried
first. The credentials (root's sync writes them from the sealed secrets) are read again whenever their file
changes: after a rotation the new one is tried first and the previous one after it, so no request fails while the
database and the web hosts take the new one in turn. Debian's python3 and python3-psycopg2 only.

Usage: app.py CONFIG.json   (listen_port, placement, credentials, table, database: hosts, port, dbname, options)
"""

import hmac
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# Whatever a query on a lost server would otherwise wait for (TCP retransmissions: minutes), bounded here.
SESSION = {
    "tcp_user_timeout": "3000",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "2",
    "options": "-c statement_timeout=5000",
}


def quote(value):
    """A libpq keyword/value connection string value, quoted."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def conninfo(database, hosts, user, password, application_name):
    """The connection string: every member, the last one that accepted writes first."""
    params = {
        "host": ",".join(hosts),
        "port": ",".join(str(database["port"]) for _ in hosts),
        "dbname": database["dbname"],
        "user": user,
        "password": password,
        "application_name": application_name,
    }
    params.update(database["options"])
    params.update(SESSION)
    return " ".join(f"{k}={quote(v)}" for k, v in params.items())


class Secrets:
    """The credentials file (root's sync), read again when it changes: the application's database credentials
    (the current one first) and the write token."""

    def __init__(self, path):
        self.path, self.stamp, self.doc = path, None, {}
        self.lock = threading.Lock()

    def get(self):
        with self.lock:
            try:
                st = os.stat(self.path)
                stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
                if stamp != self.stamp:
                    with open(self.path, encoding="utf-8") as f:
                        self.doc, self.stamp = json.load(f), stamp
            except (OSError, ValueError) as exc:
                print(f"credentials not read: {exc}", file=sys.stderr, flush=True)
            return self.doc


SYNC_CANCELLED = "canceling wait for synchronous replication"


class NotAcknowledged(Exception):
    """A commit that only this member holds (its wait for the synchronous standby was cancelled)."""


def auth_failed(exc):
    return getattr(exc, "pgcode", None) == "28P01" or "password authentication failed" in str(exc)


class Database:
    """One connection to the member that accepts writes, reconnected (to whichever does) when it is lost."""

    def __init__(self, config, secrets):
        self.database = config["database"]
        self.hosts = list(self.database["hosts"])
        self.secrets = secrets
        self.name = socket.gethostname().split(".")[0]
        self.conn = None
        self.lock = threading.Lock()

    def _connect(self):
        import psycopg2

        credentials = self.secrets.get().get("credentials") or [{"user": "", "password": ""}]
        for i, c in enumerate(credentials):
            try:
                conn = psycopg2.connect(conninfo(self.database, self.hosts, c["user"], c["password"], self.name))
                break
            except psycopg2.OperationalError as exc:
                if i + 1 == len(credentials) or not auth_failed(exc):
                    raise
        host = conn.info.host
        if host in self.hosts:
            self.hosts.remove(host)
            self.hosts.insert(0, host)
        return conn

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
        standby was cancelled (this session's statement_timeout, while the standby is lost or this member is cut
        off) is committed on this member only: PostgreSQL says so with a warning, and this is NOT an acknowledgement
        (the row may be rewound away by a failover): it raises NotAcknowledged."""
        import psycopg2

        with self.lock:
            for attempt in (1, 2):
                try:
                    if self.conn is None or self.conn.closed:
                        self.conn = self._connect()
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
    server_version = "resilient-stack-app"
    config = {}
    db = None
    secrets = None

    def log_message(self, fmt, *args):  # journald gets the errors only
        pass

    def authorized(self):
        token = self.secrets.get().get("write_token") or ""
        given = self.headers.get("Authorization", "")
        return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    def reply(self, code, body):
        data = (json.dumps(body) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def failed(self, exc):
        message = " ".join(str(exc).split())[:300] or type(exc).__name__
        print(f"database error: {message}", file=sys.stderr, flush=True)
        self.reply(503, {"error": "the database is not available", "placement": self.config["placement"]})

    def do_GET(self):  # noqa: N802 - http.server's name
        if urlsplit(self.path).path != "/api/status":
            return self.reply(404, {"error": "not found"})
        try:
            _, host = self.db.run(lambda cur: cur.execute("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure is a 503
            return self.failed(exc)
        return self.reply(200, {"placement": self.config["placement"],
                                "database": host if self.authorized() else "available"})

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
        table, placement = self.config["table"], self.config["placement"]
        sql = f"INSERT INTO {table} (n, placement) VALUES (%s, %s) ON CONFLICT (n) DO NOTHING"
        try:
            _, host = self.db.run(lambda cur: cur.execute(sql, (n, placement)))
        except Exception as exc:  # noqa: BLE001 - any failure is a 503
            return self.failed(exc)
        return self.reply(201, {"n": n, "placement": placement, "database": host})


def main(argv):
    with open(argv[1], encoding="utf-8") as f:
        config = json.load(f)
    Handler.config = config
    Handler.secrets = Secrets(config["credentials"])
    Handler.db = Database(config, Handler.secrets)
    server = ThreadingHTTPServer(("127.0.0.1", int(config["listen_port"])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
