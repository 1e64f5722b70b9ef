#!/usr/bin/python3
"""resilient-stack-app -- the application on this web host, and its releases across the stack's web hosts.

Usage (as root):
  resilient-stack-app agent            the service (resilient-stack-app-agent): keeps this host on its release
  resilient-stack-app status [--json]  the releases (newest first) and what each web host did with them
  resilient-stack-app rollback [--to ID]
                                       release the previous release that every host took (or release ID) again,
                                       with the same gates; it stands until the stack's spec changes
  resilient-stack-app retry            release the stack's spec again after a failed release
  resilient-stack-app logs [JOURNALCTL-ARGS...]   the application's output on this host (e.g. --since -1h)
  resilient-stack-app exec COMMAND...  run COMMAND in this host's application container

The release log lives in the application's database (schema resilient_stack, written with the release phase's
role): releases (the spec of each, how it ended), hosts (every web host's heartbeat and what it runs) and
host_releases (when each host switched, or why it failed). Debian's python3 and python3-psycopg2; podman.
Managed by resilient_stack (cloud-init).
"""

import base64
import datetime
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request

STATE = "{{runtime_config}}"  # the runtime document root's sync keeps (the "app" part: the spec)
CREDENTIALS = "{{credentials}}"  # the sealed document's "app" part (credentials, secrets), 0600 root
STATE_DIR = "{{state_dir}}"
UPSTREAM = "{{upstream}}"
CA = "{{ca_cert}}"
SLOTS = {"a": {{port_a}}, "b": {{port_b}}}
UPSTREAMS = {{upstreams}}  # nginx's upstream for each slot (resilient_stack.hosts.app.upstream_conf)
PGPASS_MOUNT = "{{pgpass_mount}}"
CA_MOUNT = "{{ca_mount}}"
CURRENT = os.path.join(STATE_DIR, "current.json")
AUTHFILE = os.path.join(STATE_DIR, "auth.json")
SCHEMA = "resilient_stack"
ALIVE_S = 60  # a host that has not said a word for this long does not hold a release up
LOCK = 0x72736170  # the advisory lock's first key ("rsap", an int4); the second is the release id (0: the log itself)
PULL_TIMEOUT = 900
SYNC_UNIT = "{{sync_unit}}"  # root's sync (it reads the metadata): run at once when this host's copy may lag
FRESH_EVERY_S = 30
_fetched = -FRESH_EVERY_S  # when root's sync last ran at this agent's request (time.monotonic())
MIGRATE_TIMEOUT = 1800
SESSION = {"connect_timeout": "2", "tcp_user_timeout": "5000", "keepalives": "1", "keepalives_idle": "5",
           "keepalives_interval": "2", "keepalives_count": "2", "options": "-c statement_timeout=30000"}
SQL_SCHEMA = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.releases (
    id bigserial PRIMARY KEY, key text NOT NULL, spec jsonb NOT NULL, kind text NOT NULL,
    overrides text, rollback_of bigint, placements jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), created_by text NOT NULL,
    migrated_at timestamptz, migrated_by text, migrate_output text,
    state text NOT NULL DEFAULT 'releasing', error text, finished_at timestamptz);
CREATE TABLE IF NOT EXISTS {SCHEMA}.hosts (
    name text PRIMARY KEY, placement text NOT NULL, seen_at timestamptz NOT NULL, release_id bigint, key text);
CREATE TABLE IF NOT EXISTS {SCHEMA}.host_releases (
    release_id bigint NOT NULL REFERENCES {SCHEMA}.releases, host text NOT NULL, placement text NOT NULL,
    state text NOT NULL, started_at timestamptz NOT NULL DEFAULT now(), switched_at timestamptz, error text,
    PRIMARY KEY (release_id, host));
