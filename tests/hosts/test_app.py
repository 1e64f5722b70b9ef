"""The web hosts' application (payloads/web/app.py), run here against a stand-in psycopg2: its connection string,
the member it tries first, the retry after a lost connection, and its HTTP answers. (On booted hosts, against
real PostgreSQL members: tests/integration/podman/test_boot.py.)"""

from __future__ import annotations

import http.client
import importlib.util
import json
import sys
import threading
import types
from http.server import ThreadingHTTPServer

import pytest

from resilient_stack.hosts import paths, payload
from resilient_stack.hosts.web import CONNECTION_OPTIONS


class OperationalError(Exception):
    pass


class InterfaceError(Exception):
    pass


class FakeCluster:
    """Members by address; ``primary`` is the one that accepts a read-write session; ``logins``: the credentials the
    members accept (user -> password)."""

    def __init__(self, primary: str) -> None:
        self.primary = primary
        self.connects: list[str] = []
        self.rows: list[tuple] = []
        self.fail_next_execute = False
        self.logins = {"shop": "pw-generation-0"}

    def connect(self, dsn: str):
        self.connects.append(dsn)
        params = {k: v.strip("'") for k, v in (part.split("=", 1) for part in dsn.split(" "))}
        hosts = params["host"].split(",")
        if self.logins.get(params["user"]) != params["password"]:
            err = OperationalError(f'FATAL:  password authentication failed for user "{params["user"]}"')
            err.pgcode = "28P01"
            raise err
        if self.primary not in hosts:
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
        if cluster.fail_next_execute or self.conn.info.host != cluster.primary:
            cluster.fail_next_execute = False
            self.conn.closed = 2
            raise OperationalError("server closed the connection unexpectedly")
        cluster.rows.append((sql, params))
        if getattr(cluster, "sync_cancelled", False):  # what PostgreSQL says when a commit's sync wait is cancelled
            self.conn.notices.append("WARNING:  canceling wait for synchronous replication due to user request\n"
                                     "DETAIL:  The transaction has already committed locally, but might not have "
                                     "been replicated to the standby.\n")


@pytest.fixture
def app(monkeypatch):
    """The shipped app.py as a module, with psycopg2 replaced by the stand-in."""
    fake = types.ModuleType("psycopg2")
    fake.OperationalError, fake.InterfaceError = OperationalError, InterfaceError
    cluster = FakeCluster(primary="198.51.100.20")
    fake.connect = cluster.connect
    monkeypatch.setitem(sys.modules, "psycopg2", fake)
    spec = importlib.util.spec_from_loader("resilient_stack_app", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(payload.render("web/app.py"), "app.py", "exec"), module.__dict__)  # noqa: S102 - our own payload
    module.cluster = cluster
    return module


TOKEN = "write-token-0123456789"


@pytest.fixture
def config(tmp_path):
    """The application's configuration, with its credentials file (what root's sync writes)."""
    creds = tmp_path / "app-credentials.json"
    creds.write_text(json.dumps({"credentials": [{"user": "shop", "password": "pw-generation-0"}],
                                 "write_token": TOKEN}))
    return {
        "listen_port": 0, "placement": "ovhcloud/GRA11/gra", "credentials": str(creds), "table": paths.APP_TABLE,
        "database": {"hosts": ["203.0.113.10", "198.51.100.20", "2001:db8::30"], "port": 5432, "dbname": "shop",
                     "options": {**CONNECTION_OPTIONS, "sslrootcert": paths.CA_CERT}},
    }


def database(app, config):
    return app.Database(config, app.Secrets(config["credentials"]))


def test_the_connection_string_lists_every_member_and_asks_for_a_writable_verified_one(app, config):
    dsn = app.conninfo(config["database"], config["database"]["hosts"], "shop", "pw", "web-1")
    assert "host='203.0.113.10,198.51.100.20,2001:db8::30'" in dsn and "port='5432,5432,5432'" in dsn
    for key, value in CONNECTION_OPTIONS.items():
        assert f"{key}='{value}'" in dsn
    assert "sslmode='verify-full'" in dsn and f"sslrootcert='{paths.CA_CERT}'" in dsn
    assert "user='shop'" in dsn and "password='pw'" in dsn and "tcp_user_timeout='3000'" in dsn
    assert app.quote("it's \\ x") == "'it\\'s \\\\ x'"


