"""Tests of the release agent (``payloads/web/release.py``) as a web host gets it (rendered by ``hosts.app.files()``):
its pure helpers, and its host-side actions with ``run`` (every command it runs) and the database connection
replaced by fakes that answer only what each test expects and fail loudly on anything else."""

from __future__ import annotations

import http.server
import json
import stat
import threading
import time
from types import SimpleNamespace

import pytest

from resilient_stack.hosts import app
from resilient_stack.hosts.app import AppSpec, runtime_section, secret_section, secrets_version
from tests.hosts.samples import rendered_module

TOKEN = "write-token-0123456789abcdef"
SECRET = "sk_live 'quoted' $(id) #5"
APP_PW = 'App\'s "pw" $(id) `x` #1 0123'
MIGRATE_PW = "Migrate:'pw' \\ #4 0123"
CA_TEXT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
SPEC = AppSpec(
    image="registry.example.com/shop/web:1.0.0",
    env={"APP_TITLE": "Shop"},
    command=("serve", "--title=50% $HOME"),
    secret_names=("STRIPE_KEY",),
)
MEMBERS = {"203.0.113.10": "gra", "198.51.100.20": "waw", "2001:db8::30": "ik"}


@pytest.fixture
def agent(tmp_path):
    """The rendered agent imported as a module, its host paths under ``tmp_path`` and ``run`` refusing every command
    (a test installs a :class:`Host` for the commands it expects)."""
    text = {f["path"]: f for f in app.files()}[app.AGENT]["content"]
    module = rendered_module(tmp_path, "resilient_stack_app_agent", text)
    state = tmp_path / "state"
    module.STATE_DIR, module.CURRENT = str(state), str(state / "current.json")
    module.AUTHFILE = str(state / "auth.json")
    module.STATE, module.CREDENTIALS = str(tmp_path / "runtime.json"), str(tmp_path / "app-credentials.json")
    (tmp_path / "ca.crt").write_text(CA_TEXT)
    module.CA = str(tmp_path / "ca.crt")
    module.run = Host({})
    return module


class Host:
    """The agent's ``run``: answers exactly the argv it was given (``{argv tuple: stdout}``), records each call with
    its stdin, and raises AssertionError on any other command."""

    def __init__(self, answers):
        self.answers = {tuple(k): v for k, v in answers.items()}
        self.calls = []

    def __call__(self, cmd, timeout=120, check=True, stdin=None):
        if tuple(cmd) not in self.answers:
            raise AssertionError(f"unexpected command: {cmd}")
        self.calls.append((list(cmd), stdin))
        return SimpleNamespace(returncode=0, stdout=self.answers[tuple(cmd)], stderr="")

    def argvs(self):
        return [c for c, _ in self.calls]


class ProgrammingError(Exception):
    pass


class Conn:
    """A psycopg2 connection as the agent uses it: ``with conn`` is a transaction, committed on exit (and, as
    psycopg2 2.9 does, Debian bookworm's, it cannot be entered again while inside); its cursors answer only the
    statements given (``{sql: rows}``, whitespace normalised) and raise AssertionError on any other."""

    def __init__(self, answers):
        self.answers = {" ".join(k.split()): v for k, v in answers.items()}
        self.log = []
        self.entered = False

    def __enter__(self):
        if self.entered:
            raise ProgrammingError("the connection cannot be re-entered recursively")
        self.entered = True
        return self

    def __exit__(self, exc_type, *_):
        self.entered = False
        self.log.append("commit" if exc_type is None else "rollback")

    def cursor(self):
        return Cursor(self)


class Cursor:
    def __init__(self, conn):
        self.conn, self.rows, self.description = conn, [], None

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return None

    def execute(self, sql, args=()):
        sql = " ".join(sql.split())
        if sql not in self.conn.answers:
            raise AssertionError(f"unexpected SQL: {sql}")
        self.conn.log.append((sql, args))
        rows = self.conn.answers[sql]
        self.rows = rows(args) if callable(rows) else rows
        self.description = None if self.rows is None else ("column",)

    def fetchall(self):
        return list(self.rows)

    def fetchone(self):
        return self.rows[0] if self.rows else None