"""


def say(msg):
    print(f"resilient-stack-app: {msg}", flush=True)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def read_json(path, default=None):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def write_private(path, text, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def run(cmd, timeout=120, check=True, stdin=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd[:3])}... exited {proc.returncode}: {tail(proc.stderr or proc.stdout)}")
    return proc


def tail(text, n=600):
    text = " ".join(str(text).split())
    return text[-n:]


# --------------------------------------------------------------------------------------------------
# What this host should run
# --------------------------------------------------------------------------------------------------


class Desired:
    """The runtime document's application part and the sealed secrets' (None without an application)."""

    def __init__(self, app, secret):
        self.app, self.secret = app, secret
        self.spec, self.key, self.host = app["spec"], app["key"], app["host"]
        self.placement = app["placement"]

    @classmethod
    def load(cls):
        app = (read_json(STATE, {}) or {}).get("app")
        secret = read_json(CREDENTIALS, {}) or {}
        if not app or not secret.get("credentials"):
            return None
        return cls(app, secret)

    def local_version(self):
        """What a release does not change and the container still depends on: the database credentials and the
        cluster's CA. When they change (a rotation) this host replaces its container by itself."""
        try:
            with open(CA, encoding="utf-8") as f:
                ca = f.read()
        except OSError:
            ca = ""
        text = json.dumps([self.secret["credentials"][0], ca], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def logs_in(self):
        """Whether the application's current credentials log in to the primary: after a rotation, the new password
        works once the primary's sync set it; until then the running container (the previous one) stays."""
        try:
            self.connect(self.secret["credentials"][0]).close()
            return True
        except Exception as exc:  # noqa: BLE001 - psycopg2's errors: not yet, the next pass tries again
            say(f"the new database credentials do not log in yet: {tail(exc, 200)}")
            return False

    def connect(self, who=None):
        import psycopg2

        db, who = self.app["database"], who or self.secret["migrate"]
        return psycopg2.connect(
            host=",".join(db["hosts"]), port=",".join(str(db["port"]) for _ in db["hosts"]), dbname=db["dbname"],
            user=who["user"], password=who["password"], sslmode="verify-full", sslrootcert=CA,
            channel_binding="require", target_session_attrs="read-write", application_name=f"release:{self.host}",
            **SESSION)


# --------------------------------------------------------------------------------------------------
# The release log
# --------------------------------------------------------------------------------------------------


def query(conn, sql, args=(), one=False):
    with conn, conn.cursor() as cur:
        cur.execute(sql, args)
        rows = cur.fetchall() if cur.description else []
    return (rows[0] if rows else None) if one else rows


def ensure_schema(conn):
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK,))
        cur.execute(SQL_SCHEMA)


RELEASE_COLUMNS = ("id", "key", "spec", "kind", "overrides", "rollback_of", "placements", "created_at", "created_by",
                   "migrated_at", "migrated_by", "migrate_output", "state", "error", "finished_at")


def releases(conn, limit=20):
    rows = query(conn, f"SELECT {', '.join(RELEASE_COLUMNS)} FROM {SCHEMA}.releases ORDER BY id DESC LIMIT %s",
                 (limit,))
    return [dict(zip(RELEASE_COLUMNS, r)) for r in rows]


def primary_placement(conn, desired):
    address = query(conn, "SELECT host(inet_server_addr())", one=True)
    return desired.app["members"].get(address[0]) if address else None


def release_placements(conn, desired):
    """The placements in the order a release goes through them."""
    if desired.app["order"]:
        return list(desired.app["order"])
    primary = primary_placement(conn, desired)
    placements = list(desired.app["placements"])
    return [p for p in placements if p != primary] + ([primary] if primary in placements else [])


def latest_release(conn):
    return query(conn, f"SELECT key, kind, overrides FROM {SCHEMA}.releases ORDER BY id DESC LIMIT 1", one=True)


def stands(latest, desired):
    """Whether the newest release is the stack's spec, or a rollback that stands in for it."""
    return bool(latest) and (latest[0] == desired.key or (latest[1] == "rollback" and latest[2] == desired.key))


