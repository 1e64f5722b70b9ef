"""Boot a web host and a PostgreSQL primary + replica in podman with the EXACT user-data rendered by
resilient_stack.hosts.cloudinit, check each with the shipped host checks (resilient_stack.hosts.checks), replicate a row, and fail
over with the shipped promote helper.

Needs podman and the image localhost/resilient-stack-host:bookworm-3 (built when absent by
scripts/build-host-image.sh, as root). When they are unavailable the tests are skipped, or FAIL when
RESILIENT_STACK_REQUIRE_TOOLS=1. Every container and network is removed afterwards (also on Ctrl-C and
SIGTERM); RESILIENT_STACK_KEEP_HOSTS=1 keeps them for debugging.

    sudo scripts/build-host-image.sh            # once, ~2 min
    pytest -m podman tests/integration/podman -v            # ~2 min

Backups are exercised for real when the test environment has ``moto[server]`` (a test dependency): a
fourth container serves moto's S3 API behind nginx TLS (Debian snakeoil certificate), the database
hosts get a BackupTarget pointing at it, and the checks require WAL archiving, a first full backup in the
repository and, after failover, archiving from the promoted replica. moto's site-packages directory is
mounted read-only into that container (same Python 3.11 ABI as Debian bookworm's python3), so the
container fetches nothing. Without moto the stack boots without backups and the backup test is skipped
(or FAILS with RESILIENT_STACK_REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from resilient_stack.hosts import cloudinit as ci
from resilient_stack.testing import podman

REPO = Path(__file__).resolve().parents[3]
REQUIRE_TOOLS = os.environ.get("RESILIENT_STACK_REQUIRE_TOOLS") == "1"
BOOT_TIMEOUT = float(os.environ.get("RESILIENT_STACK_BOOT_TIMEOUT", "300"))
PLACEMENT = "ovh/GRA/GRA11 (podman)"
APP_TITLE = "Resilient Stack drill"


def _missing(msg: str) -> None:
    if REQUIRE_TOOLS:
        pytest.fail(f"{msg} (RESILIENT_STACK_REQUIRE_TOOLS=1)", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def image() -> str:
    if not podman.podman_available():
        _missing("podman is not available: run `sudo scripts/build-host-image.sh`")
    try:
        return podman.ensure_image()
    except podman.PodmanUnavailable as exc:
        _missing(str(exc))
        raise  # unreachable


def _moto_site() -> tuple[Path | None, str]:
    """The site-packages directory holding moto (to mount into the S3 stand-in), or why not."""
    if sys.version_info[:2] != (3, 11):
        return None, f"the S3 stand-in mounts this Python's packages into Debian's python3.11, not {sys.version_info[:2]}"
    spec = importlib.util.find_spec("moto")
    if spec is None or not spec.origin or importlib.util.find_spec("flask") is None:
        return None, "moto[server] is not installed in the test environment (pip install 'moto[server]')"
    return Path(spec.origin).resolve().parent.parent, ""


S3_BUCKET = "rs-backups"

# Test-only user-data of the S3 stand-in (not a product role): moto on 127.0.0.1:5000 behind nginx TLS.
S3_USER_DATA = """#cloud-config
package_update: false
write_files:
- path: /etc/systemd/system/moto.service
  content: |
    [Unit]
    Description=moto S3 stand-in
    [Service]
    Environment=PYTHONPATH=/opt/site
    ExecStart=/usr/bin/python3 -m moto.server -H 127.0.0.1 -p 5000
- path: /etc/nginx/sites-available/s3
  content: |
    server {
        listen 443 ssl default_server;
        ssl_certificate /etc/ssl/certs/ssl-cert-snakeoil.pem;
        ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;
        client_max_body_size 0;
        location / {
            proxy_pass http://127.0.0.1:5000;
            proxy_set_header Host $host;
            proxy_http_version 1.1;
            proxy_request_buffering off;
        }
    }
