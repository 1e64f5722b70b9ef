"""The backup repository unreachable, with the EXACT user data of a database member (one member: a cluster of one):

1. the member boots while its repository cannot be reached (no host at the S3 endpoint's address): cloud-init
   finishes within minutes and the member serves writes; the catch-up says the repository cannot be read;
2. the repository appears: the catch-up timer creates the stanza and the first full backup by itself;
3. the repository is lost (its host killed): writes go on, and the WAL waiting for it stays bounded (pgBackRest
   drops it from the archive beyond ``archive-push-queue-max`` rather than fill the disk);
4. the repository comes back EMPTY (the stand-in keeps its objects in memory, as a rebuilt backup site would be):
   the catch-up says the repository lost its stanza, creates it again and takes a new full backup.

Needs podman, the host image and moto[server] (the S3 stand-in of test_boot.py); FAILS without them when
RESILIENT_STACK_REQUIRE_TOOLS=1. About 8 minutes.

    pytest -m podman tests/integration/podman/test_backup_outage.py -v
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
import time

import pytest

from resilient_stack.drills.plan import pick_internet_subnet
from resilient_stack.hosts import cloudinit as ci
from resilient_stack.hosts import paths
from resilient_stack.testing import podman, sessions, standins

from .test_boot import (  # noqa: F401 (fixture)
    CLUSTER_ID,
    S3_BUCKET,
    S3_USER_DATA,
    VOLUME_IDS,
    _missing,
    _moto_site,
    cluster_secrets,
    eventually,
    image,
)

QUEUE_MAX_MB = 32  # small, so the test outgrows it in seconds; the stack's default is 1024
WAL_KEEP_MB = 32
SEGMENT = 16 * 1024 * 1024
MAX_WAL_SIZE = 1024 * 1024 * 1024  # PostgreSQL's default: the stack leaves it
BOOT_LIMIT_S = 240  # "finishes cloud-init and serves within minutes" (it used to retry stanza-create for 10+ minutes)
STATE = f"{ci.BACKUP_STATE_DIR}/last"  # the catch-up's last word
WRITES = "outage_writes"  # the test's own rows (the stack makes the application's database, not its tables)


def psql(host: podman.Host, sql: str, timeout: float = 60) -> str:
    proc = host.exec(
        "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", "app", "-c", sql, check=False, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def backup_metrics(host: podman.Host) -> dict[str, float]:
    """What the node exporter serves of the catch-up's text file."""
    out = host.exec("curl", "-fsS", "--max-time", "5", "http://127.0.0.1:9100/metrics", check=False).stdout
    names = {"resilient_stack_backup_repository_readable": "readable",
             "resilient_stack_backup_newest_timestamp_seconds": "newest"}  # fmt: skip
    return {names[k]: float(v) for k, _, v in (line.partition(" ") for line in out.splitlines()) if k in names}