def fresh(desired):
    """This host's spec read again after root's sync fetched the metadata now (it does every few minutes): a host
    whose copy lags behind the stack's must not register an older spec as a new release. At most every
    FRESH_EVERY_S seconds; ``desired`` when the sync cannot run."""
    global _fetched
    if time.monotonic() - _fetched < FRESH_EVERY_S:
        return desired
    _fetched = time.monotonic()
    run(["systemctl", "start", SYNC_UNIT], check=False, timeout=180)
    return Desired.load() or desired


def register(conn, desired):
    """The stack's spec as a release, once: unless the newest release is already it, or a rollback that stands in
    for it (until the spec changes again). Before registering, the metadata is read again: a spec another host
    registered may be the newer one (this host's copy lagged), then this host takes that one. Returns the spec
    this host works with."""
    if stands(latest_release(conn), desired):
        return desired
    desired = fresh(desired)
    placements = release_placements(conn, desired)  # its own transaction: inside the lock's, it would end that one
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK,))
        cur.execute(f"SELECT key, kind, overrides FROM {SCHEMA}.releases ORDER BY id DESC LIMIT 1")
        latest = cur.fetchone()
        if stands(latest, desired):
            return desired
        cur.execute(f"INSERT INTO {SCHEMA}.releases (key, spec, kind, placements, created_by) "
                    f"VALUES (%s, %s, 'deploy', %s, %s) RETURNING id",
                    (desired.key, json.dumps(desired.spec), json.dumps(placements), desired.host))
        rid = cur.fetchone()[0]
    say(f"release {rid} registered: {desired.spec['image']}")
    return desired


def insert_again(conn, desired, source, kind, rollback_of=None):
    """Release ``source``'s spec again (a rollback, a retry)."""
    placements = release_placements(conn, desired)  # before the lock's transaction (see register)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK,))
        cur.execute(f"INSERT INTO {SCHEMA}.releases (key, spec, kind, overrides, rollback_of, placements, created_by) "
                    f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (source["key"], json.dumps(source["spec"]), kind, desired.key if kind == "rollback" else None,
                     rollback_of, json.dumps(placements), desired.host))
        return cur.fetchone()[0]


def heartbeat(conn, desired, current):
    query(conn, f"INSERT INTO {SCHEMA}.hosts (name, placement, seen_at, release_id, key) VALUES (%s, %s, now(), %s, %s) "
                f"ON CONFLICT (name) DO UPDATE SET placement = EXCLUDED.placement, seen_at = now(), "
                f"release_id = EXCLUDED.release_id, key = EXCLUDED.key",
          (desired.host, desired.placement, current.get("release"), current.get("key")))


def record(conn, release, desired, state, error=None, switched=False):
    query(conn, f"INSERT INTO {SCHEMA}.host_releases (release_id, host, placement, state, error, switched_at) "
                f"VALUES (%s, %s, %s, %s, %s, CASE WHEN %s THEN now() END) ON CONFLICT (release_id, host) DO UPDATE "
                f"SET state = EXCLUDED.state, error = EXCLUDED.error, "
                f"switched_at = coalesce(EXCLUDED.switched_at, {SCHEMA}.host_releases.switched_at)",
          (release["id"], desired.host, desired.placement, state, error, switched))
    if state == "failed":
        query(conn, f"UPDATE {SCHEMA}.releases SET state = 'failed', error = %s, finished_at = now() "
                    f"WHERE id = %s AND state = 'releasing'", (f"{desired.host}: {error}", release["id"]))


def finish_if_complete(conn, release):
    """A release every living host took is done."""
    pending = query(conn, f"SELECT count(*) FROM {SCHEMA}.hosts h WHERE h.seen_at > now() - interval '{ALIVE_S} s' "
                          f"AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.host_releases r WHERE r.release_id = %s "
                          f"AND r.host = h.name AND r.state = 'done')", (release["id"],), one=True)[0]
    if pending == 0:
        query(conn, f"UPDATE {SCHEMA}.releases SET state = 'done', finished_at = now() "
                    f"WHERE id = %s AND state = 'releasing'", (release["id"],))