def desired(agent, spec=SPEC, secrets=None, placements=("gra", "waw", "ik")):
    secrets = {"STRIPE_KEY": SECRET, "UNDECLARED": "not for this release"} if secrets is None else secrets
    part = runtime_section(
        spec=spec,
        version=secrets_version(secrets, TOKEN),
        host="shop-gra-web-1",
        placement="gra",
        label="ovh/GRA/GRA11",
        placements=list(placements),
        members=MEMBERS,
        db_hosts=list(MEMBERS),
        db_port=5432,
        dbname="shop",
    )
    secret = secret_section(
        credentials=[("shop", APP_PW)],
        migrate=("shop_migrate", MIGRATE_PW),
        write_token=TOKEN,
        secrets=secrets,
        registry_password=None,
    )
    return agent.Desired(json.loads(json.dumps(part)), secret)


def release(d, rid=7):
    return {"id": rid, "key": d.key, "spec": d.spec}


# --------------------------------------------------------------------------------------------------
# quoting: libpq's password file, systemd's command lines
# --------------------------------------------------------------------------------------------------


def pgpass_fields(line):
    """libpq's reading of a password file line: '\\' escapes the next character, ':' separates."""
    fields, cur, chars = [], "", iter(line.rstrip("\n"))
    for c in chars:
        if c == "\\":
            cur += next(chars)
        elif c == ":":
            fields, cur = fields + [cur], ""
        else:
            cur += c
    return fields + [cur]


@pytest.mark.parametrize(
    "user, password", [("shop", APP_PW), ("shop_migrate", MIGRATE_PW), ("a", "::\\\\:"), ("u", "ends with \\")]
)
def test_pgpass_line_reads_back_as_the_user_and_password(agent, user, password):
    """The password reaches libpq through the file PGPASSFILE names: a ':' or a '\\' in it must not cut it short."""
    line = agent.pgpass_line(user, password)
    assert line.endswith("\n") and line.count("\n") == 1
    assert pgpass_fields(line) == ["*", "*", "*", user, password]
    assert agent.pgpass_line("u", "a:b\\c") == "*:*:*:u:a\\:b\\\\c\n"


# --------------------------------------------------------------------------------------------------
# a slot's unit
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slot, port", [("a", 18080), ("b", 18081)])
def test_a_slots_container_runs_the_image_on_the_slots_loopback_port(agent, tmp_path, slot, port):
    """podman runs the slot's container itself (restarted by podman when it exits): the image already pulled,
    published on the loopback only (nginx is the way in), no privilege escalation, catatonit as PID 1; its run
    arguments are kept, to start it again after a reboot."""
    d = desired(agent)
    recorded = []

    def fake_run(argv, **kwargs):
        if argv == ["podman", "network", "exists", f"rs-app-{slot}"]:  # the slot's own network is there
            return SimpleNamespace(returncode=0, stdout="", stderr="")
        assert argv[:2] == ["podman", "run"], argv  # nothing else is run
        recorded.append(argv)
        return SimpleNamespace(returncode=0, stdout="", stderr="")

    agent.run = fake_run
    agent.start_container(slot, release(d), ["--env-file", "/state/a.env"])
    (words,) = recorded
    assert "--init" in words and words[words.index("--name") + 1] == f"rs-app-{slot}"
    assert words[words.index("--network") + 1] == f"rs-app-{slot}"
    assert words[words.index("--cgroups") + 1] == "disabled", "removing one container must not kill the other"
    assert words[words.index("--restart") + 1] == "on-failure"
    assert words[words.index("-p") + 1] == f"127.0.0.1:{port}:8080"
    assert words[words.index("--pull") + 1] == "never"
    assert words[words.index("--security-opt") + 1] == "no-new-privileges"
    assert words[words.index("--env-file") + 1] == "/state/a.env"
    assert words[-3:] == ["registry.example.com/shop/web:1.0.0", "serve", "--title=50% $HOME"], "the image, then CMD"
    kept = tmp_path / "state" / f"{slot}.run.json"
    assert json.loads(kept.read_text()) == words and stat.S_IMODE(kept.stat().st_mode) == 0o600


# --------------------------------------------------------------------------------------------------
# what the container gets
# --------------------------------------------------------------------------------------------------


def prepare_host(slot="a", listed=(), more=()):
    answers = {
        ("podman", "secret", "ls", "--noheading"): "".join(
            f"c08b1984c47529948ea8c6d8{i} {n} file 2 minutes ago 2 minutes ago\n" for i, n in enumerate(listed)
        )
    }
    answers.update({("podman", "secret", "rm", n): "" for n in listed if n.startswith(f"rs-app-{slot}-")})
    answers.update(
        {("podman", "secret", "create", f"rs-app-{slot}-{n}", "-"): "" for n in ("pgpass", "ca", "token", *more)}
    )
    return Host(answers)


