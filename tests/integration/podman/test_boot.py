"""Boot a web host (with the application), three database members (PostgreSQL under Patroni, one etcd member
each) and an S3 stand-in in podman with the EXACT user-data rendered by resilient_stack.hosts.cloudinit, check each
with the shipped host checks (resilient_stack.hosts.checks), write through the application and read on a replica,
then lose the primary: Patroni promotes a replica by itself, the application finds it, the other replica follows
it, and the old primary, started again from its disk, rejoins as a replica (pg_rewind).

Needs podman and the image localhost/resilient-stack-host:bookworm-8 (built when absent by
scripts/build-host-image.sh, as root). When they are unavailable the tests are skipped, or FAIL when
RESILIENT_STACK_REQUIRE_TOOLS=1. Every container and network is removed afterwards (also on Ctrl-C and
SIGTERM); RESILIENT_STACK_KEEP_HOSTS=1 keeps them for debugging.

    sudo scripts/build-host-image.sh            # once, ~2 min
    pytest -m podman tests/integration/podman -v            # ~3 min

Backups are exercised for real when the test environment has ``moto[server]`` (a test dependency): a
container serves moto's S3 API behind nginx TLS (Debian snakeoil certificate), the database hosts get a
BackupTarget pointing at it, and the checks require WAL archiving, a first full backup in the repository and,
after the failover, archiving from the promoted member. moto's site-packages directory is mounted read-only
into that container (same Python 3.11 ABI as Debian bookworm's python3), so the container fetches nothing.
Without moto the stack boots without backups and the backup test is skipped (or FAILS with
RESILIENT_STACK_REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509

from resilient_stack.components.pki import issue
from resilient_stack.drills.plan import pick_internet_subnet
from resilient_stack.hosts import cloudinit as ci
from resilient_stack.hosts.pki import Issued
from resilient_stack.hosts.secrets import items as sealed_items
from resilient_stack.hosts.secrets import seal
from resilient_stack.testing import podman, registry, sessions, standins

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
        return (
            None,
            f"the S3 stand-in mounts this Python's packages into Debian's python3.11, not {sys.version_info[:2]}",
        )
    spec = importlib.util.find_spec("moto")
    if spec is None or not spec.origin or importlib.util.find_spec("flask") is None:
        return None, "moto[server] is not installed in the test environment (pip install 'moto[server]')"
    return Path(spec.origin).resolve().parent.parent, ""


S3_BUCKET = "rs-backups"
# the database hosts' data volumes (the ids the cloud would give; in podman a directory stands in for each)
VOLUME_IDS = {name: f"0c0ffee0-0000-4000-8000-00000000000{i}" for i, name in enumerate(("db1", "db2", "db3"), start=1)}

# Test-only user-data of the S3 stand-in (not a product role): moto on 127.0.0.1:5000 behind nginx TLS.
S3_USER_DATA = (
    """#cloud-config
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
"""
    % S3_BUCKET
)


CLUSTER_ID = "podmantest01"
APP_IMAGE = "registry.example.com/shop/web:1.0.0"  # the example application, served by the test's registry
APP_SPEC = ci.AppSpec(image=APP_IMAGE, env={"APP_TITLE": APP_TITLE}, migrate=("python3", "/app/app.py", "migrate"))


def web_app_runtime(stack_or_ips, spec: ci.AppSpec = APP_SPEC, token: str = "", members=None) -> dict:
    """The web host's application part of its runtime document, as the components make it."""
    ips = stack_or_ips
    return ci.app_runtime_section(
        spec=spec,
        version=ci.secrets_version({}, token),
        host="web",
        placement="site-a",
        label=PLACEMENT,
        placements=["site-a"],
        members={ips[n]: n for n in ("db1", "db2", "db3")},
        db_hosts=[ips[n] for n in ("db1", "db2", "db3")],
        db_port=5432,
        dbname="app",
    )


def cluster_secrets(members, backup):
    """What the components give the hosts, made here: the cluster's PKI, its passwords, every host's key."""
    now = datetime.datetime.now(datetime.timezone.utc)
    issued = issue({"scope": "rs-test", "members": {m.name: m.address for m in members}}, now=now)
    passwords = {
        k: f"{k}-" + secrets.token_urlsafe(18) for k in ("repl", "rewind", "api", "etcd", "app", "token", "migrate")
    }
    keys = {name: secrets.token_hex(32) for name in (*[m.name for m in members], "web")}
    docs = {
        m.name: ci.db_secret_document(
            ci.DbSecrets(
                tls=ci.MemberTls(
                    ca=issued["caCert"],
                    cert=issued["certs"][m.name],
                    key=issued["keys"][m.name],
                    admin_cert=issued["adminCerts"][m.name],
                    admin_key=issued["adminKeys"][m.name],
                ),
                replication_password=passwords["repl"],
                rewind_password=passwords["rewind"],
                api_password=passwords["api"],
                etcd_password=passwords["etcd"],
                app_passwords=(passwords["app"],),
                backup=backup,
                migrate_password=passwords["migrate"],
            ),
            app_user="app",
        )
        for m in members
    }
    docs["web"] = ci.web_secret_document(
        ca=issued["caCert"],
        app_user="app",
        app_passwords=[passwords["app"]],
        write_token=passwords["token"],
        migrate_password=passwords["migrate"],
    )
    return issued, passwords, keys, docs