def my_turn(conn, release, desired):
    """Whether every living host before this one (in the release's placement order, then by name) took it."""
    order = release["placements"]

    def rank(placement, name):
        return (order.index(placement) if placement in order else len(order), name)

    mine = rank(desired.placement, desired.host)
    rows = query(conn, f"SELECT h.name, h.placement, r.state FROM {SCHEMA}.hosts h LEFT JOIN {SCHEMA}.host_releases r "
                       f"ON r.release_id = %s AND r.host = h.name WHERE h.seen_at > now() - interval '{ALIVE_S} s'",
                 (release["id"],))
    return all(state == "done" for name, placement, state in rows if rank(placement, name) < mine)


# --------------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------------


# No cgroup of the containers' own: where the host's systemd cannot delegate them (the drill's nested podman on a
# cgroup v1 machine), removing one container killed every other one (measured: the serving slot restarted, 502s, at
# each release; reproduced with two containers of the example image). The containers run in the agent's.
NO_CGROUPS = ["--cgroups", "disabled"]


def container_name(slot):
    return f"rs-app-{slot}"


def pull(spec, secret):
    args = ["podman", "pull", "--quiet"]
    if secret.get("registry_password") and spec.get("registry_user"):
        token = base64.b64encode(f"{spec['registry_user']}:{secret['registry_password']}".encode()).decode()
        write_private(AUTHFILE, json.dumps({"auths": {spec["registry"]: {"auth": token}}}))
        args += ["--authfile", AUTHFILE]
    run([*args, spec["image"]], timeout=PULL_TIMEOUT)


def image_uid(image):
    """The uid the image runs as (its USER; a name is looked up in the image's /etc/passwd): the owner of the
    password file, which libpq reads only when it is private (0600)."""
    info = json.loads(run(["podman", "image", "inspect", image]).stdout)[0]
    user = ((info.get("Config") or {}).get("User") or "0").split(":")[0]
    if user.isdigit():
        return int(user)
    root = run(["podman", "image", "mount", image]).stdout.strip()
    try:
        with open(os.path.join(root, "etc/passwd"), encoding="utf-8") as f:
            for line in f:
                fields = line.split(":")
                if fields[0] == user:
                    return int(fields[2])
    finally:
        run(["podman", "image", "unmount", image], check=False)
    raise RuntimeError(f"the image's user {user!r} is not in its /etc/passwd")


def pgpass_line(user, password):
    esc = lambda s: s.replace("\\", "\\\\").replace(":", "\\:")  # noqa: E731
    return f"*:*:*:{esc(user)}:{esc(password)}\n"


