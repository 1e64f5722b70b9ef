"""The example application (examples/app/app.py), run here against a stand-in psycopg2: the connection it asks for
(the stack's DATABASE_URL, bounded waits), the retry after a lost connection, its release phase and its HTTP
answers. (In its image on booted hosts, against real PostgreSQL members: tests/integration/podman/test_release.py
and the fire drill.)"""

from __future__ import annotations

import http.client
import importlib.util
import json
import sys
import threading
import types
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "examples" / "app" / "app.py"
URL = (
    "postgresql://shop@203.0.113.10:5432,198.51.100.20:5432/shop?target_session_attrs=read-write"
    "&sslmode=verify-full&sslrootcert=/run/resilient-stack/ca.crt&channel_binding=require&connect_timeout=2"
)
TOKEN = "write-token-0123456789"


class OperationalError(Exception):
    pass


class InterfaceError(Exception):
    pass


class FakeCluster:
    """``primary``: the member a read-write session reaches (None: no member accepts writes)."""

    def __init__(self, primary: str | None) -> None:
        self.primary = primary
        self.connects: list[tuple[str, dict]] = []
        self.rows: list[tuple] = []
        self.sync_cancelled = False

    def connect(self, dsn: str, **kwargs):
        self.connects.append((dsn, kwargs))
        if self.primary is None:
            raise OperationalError("no member accepts writes")
        return FakeConnection(self, self.primary)


class FakeConnection:
    def __init__(self, cluster: FakeCluster, host: str) -> None:
        self.cluster, self.closed = cluster, 0
        self.info = types.SimpleNamespace(host=host)
        self.notices: list[str] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def cursor(self):
        return FakeCursor(self)

    def close(self):
        self.closed = 1


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params=None):
        cluster = self.conn.cluster
        if self.conn.info.host != cluster.primary:
            self.conn.closed = 2
            raise OperationalError("server closed the connection unexpectedly")
        cluster.rows.append((sql, params))
        if cluster.sync_cancelled:  # what PostgreSQL says when a commit's wait for the standby is cancelled
            self.conn.notices.append("WARNING:  canceling wait for synchronous replication due to user request\n")


@pytest.fixture
def app(monkeypatch):
    """examples/app/app.py as a module, with psycopg2 replaced by the stand-in and the stack's environment set."""
    fake = types.ModuleType("psycopg2")
    fake.OperationalError, fake.InterfaceError = OperationalError, InterfaceError
    cluster = FakeCluster(primary="198.51.100.20")
    fake.connect = cluster.connect
    monkeypatch.setitem(sys.modules, "psycopg2", fake)
    for key, value in {
        "DATABASE_URL": URL,
        "RESILIENT_STACK_PLACEMENT": "ovhcloud/GRA11/gra",
        "RESILIENT_STACK_HOST": "shop-gra-web-1",
        "RESILIENT_STACK_RELEASE": "7",
        "RESILIENT_STACK_WRITE_TOKEN": TOKEN,
        "APP_TITLE": "Shop <&>",
    }.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("example_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.cluster = cluster
    return module


def test_it_connects_with_the_stacks_url_and_bounded_waits(app):
    db = app.Database()
    _, host = db.run(lambda cur: cur.execute("SELECT 1"))
    dsn, kwargs = app.cluster.connects[-1]
    assert dsn == URL and host == "198.51.100.20"
    assert kwargs["application_name"] == "shop-gra-web-1" and kwargs["tcp_user_timeout"] == "3000"
    assert "statement_timeout=5000" in kwargs["options"]


def test_a_lost_connection_is_retried_once_on_a_new_one(app):
    db = app.Database()
    db.run(lambda cur: cur.execute("SELECT 1"))
    app.cluster.primary = "2001:db8::30"  # a failover: the kept connection fails, the retry reaches the new primary
    _, host = db.run(lambda cur: cur.execute("INSERT", (1, "x")))
    assert host == "2001:db8::30" and len(app.cluster.connects) == 2
    app.cluster.primary = None  # no member accepts writes: the error reaches the caller after one retry
    with pytest.raises(OperationalError):
        db.run(lambda cur: cur.execute("INSERT", (2, "x")))


def test_the_release_phase_makes_the_tables_and_records_the_release(app, capsys):
    app.migrate()
    statements = [sql for sql, _ in app.cluster.rows]
    assert statements[0].startswith(f"CREATE TABLE IF NOT EXISTS {app.TABLE} (n bigint PRIMARY KEY")
    assert statements[1].startswith(f"CREATE TABLE IF NOT EXISTS {app.MIGRATIONS} (")
    assert app.cluster.rows[2] == (
        f"INSERT INTO {app.MIGRATIONS} (release, host) VALUES (%s, %s)",
        ("7", "shop-gra-web-1"),
    )
    assert "migrated" in capsys.readouterr().out


@pytest.fixture
def server(app):
    app.Handler.db = app.Database()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), app.Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(server, method: str, path: str, token: str | None = TOKEN) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    conn.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
    r = conn.getresponse()
    return r.status, r.read().decode()


def test_health_and_page(app, server):
    assert request(server, "GET", "/healthz") == (200, "ok\n")
    status, page = request(server, "GET", "/")
    assert status == 200 and "Shop &lt;&amp;&gt;" in page and "ovhcloud/GRA11/gra" in page and "release 7" in page
    assert not app.cluster.connects, "neither needs the database"


def test_only_the_token_writes_and_learns_the_members(app, server):
    status, body = request(server, "POST", "/api/writes?n=7", token=None)
    assert (status, json.loads(body)) == (401, {"error": "writes need the stack's write token"})
    assert request(server, "POST", "/api/writes?n=7", token="not-it")[0] == 401
    assert not app.cluster.rows, "nothing was written"
    status, body = request(server, "GET", "/api/status", token=None)
    assert (status, json.loads(body)) == (
        200,
        {"placement": "ovhcloud/GRA11/gra", "release": "7", "database": "available"},
    )


def test_writes_and_errors(app, server):
    status, body = request(server, "POST", "/api/writes?n=7")
    assert (status, json.loads(body)) == (201, {"n": 7, "placement": "ovhcloud/GRA11/gra", "database": "198.51.100.20"})
    sql, params = app.cluster.rows[-1]
    assert sql == f"INSERT INTO {app.TABLE} (n, placement) VALUES (%s, %s) ON CONFLICT (n) DO NOTHING"
    assert params == (7, "ovhcloud/GRA11/gra")
    for bad in ("/api/writes", "/api/writes?n=x", "/api/writes?n=-1", "/api/writes?n=0"):
        assert request(server, "POST", bad)[0] == 400
    assert request(server, "GET", "/api/nothing")[0] == 404
    app.cluster.primary = None  # no primary: 503 with a generic error, never a hang or a traceback
    app.Handler.db._drop()
    status, body = request(server, "POST", "/api/writes?n=8")
    assert status == 503 and json.loads(body)["error"] == "the database is not available"


def test_a_commit_no_synchronous_standby_confirmed_is_not_acknowledged(app, server):
    """A cut-off primary in synchronous mode commits locally when the session's timeout cancels the wait for the
    standby, and says so with a warning: that row may be rewound away by the failover, so it is a 503, never a 201."""
    app.cluster.sync_cancelled = True
    status, body = request(server, "POST", "/api/writes?n=9")
    assert status == 503 and json.loads(body)["error"] == "the database is not available"
    assert app.Handler.db.conn is None, "the connection to that member is dropped"
    app.cluster.sync_cancelled = False
    assert request(server, "POST", "/api/writes?n=10")[0] == 201