@pytest.fixture(scope="module")
def stack(image, tmp_path_factory):
    volumes = tmp_path_factory.mktemp("volumes")
    moto_site, no_backup_reason = _moto_site()
    net_range = pick_internet_subnet()
    ips = {
        name: str(net_range.network_address + 10 + i)
        for i, name in enumerate(("db1", "db2", "db3", "web", "s3", "registry"))
    }
    # the metadata service's own network (no NAT: the stand-in tells the hosts apart by their addresses)
    md_range = pick_internet_subnet(used=[*podman.used_subnets(), net_range])
    md_ips = {
        name: str(md_range.network_address + 10 + i) for i, name in enumerate(("db1", "db2", "db3", "web", "metadata"))
    }
    metadata_root = tmp_path_factory.mktemp("metadata")
    members = [ci.ClusterMember(n, ips[n]) for n in ("db1", "db2", "db3")]
    with sessions.Session(image=image) as s:
        net = s.create_network(subnet=str(net_range))
        mdnet = s.create_network("metadata", subnet=str(md_range), internal=True)

        def on_net(name: str) -> list[str]:
            md = ["--network", f"{mdnet.name}:ip={md_ips[name]}"] if name in md_ips else []
            return ["--network", f"{net.name}:ip={ips[name]}", *md] if name != "metadata" else md

        backup = None
        hosts = {"metadata": standins.boot_metadata_service(s, metadata_root, on_net("metadata"))}
        if moto_site is not None:
            hosts["s3"] = s.boot("s3", S3_USER_DATA, extra_args=[*on_net("s3"), "-v", f"{moto_site}:/opt/site:ro"])
            backup = ci.BackupTarget(
                endpoint=ips["s3"],
                bucket=S3_BUCKET,
                region="us-east-1",
                key_id="resilient-stack",
                key_secret="s3-" + secrets.token_urlsafe(12),
                uri_style="path",
                verify_tls=False,
                cipher_pass="cipher-" + secrets.token_urlsafe(24),  # the components always encrypt the repository
            )
        # the registry the application's image comes from, with the example application in it
        tls = standins.make_tls(tmp_path_factory.mktemp("tls"), ["registry.example.com"], image)
        hosts["registry"] = s.boot(
            "registry",
            registry.registry_user_data(),
            extra_args=["--network", f"{net.name}:ip={ips['registry']}", "-v", f"{tls}:{registry.TLS_MOUNT}:ro"],
        )
        local = registry.build_app_image(f"localhost/rs-{s.id}-app:1.0.0", session=s)
        hosts["registry"].wait_boot_finished(timeout=BOOT_TIMEOUT)
        registry.push(local, ips["registry"], registry.repository_of(APP_IMAGE))
        database = ci.AppDatabase(hosts=tuple(ips[n] for n in ("db1", "db2", "db3")), dbname="app", user="app")
        issued, passwords, keys, docs = cluster_secrets(members, backup)
        user_data, run_args = {}, {}
        app_part = web_app_runtime(ips, token=passwords["token"])
        user_data["web"] = ci.render_web(
            placement_label=PLACEMENT,
            app_title=APP_TITLE,
            database=database,
            application=APP_SPEC,
            app_runtime=app_part,
            host_key=keys["web"],
            secrets_doc=docs["web"],
        )
        standins.metadata_files(
            metadata_root,
            md_ips["web"],
            user_data=user_data["web"],
            name="web",
            metadata={
                **ci.runtime_items(ci.web_runtime(app=app_part, app_title=APP_TITLE)),
                **sealed_items(seal(docs["web"], keys["web"])),
            },
        )
        run_args["web"] = [
            *on_net("web"),
            "--add-host",
            f"registry.example.com:{ips['registry']}",
            "-v",
            f"{tls / 'ca-bundle.crt'}:/etc/ssl/certs/ca-certificates.crt:ro",
            *standins.container_storage(tmp_path_factory.mktemp("containers")),
        ]
        hosts["web"] = s.boot("web", user_data["web"], publish=[(0, 80)], extra_args=run_args["web"])
        standins.route_to_metadata(hosts["web"], md_ips["metadata"])
        for i, m in enumerate(members):
            user_data[m.name] = ci.render_db_member(
                name=m.name,
                members=members,
                bootstrap=i == 0,
                scope="rs-test",
                cluster_id=CLUSTER_ID,
                host_key=keys[m.name],
                secrets_doc=docs[m.name],
                backup=backup,
                app_cidrs=[f"{ips['web']}/32"],
                data_volume_id=VOLUME_IDS[m.name],
                synchronous=True,
            )
            run_args[m.name] = [*on_net(m.name), *standins.data_volume(volumes / m.name)]
            standins.metadata_files(
                metadata_root,
                md_ips[m.name],
                user_data=user_data[m.name],
                name=m.name,
                metadata={
                    **ci.runtime_items(
                        ci.db_runtime(members=members, app_cidrs=[f"{ips['web']}/32"], backup=backup, synchronous=True)
                    ),
                    **sealed_items(seal(docs[m.name], keys[m.name])),
                },
            )
            hosts[m.name] = s.boot(m.name, user_data[m.name], extra_args=run_args[m.name])
            standins.route_to_metadata(hosts[m.name], md_ips["metadata"])
        t0 = time.monotonic()
        for h in hosts.values():
            h.wait_boot_finished(timeout=BOOT_TIMEOUT)
        print(f"\n[podman] {len(hosts)} hosts booted in {time.monotonic() - t0:.0f}s")
        # the application starts once the cluster answers: pulled, migrated, health-checked, then behind nginx
        t1 = time.monotonic()
        while (
            hosts["web"]
            .exec("curl", "-fsS", "-o", "/dev/null", "-m", "3", "http://127.0.0.1/healthz", check=False)
            .returncode
        ):
            if time.monotonic() - t1 > BOOT_TIMEOUT:
                log = (
                    hosts["web"]
                    .exec("journalctl", "-u", "resilient-stack-app-*", "-n", "60", "--no-pager", check=False)
                    .stdout
                )
                pytest.fail(f"the application does not serve {BOOT_TIMEOUT:.0f} s after the boot:\n{log}")
            time.sleep(2)
        print(f"[podman] the application serves {time.monotonic() - t1:.0f}s after cloud-init finished")
        yield {
            **hosts,
            "ips": ips,
            "net": net,
            "backup": backup,
            "no_backup_reason": no_backup_reason,
            "session": s,
            "user_data": user_data,
            "run_args": run_args,
            "metadata_root": metadata_root,
            "members": members,
            "md_ips": md_ips,
            "keys": keys,
            "docs": docs,
            "passwords": passwords,
            "pki": issued,
            "volumes": volumes,
            "app_part": app_part,
            "tls": tls,
        }