def test_prepare_hands_over_credentials_as_podman_secrets_and_the_rest_as_an_env_file(agent, tmp_path):
    """The password and the user's secrets never sit in the environment file; the database URL names every member
    (libpq keeps the one that accepts writes); the previous secrets of the slot go, the other slot's stay."""
    agent.run = prepare_host(listed=("rs-app-a-pgpass", "rs-app-a-s-GONE", "rs-app-b-pgpass"), more=("s-STRIPE_KEY",))
    d = desired(agent)
    args = agent.prepare("a", release(d), d, d.secret["credentials"][0], 1000)

    created = {c[3]: stdin for c, stdin in agent.run.calls if c[:3] == ["podman", "secret", "create"]}
    assert created == {
        "rs-app-a-pgpass": agent.pgpass_line("shop", APP_PW),
        "rs-app-a-ca": CA_TEXT,
        "rs-app-a-s-STRIPE_KEY": SECRET,
        "rs-app-a-token": TOKEN,
    }, "only the declared secrets"
    removed = [c[3] for c in agent.run.argvs() if c[:3] == ["podman", "secret", "rm"]]
    assert removed == ["rs-app-a-pgpass", "rs-app-a-s-GONE"]

    envfile = tmp_path / "state" / "a.env"
    assert stat.S_IMODE(envfile.stat().st_mode) == 0o600
    text = envfile.read_text()
    env = dict(line.split("=", 1) for line in text.splitlines())
    assert env["DATABASE_URL"] == (
        "postgresql://shop@203.0.113.10:5432,198.51.100.20:5432,[2001:db8::30]:5432/shop"
        "?target_session_attrs=read-write&sslmode=verify-full&sslrootcert=/run/resilient-stack/ca.crt"
        "&channel_binding=require&connect_timeout=2"
    )
    assert env["PGPASSFILE"] == "/run/resilient-stack/pgpass" and env["PGUSER"] == "shop"
    assert env["PGHOST"] == "203.0.113.10,198.51.100.20,2001:db8::30" and env["PGPORT"] == "5432,5432,5432"
    assert (env["PGDATABASE"], env["PGSSLMODE"], env["PGSSLROOTCERT"]) == (
        "shop",
        "verify-full",
        "/run/resilient-stack/ca.crt",
    )
    assert env["PGTARGETSESSIONATTRS"] == "read-write" and env["PGCHANNELBINDING"] == "require"
    assert env["PORT"] == "8080" and env["APP_TITLE"] == "Shop"
    assert (env["RESILIENT_STACK_PLACEMENT"], env["RESILIENT_STACK_HOST"], env["RESILIENT_STACK_RELEASE"]) == (
        "ovh/GRA/GRA11",
        "shop-gra-web-1",
        "7",
    )
    assert "PGPASSWORD" not in env and "STRIPE_KEY" not in env and "RESILIENT_STACK_WRITE_TOKEN" not in env
    for secret in (APP_PW, MIGRATE_PW, SECRET, TOKEN, "not for this release"):
        assert secret not in text

    assert args[:2] == ["--env-file", str(envfile)]
    secrets = [v for k, v in zip(args[::2], args[1::2]) if k == "--secret"]
    assert secrets == [
        "rs-app-a-pgpass,type=mount,target=/run/resilient-stack/pgpass,uid=1000,mode=0400",
        "rs-app-a-ca,type=mount,target=/run/resilient-stack/ca.crt,mode=0444",
        "rs-app-a-s-STRIPE_KEY,type=env,target=STRIPE_KEY",
        "rs-app-a-token,type=env,target=RESILIENT_STACK_WRITE_TOKEN",
    ]


def test_prepare_for_the_release_phase_uses_the_migrate_role(agent):
    agent.run = prepare_host(slot="m", more=("s-STRIPE_KEY",))
    d = desired(agent)
    agent.prepare("m", release(d), d, d.secret["migrate"], 0)
    created = {c[3]: stdin for c, stdin in agent.run.calls if c[:3] == ["podman", "secret", "create"]}
    assert created["rs-app-m-pgpass"] == "*:*:*:shop_migrate:Migrate\\:'pw' \\\\ #4 0123\n"


def test_a_declared_secret_missing_from_the_sealed_document_fails_with_its_name(agent):
    """A spec may reach a host before its sealed secrets do (root's sync applies both): no container without them."""
    agent.run = prepare_host()
    d = desired(agent, spec=AppSpec(image=SPEC.image, secret_names=("NEW_KEY",)), secrets={})
    with pytest.raises(RuntimeError, match=r"the secrets \['NEW_KEY'\] are not in this host's sealed secrets yet"):
        agent.prepare("a", release(d), d, d.secret["credentials"][0], 1000)