def prepare(slot, release, desired, who, uid):
    """The podman secrets and the environment file of a container of ``release`` (``who``: its database user)."""
    prefix = f"rs-app-{slot}-"
    # podman 4.3's `secret ls` has no --format json (it prints the word): its table, the name second (ID NAME ...)
    listed = run(["podman", "secret", "ls", "--noheading"]).stdout.splitlines()
    for name in [line.split()[1] for line in listed if len(line.split()) > 1]:
        if name.startswith(prefix):
            run(["podman", "secret", "rm", name])
    try:
        with open(CA, encoding="utf-8") as f:
            ca = f.read()
    except OSError as exc:
        raise RuntimeError(f"the cluster CA's certificate is missing: {exc}") from None
    values = {"pgpass": pgpass_line(who["user"], who["password"]), "ca": ca,
              **{f"s-{k}": v for k, v in desired.secret.get("secrets", {}).items() if k in release["spec"]["secrets"]}}
    token = desired.secret.get("write_token")
    if token:
        values["token"] = token
    for name, value in values.items():
        run(["podman", "secret", "create", prefix + name, "-"], stdin=value)
    missing = [k for k in release["spec"]["secrets"] if k not in desired.secret.get("secrets", {})]
    if missing:
        raise RuntimeError(f"the secrets {missing} are not in this host's sealed secrets yet")
    db = desired.app["database"]
    hosts = ",".join(f"[{h}]:{db['port']}" if ":" in h else f"{h}:{db['port']}" for h in db["hosts"])
    env = {**release["spec"]["env"],
           "PORT": str(release["spec"]["port"]),
           "DATABASE_URL": f"postgresql://{who['user']}@{hosts}/{db['dbname']}?target_session_attrs=read-write"
                           f"&sslmode=verify-full&sslrootcert={CA_MOUNT}&channel_binding=require&connect_timeout=2",
           "PGPASSFILE": PGPASS_MOUNT, "PGHOST": ",".join(db["hosts"]),
           "PGPORT": ",".join(str(db["port"]) for _ in db["hosts"]), "PGDATABASE": db["dbname"], "PGUSER": who["user"],
           "PGSSLROOTCERT": CA_MOUNT, "PGSSLMODE": "verify-full", "PGTARGETSESSIONATTRS": "read-write",
           "PGCHANNELBINDING": "require", "PGCONNECT_TIMEOUT": "2",
           "RESILIENT_STACK_PLACEMENT": desired.app["label"], "RESILIENT_STACK_HOST": desired.host,
           "RESILIENT_STACK_RELEASE": str(release["id"])}
    envfile = os.path.join(STATE_DIR, f"{slot}.env")
    write_private(envfile, "".join(f"{k}={v}\n" for k, v in sorted(env.items())))
    args = ["--env-file", envfile,
            "--secret", f"{prefix}pgpass,type=mount,target={PGPASS_MOUNT},uid={uid},mode=0400",
            "--secret", f"{prefix}ca,type=mount,target={CA_MOUNT},mode=0444"]
    args += [a for k in release["spec"]["secrets"] for a in ("--secret", f"{prefix}s-{k},type=env,target={k}")]
    if token:
        args += ["--secret", f"{prefix}token,type=env,target=RESILIENT_STACK_WRITE_TOKEN"]
    return args


def start_container(slot, release, args):
    """The slot's container, run by podman itself (not a systemd unit per slot: in the drill's nested podman,
    systemd has no cgroups of its own and stopping one slot's unit killed the other's), restarted by podman when it
    exits, and by the agent after a reboot (:func:`ensure_running`). Its run arguments are kept in the state."""
    spec = release["spec"]
    # a network per slot: in the drill's nested podman, tearing down one container's network on the shared bridge
    # took the other slot's down with it (its connections refused, then the container restarted)
    network = f"rs-app-{slot}"
    if run(["podman", "network", "exists", network], check=False).returncode != 0:
        run(["podman", "network", "create", network])
    # --init: catatonit is the container's PID 1 and passes SIGTERM on (an application that does not handle it would
    # otherwise run until the stop timeout's SIGKILL)
    argv = ["podman", "run", "--init", "-d", "--replace", "--name", container_name(slot), "--network", network,
            *NO_CGROUPS, "--pull", "never",
            "--restart", "on-failure", "--log-driver", "journald", "--log-opt", "tag=rs-app",
            "--label", f"resilient-stack.release={release['id']}", "--security-opt", "no-new-privileges",
            "-p", f"127.0.0.1:{SLOTS[slot]}:{spec['port']}", *args, spec["image"], *spec["command"]]
    write_private(os.path.join(STATE_DIR, f"{slot}.run.json"), json.dumps(argv))
    run(argv, timeout=360)


def container_state(slot):
    """``(status, restarts)`` of the slot's container (``("missing", 0)`` without one)."""
    proc = run(["podman", "container", "inspect", container_name(slot)], check=False)
    if proc.returncode != 0:
        return "missing", 0
    info = json.loads(proc.stdout)[0]
    return info["State"]["Status"], int(info.get("RestartCount") or 0)