def backup_flag(stack) -> str:
    return "--expect-backup" if stack["backup"] is not None else "--no-expect-backup"


def run_host_checks(host: podman.Host, role: str, *extra: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "resilient_stack.hosts.checks",
        f"--hosts={host.testinfra_url}",
        "--role",
        role,
        "-q",
        "-rfEs",
        *extra,
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"testinfra ({role}) failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    assert " passed" in proc.stdout and " failed" not in proc.stdout


def write(stack, n: int) -> dict:
    """A row through the application (the web host's nginx -> the app -> whichever member accepts writes)."""
    proc = stack["web"].exec(
        "curl",
        "-sS",
        "--max-time",
        "40",
        "-X",
        "POST",
        "-H",
        f"Authorization: Bearer {stack['passwords']['token']}",
        f"http://127.0.0.1/api/writes?n={n}",
        check=False,
        timeout=60,
    )
    return json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {"error": proc.stderr}


def role(host: podman.Host) -> str:
    return host.exec(ci.CLUSTER_HELPER, "role", check=False).stdout.strip()


APP_TABLE = "writes"  # the example application's table (examples/app/app.py), made by its release phase


def rows(host: podman.Host, where: str = "true") -> int:
    out = host.exec(
        "runuser",
        "-u",
        "postgres",
        "--",
        "psql",
        "-XAtq",
        "-d",
        "app",
        "-c",
        f"SELECT count(*) FROM {APP_TABLE} WHERE {where}",
        check=False,
    ).stdout.strip()
    return int(out) if out.isdigit() else -1


def eventually(check, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# --------------------------------------------------------------------------------------------------
# booted hosts
# --------------------------------------------------------------------------------------------------


@pytest.mark.podman
def test_web_host_is_healthy(stack):
    run_host_checks(stack["web"], "web", "--placement", PLACEMENT, "--app-title", APP_TITLE, "--expect-app")
    ip, port = stack["web"].port(80)
    assert ip == "127.0.0.1"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        assert r.status == 200 and r.read().decode().strip() == "ok"


@pytest.mark.podman
def test_the_user_data_is_served_to_root_only(stack):
    """The metadata service (the stand-in at 169.254.169.254) gives root its user data; any other local user, a
    service account included, gets nothing: the host firewall's owner match."""
    for name, others in (("web", ("nobody", "www-data")), ("db1", ("nobody", "postgres"))):
        host = stack[name]
        got = host.exec("curl", "-sS", "-m", "5", ci.USER_DATA_URL, check=False)
        assert got.returncode == 0 and got.stdout == stack["user_data"][name], (name, got.stderr)
        for user in others:
            got = host.exec("runuser", "-u", user, "--", "curl", "-sS", "-m", "5", ci.USER_DATA_URL, check=False)
            assert got.returncode != 0 and "#cloud-config" not in got.stdout, (name, user, got.stdout[:200])
            got = host.exec("runuser", "-u", user, "--", "curl", "-sS", "-m", "5", ci.METADATA_URL, check=False)
            assert got.returncode != 0 and not got.stdout, (name, user)


def reach(host: podman.Host, ip: str, port: int) -> bool:
    """A TCP connection from ``host`` to ``ip:port`` within 4 s."""
    return host.exec("timeout", "4", "bash", "-c", f"</dev/tcp/{ip}/{port}", check=False, timeout=30).returncode == 0


@pytest.mark.podman
def test_the_host_firewall_admits_each_port_from_its_own_peers_only(stack):
    ips = stack["ips"]
    assert reach(stack["web"], ips["db1"], 5432), "the web host is the application's client"
    for port in (2380, 8008, 22):  # etcd's peers, Patroni's API: the members only; SSH: no admin network
        assert not reach(stack["web"], ips["db1"], port), port
    assert reach(stack["db2"], ips["db1"], 2380) and reach(stack["db2"], ips["db1"], 8008)
    assert reach(stack["db1"], ips["web"], 80), "HTTP from anywhere"
    assert not reach(stack["db1"], ips["web"], 22)


@pytest.mark.podman
def test_a_metadata_change_reaches_the_running_hosts_in_place(stack):
    """The cloud updates db1's metadata (a new application network, an admin network): root's sync applies it to
    Patroni's pg_hba (reloaded, not restarted) and to the firewall's sets; nothing else changes."""
    ips, db1 = stack["ips"], stack["db1"]
    before = role(db1)
    doc = ci.db_runtime(
        members=stack["members"],
        app_cidrs=[f"{ips['web']}/32", "192.0.2.0/24"],
        admin_cidrs=["198.51.100.0/24"],
        backup=stack["backup"],
        synchronous=True,
    )
    sealed = sealed_items(seal(stack["docs"]["db1"], stack["keys"]["db1"]))
    standins.metadata_files(
        stack["metadata_root"],
        stack["md_ips"]["db1"],
        user_data=stack["user_data"]["db1"],
        name="db1",
        metadata={**ci.runtime_items(doc), **sealed},
    )
    out = db1.exec(ci.SYNC_SCRIPT, check=False)
    assert out.returncode == 0 and "applied: pg_hba, firewall" in out.stdout, out.stdout + out.stderr
    hba = f"{ci.PG_ETC}/pg_hba.conf"
    assert eventually(
        lambda: "hostssl app app,app_alt,app_migrate 192.0.2.0/24 scram-sha-256" in db1.exec("cat", hba).stdout, 30
    )
    assert "198.51.100.0/24" in db1.exec("nft", "list", "set", "inet", "resilient_stack", "admin4").stdout
    assert json.loads(db1.exec("cat", "/etc/resilient-stack/runtime.json").stdout) == doc
    assert "unchanged" in db1.exec(ci.SYNC_SCRIPT).stdout, "applied once"
    assert role(db1) == before and reach(stack["web"], ips["db1"], 5432)


@pytest.mark.podman
def test_the_bootstrap_member_leads_and_the_others_stream(stack):
    run_host_checks(stack["db1"], "db-primary", "--expect-replicas", "2", backup_flag(stack))
    for name in ("db2", "db3"):
        run_host_checks(stack[name], "db-replica", backup_flag(stack))


@pytest.mark.podman
def test_a_row_written_through_the_application_is_read_on_a_replica(stack):
    got = write(stack, 1)
    assert got == {"n": 1, "placement": PLACEMENT, "database": stack["ips"]["db1"]}, got
    assert eventually(lambda: rows(stack["db2"], "n = 1") == 1, 30), "the row did not reach the replica"
    # a replica refuses writes
    proc = stack["db3"].exec(
        "runuser",
        "-u",
        "postgres",
        "--",
        "psql",
        "-X",
        "-d",
        "app",
        "-c",
        f"INSERT INTO {APP_TABLE} (n, placement) VALUES (2, 'x')",
        check=False,
    )
    assert proc.returncode != 0 and "read-only" in proc.stderr


@pytest.mark.podman
def test_backups_reach_object_storage(stack):
    if stack["backup"] is None:
        _missing(f"backup path not exercised: {stack['no_backup_reason']}")
    # the archived WAL and the first full backup are in the bucket (asked from a replica: same repo)
    proc = stack["db2"].exec(
        "runuser",
        "-u",
        "postgres",
        "--",
        "pgbackrest",
        "--stanza=main",
        "--output=json",
        "info",
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)[0]
    assert info["status"]["code"] == 0, info["status"]
    assert any(b["type"] == "full" for b in info["backup"])
    assert info["archive"] and info["archive"][0]["max"]


def presented_serial(host: podman.Host, ip: str, port: int) -> int:
    """The serial of the certificate ``ip:port`` presents (mutual TLS: ``host`` shows its member certificate)."""
    starttls = ["-starttls", "postgres"] if port == 5432 else []
    out = host.sh(
        f"openssl s_client -connect {ip}:{port} {' '.join(starttls)} -cert {ci.MEMBER_CERT} "
        f"-key {ci.MEMBER_KEY} -CAfile {ci.CA_CERT} </dev/null 2>/dev/null | openssl x509 -noout -serial",
        check=False,
        timeout=60,
    ).strip()
    return int(out.split("=", 1)[1], 16) if out.startswith("serial=") else -1


def run_sync(host: podman.Host, since: float | None = None) -> str:
    """Root's sync run now, and (``since``: an epoch) what its timer's runs applied since then: the timer may have
    read the new metadata first, then this run finds it unchanged."""
    out = host.exec(ci.SYNC_SCRIPT, check=False, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    if since is None:
        return out.stdout
    journal = host.exec(
        "journalctl",
        "-u",
        "resilient-stack-sync.service",
        "--since",
        f"@{int(since)}",
        "-o",
        "cat",
        "--no-pager",
        check=False,
    ).stdout
    return out.stdout + journal


@pytest.mark.podman
def test_certificates_and_passwords_rotate_in_place_with_the_stack_serving(stack):
    """Every member's certificate renewed (the same CA) and the replication and application passwords rotated
    reach the running hosts through their sealed metadata, applied by root's sync -- here in the worst order (the
    web host first, the replicas before the primary) -- while writes go on through the application: none fails,
    replication never stops, and the new certificates and passwords are in force afterwards."""
    members, ips, keys = stack["members"], stack["ips"], stack["keys"]
    old = stack["pki"]
    renewed = issue(
        {"scope": "rs-test", "members": {m.name: m.address for m in members}},
        now=datetime.datetime.now(datetime.timezone.utc),
        ca=Issued(old["caCert"], old["caKey"]),
    )
    passwords = {
        **stack["passwords"],
        "repl": "repl-" + secrets.token_urlsafe(18),
        "app2": "app-" + secrets.token_urlsafe(18),
    }
    docs = {
        m.name: ci.db_secret_document(
            ci.DbSecrets(
                tls=ci.MemberTls(
                    ca=renewed["caCert"],
                    cert=renewed["certs"][m.name],
                    key=renewed["keys"][m.name],
                    admin_cert=renewed["adminCerts"][m.name],
                    admin_key=renewed["adminKeys"][m.name],
                ),
                replication_password=passwords["repl"],
                rewind_password=passwords["rewind"],
                api_password=passwords["api"],
                etcd_password=passwords["etcd"],
                app_passwords=(passwords["app"], passwords["app2"]),
                backup=stack["backup"],
                migrate_password=passwords["migrate"],
            ),
            app_user="app",
        )
        for m in members
    }
    docs["web"] = ci.web_secret_document(
        ca=renewed["caCert"],
        app_user="app",
        app_passwords=[passwords["app"], passwords["app2"]],
        write_token=passwords["token"],
        migrate_password=passwords["migrate"],
    )
    app_cidrs = [f"{ips['web']}/32"]
    changed_at = time.time() - 1
    for name in [m.name for m in members] + ["web"]:
        runtime_doc = (
            ci.web_runtime(app=stack["app_part"], app_title=APP_TITLE)
            if name == "web"
            else ci.db_runtime(members=members, app_cidrs=app_cidrs, backup=stack["backup"], synchronous=True)
        )
        standins.metadata_files(
            stack["metadata_root"],
            stack["md_ips"][name],
            user_data=stack["user_data"][name],
            name=name,
            metadata={**ci.runtime_items(runtime_doc), **sealed_items(seal(docs[name], keys[name]))},
        )
    primary = next(n for n in ("db1", "db2", "db3") if role(stack[n]) == "primary")
    replicas = [n for n in ("db1", "db2", "db3") if n != primary]
    results: list[dict] = []
    stop = threading.Event()

    def load() -> None:
        n = 50_000
        while not stop.is_set():
            results.append(write(stack, n))
            n += 1
            time.sleep(0.1)

    writer = threading.Thread(target=load, daemon=True)
    writer.start()
    try:
        time.sleep(2)
        applied = {name: run_sync(stack[name], changed_at) for name in ("web", *replicas)}
        assert "applied: tls" in applied[replicas[0]] and "app" in applied["web"], applied
        primary_at = time.time() - 1
        applied[primary] = run_sync(stack[primary], changed_at)
        assert "role app_alt" in applied[primary] and "role replicator" in applied[primary], applied[primary]
        for name in replicas:  # the replication password, now that the primary's role has it (by this run, or by
            # the replica's own timer since the primary's: CI's rehearsal of fd275e9 saw the timer first)
            assert "passwords" in run_sync(stack[name], primary_at), name
        time.sleep(5)
    finally:
        stop.set()
        writer.join(timeout=60)
    failed = [r for r in results if "n" not in r]
    assert len(results) > 20 and not failed, failed[:3]
    # in force: the renewed certificates on PostgreSQL and on Patroni's API of every member
    for m in members:
        serial = x509.load_pem_x509_certificate(renewed["certs"][m.name].encode()).serial_number
        assert presented_serial(stack[primary], m.address, 5432) == serial, m.name
        assert presented_serial(stack[primary], m.address, 8008) == serial, m.name
    # the replicas stream again with the new password; the application's new credential logs in
    for name in replicas:
        assert eventually(
            lambda name=name: (
                stack[name]
                .exec(
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    "psql",
                    "-XAtq",
                    "-c",
                    "SELECT status FROM pg_stat_wal_receiver",
                    check=False,
                )
                .stdout.strip()
                == "streaming"
            ),
            60,
        ), name
    creds = ci.app_credentials("app", [passwords["app"], passwords["app2"]])
    assert creds[0] == ("app_alt", passwords["app2"])
    login = (
        "import psycopg2, sys; c = psycopg2.connect(host=sys.argv[1], dbname='app', user='app_alt', "
        "password=sys.stdin.read(), sslmode='verify-full', sslrootcert=sys.argv[2]); cur = c.cursor(); "
        "cur.execute('SELECT current_user'); print(cur.fetchone()[0])"
    )
    check = stack["web"].exec(
        "python3", "-c", login, ips[primary], ci.CA_CERT, input=creds[0][1], check=False, timeout=60
    )
    assert check.stdout.strip() == "app_alt", check.stdout + check.stderr
    expiry = (
        stack[primary]
        .exec(
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-XAtq",
            "-c",
            "SELECT rolvaliduntil > now() AND rolvaliduntil < now() + interval '16 minutes' "
            "FROM pg_authid WHERE rolname = 'app'",
        )
        .stdout.strip()
    )
    assert expiry == "t", "the previous credential expires 15 minutes after the rotation"
    stack["docs"].update(docs)
    stack["passwords"].update(passwords)
    stack["pki"] = renewed
    print(f"\n[podman] rotation: {len(results)} writes through the application during it, none failed")


def has_sync_standby(host: podman.Host) -> bool:
    return "| Sync Standby |" in host.exec(ci.CLUSTER_HELPER, "list", check=False).stdout


@pytest.mark.podman
def test_a_switchover_moves_the_primary_with_no_acknowledged_write_lost(stack):
    """The runbook's planned change of primary (`resilient-stack-cluster switchover`, Patroni's REST calls between
    members over mutual TLS) under a steady load of writes through the application: the primary moves to the
    synchronous standby, every row the application acknowledged is on the new primary, and it moves back."""
    before = next(n for n in ("db1", "db2", "db3") if role(stack[n]) == "primary")
    assert eventually(lambda: has_sync_standby(stack[before]), 120), "no synchronous standby to switch over to"
    acked: list[int] = []
    stop = threading.Event()

    def load() -> None:
        n = 60_000
        while not stop.is_set():
            if write(stack, n).get("n") == n:
                acked.append(n)
            n += 1
            time.sleep(0.05)

    writer = threading.Thread(target=load, daemon=True)
    writer.start()
    try:
        time.sleep(2)
        out = stack[before].exec(ci.CLUSTER_HELPER, "switchover", "--force", check=False, timeout=180)
        assert (
            out.returncode == 0 and "Successfully switched over" in out.stdout and "| Sync Standby |" in out.stdout
        ), out.stdout + out.stderr
        after = eventually(
            lambda: next((n for n in ("db1", "db2", "db3") if n != before and role(stack[n]) == "primary"), None),
            60,
            0.5,
        )
        assert after, "no new primary after the switchover"
        assert eventually(lambda: role(stack[before]) == "replica", 60), "the former primary did not follow"
        time.sleep(3)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert len(acked) > 20
    present = set(
        map(
            int,
            stack[after]
            .exec(
                "runuser",
                "-u",
                "postgres",
                "--",
                "psql",
                "-XAtq",
                "-d",
                "app",
                "-c",
                f"SELECT n FROM {APP_TABLE} WHERE n >= 60000",
            )
            .stdout.split(),
        )
    )
    assert set(acked) <= present, f"acknowledged rows lost: {sorted(set(acked) - present)[:10]}"
    # and back, so the tests below find the primary where the cluster was made
    back = stack[after].exec(
        ci.CLUSTER_HELPER, "switchover", "--candidate", before, "--force", check=False, timeout=300
    )
    if "Successfully switched over" not in back.stdout:  # only the synchronous standby may be chosen: once more
        back = stack[after].exec(ci.CLUSTER_HELPER, "switchover", "--force", check=False, timeout=300)
    # the helper returns once the new primary has a synchronous standby again
    assert back.returncode == 0 and "| Sync Standby |" in back.stdout, back.stdout + back.stderr
    print(f"\n[podman] switchover {before} -> {after}: {len(acked)} writes acknowledged during it, none lost")


@pytest.mark.podman
def test_losing_the_primary_fails_over_by_itself_and_the_old_primary_rejoins(stack):
    old = next(n for n in ("db1", "db2", "db3") if role(stack[n]) == "primary")
    # a whole cluster: with synchronous replication only the synchronous standby may be promoted
    assert eventually(lambda: has_sync_standby(stack[old]), 120), "no synchronous standby before the loss"
    for n in range(10, 20):
        assert write(stack, n).get("n") == n
    stack[old].kill()  # the primary is lost; nobody promotes anything
    t0 = time.monotonic()
    others = [n for n in ("db1", "db2", "db3") if n != old]
    new = eventually(lambda: next((n for n in others if role(stack[n]) == "primary"), None), 90, 0.5)
    assert new, "no replica was promoted within 90 s:\n" + "\n".join(
        stack[n].exec("journalctl", "-u", "patroni", "--no-pager", "-n", "40", check=False).stdout for n in others
    )
    promoted_after = time.monotonic() - t0
    other = next(n for n in others if n != new)
    # the application finds the new primary by itself
    got = eventually(lambda: write(stack, 100).get("database") == stack["ips"][new], 60)
    assert got, "the application did not find the new primary"
    assert rows(stack[new], "n BETWEEN 10 AND 19") == 10, "rows acknowledged before the loss are on the new primary"
    # the other replica follows the new primary
    assert eventually(lambda: rows(stack[other], "n = 100") == 1, 60), f"{other} does not follow {new}"
    run_host_checks(stack[new], "db-primary", "--expect-replicas", "1", backup_flag(stack))
    if stack["backup"] is not None:
        # the promoted member archives its new timeline to the same repository
        proc = stack[new].exec(
            "runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=main", "check", check=False, timeout=180
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        # and the catch-up takes a backup on the new timeline: a restore never has to cross the failover's gap
        timeline = int(
            stack[new]
            .exec(
                "runuser",
                "-u",
                "postgres",
                "--",
                "psql",
                "-XAtq",
                "-c",
                "SELECT timeline_id FROM pg_control_checkpoint()",
            )
            .stdout.strip()
        )

        def backed_up_on_new_timeline() -> bool:
            out = (
                stack[new]
                .exec(
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    "pgbackrest",
                    "--stanza=main",
                    "--output=json",
                    "info",
                    check=False,
                    timeout=120,
                )
                .stdout
            )
            info = json.loads(out)[0] if out.strip().startswith("[") else {}
            return any(int(b["archive"]["start"][:8], 16) >= timeline for b in info.get("backup", []))

        assert eventually(backed_up_on_new_timeline, 240, 5), f"no backup on timeline {timeline} after the failover"
    # the old primary comes back from its disk and rejoins as a replica of the new one
    podman.start(stack[old].name)
    assert eventually(lambda: role(stack[old]) == "replica" and rows(stack[old], "n = 100") == 1, 120), (
        "the old primary did not rejoin as a replica"
    )
    journal = stack[old].exec("journalctl", "-u", "patroni", "--no-pager", check=False).stdout
    assert "pg_rewind exit code=0" in journal, journal[-3000:]
    run_host_checks(stack[old], "db-replica", backup_flag(stack))
    print(f"\n[podman] promoted {new} {promoted_after:.1f} s after the loss of the primary {old}")


def etcd_member_id(host: podman.Host) -> str:
    out = host.exec(ci.ETCDCTL_HELPER, "endpoint", "status", "-w", "json", check=False).stdout
    return str(json.loads(out)[0]["Status"]["header"]["member_id"]) if out.strip().startswith("[") else ""


@pytest.mark.podman
def test_a_replaced_member_reattaches_its_volume_and_rejoins_as_the_same_member(stack):
    """The instance is replaced (a new container: new root disk, the same address and the same data volume, booted
    from the same user data): it rejoins as the same etcd member and as a Patroni replica, with no manual step."""
    name = next(n for n in ("db2", "db3") if role(stack[n]) == "replica")
    member_id = etcd_member_id(stack[name])
    assert member_id, "etcd answers on the member"
    assert write(stack, 150).get("n") == 150
    assert eventually(lambda: rows(stack[name], "n = 150") == 1, 60), "the replica streams before it is replaced"
    stack[name].remove()  # the old instance is deleted (its volume is not)
    t0 = time.monotonic()
    new = stack["session"].boot(
        f"{name}-new", stack["user_data"][name], hostname=name, extra_args=stack["run_args"][name]
    )
    standins.route_to_metadata(new, stack["md_ips"]["metadata"])
    new.wait_boot_finished(timeout=BOOT_TIMEOUT)
    stack[name] = new
    assert (
        "kept as it is"
        in new.exec("journalctl", "--no-pager", check=False).stdout
        + new.exec("cat", "/var/log/cloud-init-output.log", check=False).stdout
    )
    assert etcd_member_id(new) == member_id, "the same etcd member (its data is on the volume)"
    assert eventually(lambda: role(new) == "replica" and rows(new, "n = 150") == 1, 120), "it did not rejoin"
    assert write(stack, 200).get("n") == 200
    assert eventually(lambda: rows(new, "n = 200") == 1, 60), "it does not stream from the primary"
    run_host_checks(new, "db-replica", backup_flag(stack))
    print(f"\n[podman] replaced {name} rejoined in {time.monotonic() - t0:.0f} s (boot included)")


@pytest.mark.podman
def test_a_member_replaced_onto_a_blank_volume_joins_etcd_as_a_new_member_by_itself(stack):
    """The instance AND its volume are lost (a new host, a new blank volume): the new host's etcd finds the
    cluster running without it, removes its former self, joins as a new member, and Patroni clones the primary,
    with no manual step; its timers run whatever happened."""
    name = next(n for n in ("db2", "db3") if role(stack[n]) == "replica")
    old_id = etcd_member_id(stack[name])
    assert old_id
    assert write(stack, 250).get("n") == 250
    stack[name].remove()
    volume = stack["volumes"] / name
    shutil.rmtree(volume)  # the volume is gone too: its replacement is blank
    standins.data_volume(volume)
    t0 = time.monotonic()
    new = stack["session"].boot(
        f"{name}-blank", stack["user_data"][name], hostname=name, extra_args=stack["run_args"][name]
    )
    standins.route_to_metadata(new, stack["md_ips"]["metadata"])
    new.wait_boot_finished(timeout=BOOT_TIMEOUT)
    stack[name] = new
    log = new.exec("journalctl", "-u", "resilient-stack-db-start", "--no-pager", check=False).stdout
    assert "removing this member's former self" in log and "added to the running cluster as a new member" in log, log
    new_id = etcd_member_id(new)
    assert new_id and new_id != old_id, "a new etcd member"
    listed = new.exec(ci.ETCDCTL_HELPER, "member", "list", "-w", "json").stdout
    ids = {format(m["ID"], "d") for m in json.loads(listed)["members"]}
    assert len(ids) == 3 and old_id not in ids, listed
    assert eventually(lambda: role(new) == "replica" and rows(new, "n = 250") == 1, 180), "it did not clone the primary"
    for timer in (
        "resilient-stack-sync.timer",
        "resilient-stack-backup-init.timer",
        "resilient-stack-etcd-defrag.timer",
    ):
        assert new.exec("systemctl", "is-enabled", timer, check=False).stdout.strip() == "enabled", timer
    run_host_checks(new, "db-replica", backup_flag(stack))
    print(f"\n[podman] {name} replaced onto a blank volume rejoined in {time.monotonic() - t0:.0f} s (boot included)")


# --------------------------------------------------------------------------------------------------
# cleanup guarantees
# --------------------------------------------------------------------------------------------------


def static_web_user_data() -> str:
    """A web host with the static page only (no database): what the cleanup tests boot."""
    ca = issue({"scope": "rs-cleanup", "members": {}}, now=datetime.datetime.now(datetime.timezone.utc))["caCert"]
    return ci.render_web(
        placement_label="x", host_key=secrets.token_hex(32), secrets_doc=ci.web_secret_document(ca=ca, app_user=None)
    )


def _exists(kind: str, name: str) -> bool:
    return subprocess.run(["podman", kind, "exists", name], capture_output=True).returncode == 0


@pytest.mark.podman
def test_session_removes_everything_on_error(image):
    names = []
    with pytest.raises(RuntimeError, match="boom"):
        with sessions.Session(image=image, keep=False) as s:
            net = s.create_network()
            h = s.boot("gone", static_web_user_data(), network=net)
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
        from resilient_stack.testing import podman, sessions
        with sessions.Session(image={image!r}, keep=False) as s:
            net = s.create_network()
            h = s.boot("term", {static_web_user_data()!r}, network=net)
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