def test_a_rotated_credential_is_taken_from_the_file_and_the_previous_one_is_the_fallback(app, config):
    """Root's sync writes the new credential first and the previous one after it: whichever the database accepts
    (the primary may not have the new password yet, or may have it already) logs in, and no request fails."""
    db = database(app, config)
    db.run(lambda cur: cur.execute("SELECT 1"))
    assert "user='shop'" in app.cluster.connects[-1]
    # a rotation reaches this web host before the database: the new credential fails, the previous one works
    with open(config["credentials"], "w") as f:
        json.dump({"credentials": [{"user": "shop_alt", "password": "pw-generation-1"},
                                   {"user": "shop", "password": "pw-generation-0"}], "write_token": TOKEN}, f)
    db._drop()
    db.run(lambda cur: cur.execute("SELECT 1"))
    assert "user='shop_alt'" in app.cluster.connects[-2] and "user='shop'" in app.cluster.connects[-1]
    # the primary takes the new password and the previous one expires: the new credential logs in
    app.cluster.logins = {"shop_alt": "pw-generation-1"}
    db._drop()
    db.run(lambda cur: cur.execute("SELECT 1"))
    assert "user='shop_alt'" in app.cluster.connects[-1]
    # neither works: the authentication error reaches the caller
    app.cluster.logins = {}
    db._drop()
    with pytest.raises(OperationalError, match="password authentication failed"):
        db.run(lambda cur: cur.execute("SELECT 1"))


def test_the_member_that_accepted_writes_is_tried_first_and_a_lost_connection_is_retried(app, config):
    db = database(app, config)
    _, host = db.run(lambda cur: cur.execute("SELECT 1"))
    assert host == "198.51.100.20" and db.hosts[0] == "198.51.100.20"
    # the primary moves (a failover): the kept connection fails, the retry finds the new primary
    app.cluster.primary = "2001:db8::30"
    _, host = db.run(lambda cur: cur.execute("INSERT", (1, "x")))
    assert host == "2001:db8::30" and db.hosts[0] == "2001:db8::30"
    # (that connection tried the last good member first; the next one starts with the new primary)
    assert app.cluster.connects[-1].startswith("host='198.51.100.20,203.0.113.10,2001:db8::30'")
    # no member accepts writes: the error reaches the caller after one retry
    app.cluster.primary = "192.0.2.99"
    with pytest.raises(OperationalError):
        db.run(lambda cur: cur.execute("INSERT", (2, "x")))
    assert app.cluster.connects[-1].startswith("host='2001:db8::30,198.51.100.20,203.0.113.10'")


@pytest.fixture
def server(app, config):
    app.Handler.config = config
    app.Handler.secrets = app.Secrets(config["credentials"])
    app.Handler.db = app.Database(config, app.Handler.secrets)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), app.Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(server, method: str, path: str, token: str | None = TOKEN) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    conn.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def test_only_the_token_writes_and_learns_the_members(app, server):
    assert request(server, "POST", "/api/writes?n=7", token=None) == (401, {"error": "writes need the stack's write token"})
    assert request(server, "POST", "/api/writes?n=7", token="not-it")[0] == 401
    assert not app.cluster.rows, "nothing was written"
    assert request(server, "GET", "/api/status", token=None) == (
        200, {"placement": "ovhcloud/GRA11/gra", "database": "available"})


def test_http_answers(app, server):
    assert request(server, "GET", "/api/status") == (200, {"placement": "ovhcloud/GRA11/gra", "database": "198.51.100.20"})
    assert request(server, "POST", "/api/writes?n=7") == (
        201, {"n": 7, "placement": "ovhcloud/GRA11/gra", "database": "198.51.100.20"})
    sql, params = app.cluster.rows[-1]
    assert sql.startswith(f"INSERT INTO {paths.APP_TABLE} (n, placement) VALUES (%s, %s) ON CONFLICT (n) DO NOTHING")
    assert params == (7, "ovhcloud/GRA11/gra")
    for bad in ("/api/writes", "/api/writes?n=x", "/api/writes?n=-1", "/api/writes?n=0"):
        assert request(server, "POST", bad)[0] == 400
    assert request(server, "GET", "/api/nothing")[0] == 404
    app.cluster.primary = "192.0.2.99"  # no primary: 503 with the error, never a hang or a traceback
    app.Handler.db._drop()
    status, body = request(server, "POST", "/api/writes?n=8")
    assert status == 503 and body["error"] == "the database is not available", body  # the details: the journal


def test_a_commit_no_synchronous_standby_confirmed_is_not_acknowledged(app, server):
    """A cut-off primary in synchronous mode commits locally when the session's timeout cancels the wait for the
    standby, and says so with a warning: that row may be rewound away by the failover, so it is a 503, never a 201."""
    app.cluster.sync_cancelled = True
    status, body = request(server, "POST", "/api/writes?n=9")
    assert status == 503 and body["error"] == "the database is not available"
    assert app.Handler.db.conn is None, "the connection to that member is dropped"
    app.cluster.sync_cancelled = False
    assert request(server, "POST", "/api/writes?n=10")[0] == 201