def test_prepare_without_the_clusters_ca_says_so(agent, tmp_path):
    agent.run = prepare_host()
    (tmp_path / "ca.crt").unlink()
    d = desired(agent)
    with pytest.raises(RuntimeError, match="the cluster CA's certificate is missing"):
        agent.prepare("a", release(d), d, d.secret["credentials"][0], 1000)


# --------------------------------------------------------------------------------------------------
# the order of a release, and which release a host runs
# --------------------------------------------------------------------------------------------------

PRIMARY = "SELECT host(inet_server_addr())"


def test_release_placements_put_the_primarys_placement_last(agent):
    """Its hosts switch last: a bad release shows on the others before it reaches the primary's site."""
    d = desired(agent)
    assert agent.release_placements(Conn({PRIMARY: [("198.51.100.20",)]}), d) == ["gra", "ik", "waw"]
    assert agent.release_placements(Conn({PRIMARY: [("2001:db8::30",)]}), d) == ["gra", "waw", "ik"]


def test_release_placements_without_web_hosts_at_the_primary_keep_the_stacks_order(agent):
    d = desired(agent, placements=("gra", "waw"))
    assert agent.release_placements(Conn({PRIMARY: [("2001:db8::30",)]}), d) == ["gra", "waw"]
    assert agent.release_placements(Conn({PRIMARY: []}), d) == ["gra", "waw"]


def test_an_explicit_release_order_is_used_as_it_is(agent):
    d = desired(agent, spec=AppSpec(image=SPEC.image, order=("ik", "gra", "waw")))
    assert agent.release_placements(Conn({}), d) == ["ik", "gra", "waw"], "the database is not asked"


def test_a_release_is_registered_once_under_the_lock(agent):
    """Every host of a new stack registers the spec at the same time: the advisory lock, the check that no other
    host registered it and the INSERT are one transaction. The order (the primary's placement last) is read
    before it: read inside, psycopg2 2.9 (Debian bookworm's) refuses the nested ``with conn``, and no release was
    ever registered without ``release.order``."""
    s = agent.SCHEMA
    latest = f"SELECT key, kind, overrides FROM {s}.releases ORDER BY id DESC LIMIT 1"
    insert = (
        f"INSERT INTO {s}.releases (key, spec, kind, placements, created_by) "
        f"VALUES (%s, %s, 'deploy', %s, %s) RETURNING id"
    )
    conn = Conn(
        {latest: [], PRIMARY: [("203.0.113.10",)], "SELECT pg_advisory_xact_lock(%s, 0)": [(None,)], insert: [(1,)]}
    )
    agent.run = Host({("systemctl", "start", agent.SYNC_UNIT): ""})  # root's sync reads the metadata again first
    d = desired(agent)
    assert agent.register(conn, d) is d
    assert agent.run.argvs() == [["systemctl", "start", agent.SYNC_UNIT]]
    sql = [e[0] if isinstance(e, tuple) else e for e in conn.log]
    lock = sql.index("SELECT pg_advisory_xact_lock(%s, 0)")
    assert sql[lock:] == ["SELECT pg_advisory_xact_lock(%s, 0)", latest, insert, "commit"]
    (args,) = [e[1] for e in conn.log if isinstance(e, tuple) and e[0] == insert]
    assert args[0] == d.key and json.loads(args[1]) == d.spec and args[3] == "shop-gra-web-1"
    assert json.loads(args[2]) == ["waw", "ik", "gra"]


def test_a_rollback_is_registered_under_the_lock_too(agent):
    s = agent.SCHEMA
    insert = (
        f"INSERT INTO {s}.releases (key, spec, kind, overrides, rollback_of, placements, created_by) "
        f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id"
    )
    conn = Conn({PRIMARY: [("203.0.113.10",)], "SELECT pg_advisory_xact_lock(%s, 0)": [(None,)], insert: [(9,)]})
    d = desired(agent)
    assert agent.insert_again(conn, d, {"key": "key-3", "spec": {"image": "x"}}, "rollback", rollback_of=3) == 9
    sql = [e[0] if isinstance(e, tuple) else e for e in conn.log]
    assert sql[-3:] == ["SELECT pg_advisory_xact_lock(%s, 0)", insert, "commit"]
    (args,) = [e[1] for e in conn.log if isinstance(e, tuple) and e[0] == insert]
    assert args[0] == "key-3" and args[2:5] == ("rollback", d.key, 3) and json.loads(args[5]) == ["waw", "ik", "gra"]