def certificate_metrics(host: podman.Host) -> dict[str, float]:
    """What the node exporter serves of root's sync's certificates file: {file: its end, epoch seconds}."""
    out = host.exec("curl", "-fsS", "--max-time", "5", "http://127.0.0.1:9100/metrics", check=False).stdout
    prefix = 'resilient_stack_certificate_expiry_timestamp_seconds{file="'
    return {
        line[len(prefix) :].split('"', 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in out.splitlines()
        if line.startswith(prefix)
    }


def info(host: podman.Host) -> dict:
    proc = host.exec(
        "runuser",
        "-u",
        "postgres",
        "--",
        "pgbackrest",
        "--stanza=main",
        "--output=json",
        "info",
        check=False,
        timeout=150,
    )
    try:
        return json.loads(proc.stdout)[0]
    except (ValueError, IndexError):
        return {"status": {"code": -1, "message": (proc.stdout + proc.stderr)[-300:]}, "backup": []}


def catch_up_said(host: podman.Host) -> str:
    return host.exec("cat", STATE, check=False).stdout.strip()


def retained_wal_bytes(host: podman.Host) -> int:
    """The WAL segments pg_wal keeps up to the one being written: what the archive's queue (.ready), wal_keep_size and
    the last checkpoint hold back. Not the segments PostgreSQL recycled ahead for reuse (named after the current one,
    up to max_wal_size whatever the archive does; after a burst there may be hundreds of MiB of them for a while)."""
    current = psql(host, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    names = host.exec("ls", f"{ci.PG_DATA}/pg_wal", check=False).stdout.split()
    return sum(SEGMENT for n in names if re.fullmatch(r"[0-9A-F]{24}", n) and n <= current)


def wal_bytes(host: podman.Host) -> int:
    out = host.exec("du", "-sb", f"{ci.PG_DATA}/pg_wal", check=False).stdout.split()
    return int(out[0]) if out else -1


@pytest.fixture(scope="module")
def outage(image, tmp_path_factory):
    moto_site, why = _moto_site()
    if moto_site is None:
        _missing(why)
    net_range = pick_internet_subnet()
    ips = {"db": str(net_range.network_address + 10), "s3": str(net_range.network_address + 11)}
    backup = ci.BackupTarget(
        endpoint=ips["s3"],
        bucket=S3_BUCKET,
        region="us-east-1",
        key_id="resilient-stack",
        key_secret="s3-" + secrets.token_urlsafe(12),
        uri_style="path",
        verify_tls=False,
        cipher_pass="cipher-" + secrets.token_urlsafe(24),
        archive_queue_max_mb=QUEUE_MAX_MB,
    )
    member = ci.ClusterMember("db1", ips["db"])
    _, _, keys, docs = cluster_secrets([member], backup)
    with sessions.Session(image=image) as s:
        net = s.create_network(subnet=str(net_range))
        t0 = time.monotonic()
        db = s.boot(
            "db1",
            ci.render_db_member(
                name="db1",
                members=[member],
                bootstrap=True,
                scope="rs-outage",
                cluster_id=CLUSTER_ID,
                host_key=keys["db1"],
                secrets_doc=docs["db1"],
                backup=backup,
                wal_keep_size_mb=WAL_KEEP_MB,
                data_volume_id=VOLUME_IDS["db1"],  # its data volume: a directory of the machine (standins.data_volume)
            ),
            extra_args=[
                "--network",
                f"{net.name}:ip={ips['db']}",
                *standins.data_volume(tmp_path_factory.mktemp("volume") / "db1"),
            ],
        )
        db.wait_boot_finished(timeout=BOOT_LIMIT_S + 60)
        boot_s = time.monotonic() - t0

        def boot_s3() -> podman.Host:
            return s.boot(
                "s3",
                S3_USER_DATA,
                extra_args=["--network", f"{net.name}:ip={ips['s3']}", "-v", f"{moto_site}:/opt/site:ro"],
            )

        yield {"db": db, "boot_s": boot_s, "boot_s3": boot_s3}


@pytest.mark.podman
def test_a_member_whose_repository_cannot_be_reached_boots_serves_and_catches_up_later(outage):
    db = outage["db"]
    print(f"\n[outage] cloud-init finished in {outage['boot_s']:.0f} s with no repository")
    assert outage["boot_s"] < BOOT_LIMIT_S
    assert "status: done" in db.cloud_init_status()
    psql(db, f"CREATE TABLE {WRITES} (n int PRIMARY KEY, placement text NOT NULL)")
    psql(db, f"INSERT INTO {WRITES} (n, placement) VALUES (1, 'outage')")
    said = eventually(lambda: "cannot be read" in catch_up_said(db) and catch_up_said(db), 200, 2)
    assert said, f"the catch-up did not report the unreachable repository: {catch_up_said(db)!r}"
    # the repository appears: the catch-up creates the stanza and the first full backup by itself
    s3 = outage["boot_s3"]()
    s3.wait_boot_finished(timeout=300)
    t0 = time.monotonic()
    ok = eventually(
        lambda: info(db)["status"]["code"] == 0 and any(b["type"] == "full" for b in info(db)["backup"]), 300, 5
    )
    assert ok, f"no full backup after the repository appeared: {info(db)['status']}; {catch_up_said(db)}"
    print(f"[outage] stanza and first full backup {time.monotonic() - t0:.0f} s after the repository appeared")
    outage["s3"] = s3
    # what the monitoring hosts' backup alerts read (the node exporter's text file): the repository's newest backup
    newest = max(b["timestamp"]["stop"] for b in info(db)["backup"])
    assert eventually(lambda: backup_metrics(db) == {"readable": 1.0, "newest": float(newest)}, 120, 5), backup_metrics(
        db
    )
    # and what MemberCertificateExpiring reads: the end of each certificate of the member's TLS directory
    served = certificate_metrics(db)
    for name in ("ca.crt", "member.crt", "root.crt"):
        end = db.exec("openssl", "x509", "-noout", "-enddate", "-in", f"{paths.TLS_DIR}/{name}").stdout.strip()
        assert served.get(name) == float(ssl.cert_time_to_seconds(end.removeprefix("notAfter="))), (name, served)


@pytest.mark.podman
def test_losing_the_repository_never_stops_writes_nor_fills_the_disk(outage):
    db, s3 = outage["db"], outage.get("s3")
    assert s3 is not None, "needs the previous test"
    s3.kill()
    t0 = time.monotonic()
    # about 40 segments of WAL (16 MiB each) while nothing can be archived: every write is acknowledged
    psql(db, "CREATE TABLE IF NOT EXISTS filler (b bytea)")
    for i in range(40):
        psql(db, "INSERT INTO filler SELECT decode(repeat('ab', 4 * 1024 * 1024), 'hex'); SELECT pg_switch_wal();")
        psql(db, f"INSERT INTO {WRITES} (n, placement) VALUES ({100 + i}, 'outage')")
    assert psql(db, f"SELECT count(*) FROM {WRITES} WHERE n >= 100") == "40"
    written_s = time.monotonic() - t0
    generated = int(psql(db, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')"))
    bound = (WAL_KEEP_MB + QUEUE_MAX_MB + 64) * 1024 * 1024  # kept + the archive's queue + the current segments

    def bounded() -> int | None:
        psql(db, "CHECKPOINT")
        size = retained_wal_bytes(db)
        return size if 0 < size < bound else None

    size = eventually(bounded, 600, 10)
    logs = db.exec("sh", "-c", "cat /var/log/pgbackrest/*.log", check=False).stdout
    ready = db.exec("sh", "-c", f"ls {ci.PG_DATA}/pg_wal/archive_status | grep -c ready", check=False).stdout.strip()
    print(
        f"[outage] after {time.monotonic() - t0:.0f} s: {ready} segments waiting; pgBackRest's last lines:\n"
        + "\n".join(line for line in logs.splitlines() if "WARN" in line or "ERROR" in line)[-1500:]
    )
    print(
        f"[outage] 40 writes in {written_s:.0f} s with the repository gone; WAL written {generated >> 20} MiB, "
        f"pg_wal {wal_bytes(db) >> 20} MiB, of it written WAL {retained_wal_bytes(db) >> 20} MiB (bound {bound >> 20} MiB)"
    )
    assert size, f"pg_wal kept {retained_wal_bytes(db) >> 20} MiB of written WAL, over {bound >> 20} MiB"
    # and the whole directory: what it keeps plus what PostgreSQL recycled ahead, at most max_wal_size (default 1 GB)
    assert wal_bytes(db) < MAX_WAL_SIZE + bound, wal_bytes(db)
    assert "dropped WAL file" in logs, logs[-2000:]
    assert psql(db, "SELECT pg_is_in_recovery()") == "f"
    # the primary says the repository is unreadable (the catch-up's next run, once its `pgbackrest info` timed out
    # after 90 s), and keeps the newest backup it knew (its age grows: BackupLate)
    seen = eventually(lambda: (m := backup_metrics(db)).get("readable") == 0.0 and m, 300, 5)
    assert seen and seen["newest"] > 0, backup_metrics(db)


@pytest.mark.podman
def test_a_repository_that_comes_back_empty_is_reported_and_caught_up(outage):
    db, s3 = outage["db"], outage.get("s3")
    assert s3 is not None, "needs the first test"
    podman.start(s3.name)
    # test scaffolding: the stand-in's moto keeps its objects in memory and is not enabled at boot
    s3.sh(
        "for i in $(seq 1 60); do systemctl list-units >/dev/null 2>&1 && break; sleep 1; done; "
        "systemctl start moto.service && for i in $(seq 1 60); do curl -fsS -o /dev/null http://127.0.0.1:5000/ "
        f"&& break; sleep 1; done && systemctl restart nginx && curl -kfsS -X PUT https://127.0.0.1/{S3_BUCKET}",
        timeout=180,
    )
    t0 = time.monotonic()
    said = eventually(
        lambda: (
            "lost its stanza" in catch_up_said(db)
            or "lost its stanza"
            in db.exec("journalctl", "-u", ci.BACKUP_INIT_SERVICE, "--no-pager", check=False).stdout
        ),
        240,
        5,
    )
    assert said, f"the catch-up did not report the lost stanza: {catch_up_said(db)}"
    ok = eventually(
        lambda: info(db)["status"]["code"] == 0 and any(b["type"] == "full" for b in info(db)["backup"]), 300, 5
    )
    assert ok, f"no full backup in the repository that came back: {info(db)['status']}; {catch_up_said(db)}"
    print(
        f"[outage] lost stanza reported, created again and backed up {time.monotonic() - t0:.0f} s after the "
        "repository came back"
    )