def ensure_running(current):
    """After a reboot (or a crash podman gave up on), the current slot's container again, as it was run."""
    slot = current.get("slot")
    if not slot or container_state(slot)[0] == "running":
        return
    argv = read_json(os.path.join(STATE_DIR, f"{slot}.run.json"))
    if argv:
        say(f"the application's container ({container_name(slot)}) is not running: started again")
        run(argv, check=False, timeout=360)


class _Answer(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is the application's answer (healthy), not a place to go


_HEALTH = urllib.request.build_opener(_Answer)


def healthy(slot, spec):
    """Wait for the slot's health check (2xx or 3xx), or say why not."""
    url = f"http://127.0.0.1:{SLOTS[slot]}{spec['health_path']}"
    deadline = time.monotonic() + spec["health_timeout"]
    last = "no answer"
    while time.monotonic() < deadline:
        state, restarts = container_state(slot)
        if state in ("exited", "stopped", "missing") or restarts > 0:
            return f"the container exited ({state}, restarted {restarts} times): {journal(slot)}"
        try:
            with _HEALTH.open(url, timeout=5) as resp:
                if resp.status < 400:
                    return None
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            if exc.code < 400:
                return None
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(1)
    return f"no healthy answer from {spec['health_path']} within {spec['health_timeout']} s (last: {last}): " \
           f"{journal(slot)}"


def journal(slot):
    out = run(["journalctl", f"CONTAINER_NAME={container_name(slot)}", "-n", "8", "--no-pager", "-o", "cat"],
              check=False).stdout
    return tail(out, 400)


def stop(slot):
    """The slot's container stopped (SIGTERM, then after 30 s SIGKILL) and removed."""
    run(["podman", "stop", "--ignore", "-t", "30", container_name(slot)], check=False, timeout=120)
    run(["podman", "rm", "-f", "--ignore", container_name(slot)], check=False, timeout=120)


def switch(release, desired, current):
    """Start ``release`` in the other slot, wait for its health check, send the visitors to it, then stop the
    previous one after the drain. None when it serves, else why it failed (the previous one still serves)."""
    slot = "b" if current.get("slot") == "a" else "a"
    spec = release["spec"]
    try:
        pull(spec, desired.secret)
        uid = image_uid(spec["image"])
        start_container(slot, release, prepare(slot, release, desired, desired.secret["credentials"][0], uid))
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        stop(slot)
        return str(exc)
    why = healthy(slot, spec)
    if why:
        stop(slot)
        return why
    previous = current.get("slot")
    with open(UPSTREAM, encoding="utf-8") as f:
        before = f.read()
    write_private(UPSTREAM, UPSTREAMS[slot], 0o644)
    check = run(["nginx", "-t", "-q"], check=False)
    if check.returncode != 0:
        write_private(UPSTREAM, before, 0o644)
        stop(slot)
        return f"nginx refused the new upstream: {tail(check.stderr)}"
    run(["systemctl", "reload", "nginx"])
    save_current({"slot": slot, "release": release["id"], "key": release["key"],
                  "local": desired.local_version(), "image": spec["image"]})
    if previous and previous != slot:
        time.sleep(spec["drain_seconds"])  # requests the previous version holds finish
        stop(previous)
    return None


def save_current(doc):
    write_private(CURRENT, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def migrate(conn, release, desired):
    """The release phase, once per release on one host: True when done (here or elsewhere), False while another host
    runs it; a failure fails the release."""
    if not release["spec"]["migrate"] or release["migrated_at"] is not None or release["kind"] == "rollback":
        return True  # a rollback returns to code that ran on the schema as it is: its migration does not run again
    lock = desired.connect()
    try:
        got = query(lock, "SELECT pg_try_advisory_lock(%s, %s)", (LOCK, release["id"]), one=True)[0]
        if not got:
            return False
        row = query(lock, f"SELECT migrated_at, state FROM {SCHEMA}.releases WHERE id = %s", (release["id"],), one=True)
        if row[0] is not None or row[1] != "releasing":
            return True
        say(f"release {release['id']}: the release phase ({shlex.join(release['spec']['migrate'])})")
        output, error = run_migration(release, desired)
        if error:
            query(lock, f"UPDATE {SCHEMA}.releases SET state = 'failed', error = %s, migrate_output = %s, "
                        f"finished_at = now() WHERE id = %s", (f"the release phase failed on {desired.host}: {error}",
                                                              output, release["id"]))
            say(f"release {release['id']}: the release phase failed: {error}")
            return True
        query(lock, f"UPDATE {SCHEMA}.releases SET migrated_at = now(), migrated_by = %s, migrate_output = %s "
                    f"WHERE id = %s", (desired.host, output, release["id"]))
        return True
    finally:
        lock.close()


def run_migration(release, desired):
    spec = release["spec"]
    try:
        pull(spec, desired.secret)
        uid = image_uid(spec["image"])
        args = prepare("m", release, desired, desired.secret["migrate"], uid)
        proc = run(["podman", "run", "--init", *NO_CGROUPS, "--rm", "--name", "rs-app-migrate", "--replace", "--pull", "never",
                    "--security-opt", "no-new-privileges", *args, spec["image"], *spec["migrate"]],
                   timeout=MIGRATE_TIMEOUT, check=False)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return "", str(exc)
    output = tail(proc.stdout + proc.stderr, 2000)
    return output, (f"exit {proc.returncode}: {tail(proc.stderr or proc.stdout, 300)}" if proc.returncode else None)


# --------------------------------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------------------------------


def target_of(conn, current):
    """The release this host should run: the newest; after a failed one, what it runs (nothing running: the newest
    one every host took, else the newest)."""
    rows = releases(conn, 50)
    if not rows:
        return None
    newest = rows[0]
    if newest["state"] != "failed":
        return newest
    if current.get("key"):
        return None
    return next((r for r in rows if r["state"] == "done"), newest)


def step(conn, desired):
    """One pass; True when a release is under way (the next pass comes sooner)."""
    current = read_json(CURRENT, {}) or {}
    ensure_running(current)
    heartbeat(conn, desired, current)
    desired = register(conn, desired)
    release = target_of(conn, current)
    if release is None:
        return False
    if current.get("key") == release["key"]:
        if current.get("release") != release["id"]:
            record(conn, release, desired, "done", switched=False)
            save_current({**current, "release": release["id"]})
        elif current.get("local") != desired.local_version() and desired.logs_in():
            say("the database credentials or the CA changed: the container is replaced")
            why = switch(release, desired, current)
            if why:
                say(f"the replacement failed, the running one stays: {why}")
        finish_if_complete(conn, release)
        return False
    if release["state"] == "failed":
        return False
    if not migrate(conn, release, desired):
        return True  # another host runs the release phase
    release = next(r for r in releases(conn, 50) if r["id"] == release["id"])
    if release["state"] == "failed":
        return False
    if current.get("key") and not my_turn(conn, release, desired):
        return True
    record(conn, release, desired, "switching")
    say(f"release {release['id']}: switching to {release['spec']['image']}")
    why = switch(release, desired, current)
    if why:
        record(conn, release, desired, "failed", error=why)
        say(f"release {release['id']} failed here, the previous version still serves: {why}")
        return False
    record(conn, release, desired, "done", switched=True)
    heartbeat(conn, desired, read_json(CURRENT, {}) or {})
    finish_if_complete(conn, release)
    say(f"release {release['id']}: serving {release['spec']['image']}")
    return True


def agent():
    conn = None
    while True:
        busy = False
        try:
            desired = Desired.load()
            if desired is not None:
                if conn is None or conn.closed:
                    conn = desired.connect()
                    ensure_schema(conn)
                busy = step(conn, desired)
        except Exception as exc:  # noqa: BLE001 - the agent outlives any one failure
            say(f"{type(exc).__name__}: {tail(exc, 300)}")
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
            conn = None
        time.sleep(2 if busy else 10)


# The operator's commands and the entry point: web/release_commands.py, appended to this file (one script).