runcmd:
- set -eu
- [rm, -f, /etc/nginx/sites-enabled/default]
- [ln, -sfn, /etc/nginx/sites-available/s3, /etc/nginx/sites-enabled/s3]
- [systemctl, daemon-reload]
- [systemctl, start, moto.service]
- [systemctl, restart, nginx]
- for i in $(seq 1 60); do curl -fsS -o /dev/null http://127.0.0.1:5000/ && break; sleep 1; done
- [curl, -kfsS, -X, PUT, "https://127.0.0.1/%s"]
""" % S3_BUCKET


@pytest.fixture(scope="module")
def stack(image):
    repl_pw = "repl-" + secrets.token_urlsafe(18)
    app_pw = "app-" + secrets.token_urlsafe(18)
    moto_site, no_backup_reason = _moto_site()
    with podman.Session(image=image) as s:
        net = s.create_network()
        assert net.subnet, "podman picked no subnet"
        backup = None
        hosts = {}
        if moto_site is not None:
            hosts["s3"] = s.boot("s3", S3_USER_DATA, network=net, extra_args=["-v", f"{moto_site}:/opt/site:ro"])
            backup = ci.BackupTarget(
                endpoint=hosts["s3"].name, bucket=S3_BUCKET, region="us-east-1", key_id="resilient-stack",
                key_secret="s3-" + secrets.token_urlsafe(12), uri_style="path", verify_tls=False,
            )
        hosts["web"] = s.boot("web", ci.render_web(placement_label=PLACEMENT, app_title=APP_TITLE),
                              network=net, publish=[(0, 80)])
        hosts["primary"] = s.boot("db1", ci.render_db_primary(
            replication_password=repl_pw, app_password=app_pw, allowed_cidrs=[net.subnet], backup=backup),
            network=net)
        hosts["replica"] = s.boot("db2", ci.render_db_replica(
            primary_host=hosts["primary"].name, replication_password=repl_pw, allowed_cidrs=[net.subnet],
            backup=backup, wait_interval_s=2, wait_attempts=90),
            network=net)
        t0 = time.monotonic()
        for h in hosts.values():
            h.wait_boot_finished(timeout=BOOT_TIMEOUT)
        print(f"\n[podman] {len(hosts)} hosts booted in {time.monotonic() - t0:.0f}s")
        yield {**hosts, "app_pw": app_pw, "net": net, "backup": backup, "no_backup_reason": no_backup_reason}


def backup_flag(stack) -> str:
    return "--expect-backup" if stack["backup"] is not None else "--no-expect-backup"


def run_host_checks(host: podman.Host, role: str, *extra: str) -> None:
    cmd = [sys.executable, "-m", "resilient_stack.hosts.checks", f"--hosts={host.testinfra_url}",
           "--role", role, "-q", "-rfEs", *extra]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"testinfra ({role}) failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    assert " passed" in proc.stdout and " failed" not in proc.stdout


def app_sql(client: podman.Host, target: podman.Host, password: str, sql: str) -> str:
    """Run SQL as the app user over TLS from ``client`` to ``target`` (password via env, not argv)."""
    proc = client.exec(
        "psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
        f"host={target.name} dbname=app user=app sslmode=require connect_timeout=5", "-c", sql,
        env={"PGPASSWORD": password}, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


# --------------------------------------------------------------------------------------------------
# booted hosts
# --------------------------------------------------------------------------------------------------


@pytest.mark.podman
def test_web_host_is_healthy(stack):
    run_host_checks(stack["web"], "web", "--placement", PLACEMENT, "--app-title", APP_TITLE)
    ip, port = stack["web"].port(80)
    assert ip == "127.0.0.1"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        assert r.status == 200 and r.read().decode().strip() == "ok"


@pytest.mark.podman
def test_primary_is_healthy(stack):
    run_host_checks(stack["primary"], "db-primary", "--expect-replicas", "1", backup_flag(stack))


@pytest.mark.podman
def test_replica_is_healthy(stack):
    run_host_checks(stack["replica"], "db-replica", backup_flag(stack))


@pytest.mark.podman
def test_row_written_on_primary_is_read_on_replica(stack):
    web, primary, replica, pw = stack["web"], stack["primary"], stack["replica"], stack["app_pw"]
    token = secrets.token_hex(8)
    app_sql(web, primary, pw, "CREATE TABLE IF NOT EXISTS drill (id serial PRIMARY KEY, token text NOT NULL)")
    app_sql(web, primary, pw, f"INSERT INTO drill (token) VALUES ('{token}')")
    deadline = time.monotonic() + 30
    while True:
        got = app_sql(web, replica, pw, f"SELECT count(*) FROM drill WHERE token = '{token}'")
        if got == "1":
            break
        assert time.monotonic() < deadline, "row did not reach the replica within 30s"
        time.sleep(0.5)
    # the replica refuses writes
    proc = web.exec("psql", "-X", f"host={replica.name} dbname=app user=app sslmode=require", "-c",
                    "INSERT INTO drill (token) VALUES ('nope')", env={"PGPASSWORD": pw}, check=False)
    assert proc.returncode != 0 and "read-only" in proc.stderr


@pytest.mark.podman
def test_backups_reach_object_storage(stack):
    if stack["backup"] is None:
        _missing(f"backup path not exercised: {stack['no_backup_reason']}")
    # the archived WAL and the first full backup are in the bucket (asked from the replica: same repo)
    proc = stack["replica"].exec("runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=main",
                                 "--output=json", "info", check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)[0]
    assert info["status"]["code"] == 0, info["status"]
    assert any(b["type"] == "full" for b in info["backup"])
    assert info["archive"] and info["archive"][0]["max"]


@pytest.mark.podman
def test_failover_promotes_replica(stack):
    web, primary, replica, pw = stack["web"], stack["primary"], stack["replica"], stack["app_pw"]
    primary.kill()  # fence: the old primary is gone
    out = replica.exec(ci.PROMOTE_HELPER, timeout=120).stdout
    assert "promoted" in out
    assert replica.exec(ci.PROMOTE_HELPER, "--check").stdout.strip() == "primary"
    app_sql(web, replica, pw, "INSERT INTO drill (token) VALUES ('after-failover')")
    assert app_sql(web, replica, pw, "SELECT count(*) FROM drill WHERE token = 'after-failover'") == "1"
    if stack["backup"] is not None:
        # the promoted replica archives its new timeline to the same repository
        proc = replica.exec("runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=main", "check",
                            check=False, timeout=180)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


# --------------------------------------------------------------------------------------------------
# cleanup guarantees
# --------------------------------------------------------------------------------------------------


def _exists(kind: str, name: str) -> bool:
    return subprocess.run(["podman", kind, "exists", name], capture_output=True).returncode == 0


@pytest.mark.podman
def test_session_removes_everything_on_error(image):
    names = []
    with pytest.raises(RuntimeError, match="boom"):
        with podman.Session(image=image, keep=False) as s:
            net = s.create_network()
            h = s.boot("gone", ci.render_web(placement_label="x"), network=net)
            names = [h.name, net.name]
            assert _exists("container", h.name)
            raise RuntimeError("boom")
    assert not _exists("container", names[0])
    assert not _exists("network", names[1])
    assert not Path(h.seed_dir).exists()


@pytest.mark.podman
def test_session_removes_everything_on_sigterm(image, tmp_path):
    script = textwrap.dedent(
        f"""
        import time
        from resilient_stack.testing import podman
        from resilient_stack.hosts import cloudinit
        with podman.Session(image={image!r}, keep=False) as s:
            net = s.create_network()
            h = s.boot("term", cloudinit.render_web(placement_label="x"), network=net)
            print(h.name, net.name, flush=True)
            time.sleep(120)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        container, network = proc.stdout.readline().split()
        assert _exists("container", container)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not _exists("container", container)
    assert not _exists("network", network)