RELEASES = (
    "SELECT id, key, spec, kind, overrides, rollback_of, placements, created_at, created_by, migrated_at, "
    "migrated_by, migrate_output, state, error, finished_at FROM resilient_stack.releases ORDER BY id DESC "
    "LIMIT %s"
)


def releases_conn(*states):
    """The release log, newest first: release N (ids counting down) in each state."""
    rows = [
        (
            len(states) - i,
            f"key-{len(states) - i}",
            {},
            "deploy",
            None,
            None,
            [],
            None,
            "h",
            None,
            None,
            None,
            state,
            None,
            None,
        )
        for i, state in enumerate(states)
    ]
    return Conn({RELEASES: rows})


@pytest.mark.parametrize(
    "states, current, want",
    [
        ((), {}, None),
        (("releasing", "done"), {"key": "key-1"}, 2),  # the newest, whatever this host runs
        (("done", "done"), {}, 2),
        (("failed", "done"), {"key": "key-1"}, None),  # after a failed release a host keeps what it serves
        (("failed", "failed", "done"), {}, 1),  # a host serving nothing starts the newest release every host took
        (("failed",), {}, 1),  # nothing else: the failed one (which the agent then leaves alone)
    ],
)
def test_target_of(agent, states, current, want):
    """A failed release stops where it failed: the hosts that serve keep serving, a new host starts what works."""
    target = agent.target_of(releases_conn(*states), current)
    assert (target and target["id"]) == want


# --------------------------------------------------------------------------------------------------
# the health check
# --------------------------------------------------------------------------------------------------


def unit_host(state="running", restarts=0, journal="the app's last words"):
    inspect = json.dumps([{"State": {"Status": state}, "RestartCount": restarts}])
    return Host(
        {
            ("podman", "container", "inspect", "rs-app-a"): inspect,
            ("journalctl", "CONTAINER_NAME=rs-app-a", "-n", "8", "--no-pager", "-o", "cat"): journal,
        }
    )


@pytest.mark.parametrize("state, restarts", [("running", 1), ("running", 3), ("exited", 0)])
def test_a_container_that_exited_fails_at_once_with_its_journal(agent, state, restarts):
    """podman restarts a crashing container (--restart on-failure): a restart means it crashed, no need to wait."""
    agent.run = unit_host(state, restarts, "Traceback ...\nKeyError: 'DATABASE_URL'\n")
    agent.SLOTS = {"a": 9, "b": 9}  # nothing is asked over HTTP
    started = time.monotonic()
    why = agent.healthy("a", {"health_path": "/healthz", "health_timeout": 120})
    assert time.monotonic() - started < 5
    assert why.startswith(f"the container exited ({state}, restarted {restarts} times): ")
    assert why.endswith("KeyError: 'DATABASE_URL'")


@pytest.fixture
def app_server():
    """A local HTTP server standing in for the container: ``answers[path] = (status, headers)``."""
    answers = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            status, headers = answers.get(self.path, (404, {}))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(port=server.server_address[1], answers=answers)
    server.shutdown()
    server.server_close()


def test_a_healthy_answer_passes(agent, app_server):
    app_server.answers["/up?full=1"] = (204, {})
    agent.SLOTS = {"a": app_server.port, "b": 9}
    agent.run = unit_host()
    assert agent.healthy("a", {"health_path": "/up?full=1", "health_timeout": 5}) is None


def test_a_redirect_is_a_healthy_answer(agent, app_server):
    """2xx or 3xx (docs/application.md): an application that sends plain HTTP to https:// (as many frameworks do
    behind a proxy) answers its health check; the agent does not follow it elsewhere."""
    app_server.answers["/healthz"] = (301, {"Location": "https://127.0.0.1:9/healthz"})
    agent.SLOTS = {"a": app_server.port, "b": 9}
    agent.run = unit_host()
    assert agent.healthy("a", {"health_path": "/healthz", "health_timeout": 3}) is None


def test_an_unhealthy_answer_fails_after_the_timeout_with_the_last_status_and_the_journal(agent, app_server):
    app_server.answers["/healthz"] = (503, {})
    agent.SLOTS = {"a": app_server.port, "b": 9}
    agent.run = unit_host(journal="database unreachable")
    why = agent.healthy("a", {"health_path": "/healthz", "health_timeout": 1})
    assert why == "no healthy answer from /healthz within 1 s (last: HTTP 503): database unreachable"
