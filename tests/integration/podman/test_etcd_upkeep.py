"""etcd under a lowered quota and accelerated writes stays below it for the equivalent of a year (issue 22, review H1).

One container of the host image plays a database host's etcd: Debian's etcd-server 3.4.23 and etcd-client (the
user data's ``packages:``), the cluster CA, a member and an administrator certificate issued by the product's PKI
(:func:`resilient_stack.components.pki.issue`) at the product's paths, ``/etc/default/etcd`` rendered by the
product (:func:`resilient_stack.hosts.cluster.etcd_environment`, a cluster of one) with a LOWERED quota and a
SCALED retention, the product's etcdctl helper and defragmentation script. Patroni-shaped writes (per loop the
leader's ``/status`` and each of three members' ``/members/<name>``, 160 to 221 bytes, a changing
``xlog_location``) go to etcd's JSON gateway (the API Patroni's etcd3 client uses) as Patroni sends them: mutual
TLS with the member's certificate, etcd's RBAC on (the product's ``resilient-stack-etcd-auth``) and Patroni's etcd
user ``patroni`` (the administrator's certificate is etcd's ``root``, which the helper uses; through the gateway a
certificate's common name is not what etcd authorises, the token is). A small Python client inside the container
(several keep-alive connections) writes as fast as the container allows, up to :data:`RATE_CAP`; the database's
size is sampled every second with ``resilient-stack-etcdctl endpoint status -w json`` (``dbSize``,
``dbSizeInUse``).

The year, in numbers (asserted by :func:`test_the_compression_is_a_year_of_patroni`):

* Patroni writes about 4 revisions per loop under steady writes (the review's measurement), one loop every
  ``loop_wait`` = 10 s (:data:`resilient_stack.hosts.cluster.DCS`): 0.4 revisions/s, 12,623,040 revisions a year;
  at the review's 259 B per revision that is 3.27 GB, 6.09 times the product's 512 MiB quota.
* With the quota lowered to :data:`QUOTA_MB` MiB, a year is the same multiple of the quota: 12,623,040 x 3 / 512
  = 73,964 revisions (:data:`YEAR_REVISIONS`; the bytes per revision cancel out). The test writes them all.
* Time is compressed by the write rate: at :data:`RATE_CAP` = 1,440 puts/s, 1 s of the test is 1 h of Patroni
  (0.4/s x 3,600 s = 1,440 revisions), so the product's retention of ``1h`` becomes ``1s`` (:data:`RETENTION`): the
  database keeps about as many revisions as the product's does. etcd 3.4.23 accepts it: a retention that is not a
  whole number is a Go duration (``embed/etcd.go``, ``parseCompactionRetention``), and the periodic compactor
  (``etcdserver/api/v3compactor/periodic.go``: ``getRetryInterval``, ``getCompactInterval``, ``Run``) samples the
  revision every tenth of the retention and, from one retention after start, compacts every retention (the
  retention itself when under an hour, hourly above) to the revision of one retention ago: a window of 1 to 2
  retentions of history, 1 to 2 h in the product (1,440 to 2,880 revisions), 1 to 2 s here. A machine slower than
  the cap keeps fewer revisions per window (printed), a faster one never more.

Asserted: every put of the year succeeded; no alarm at the end; the database never came near the quota (its
peak under three quarters of it) and reached a plateau (the last third of the run grows it by less than a tenth of the
quota); the product's defragmentation script runs and leaves it smaller or equal.

The control (same container, a fresh data directory): the same writes with auto-compaction off (retention 0,
etcd's default) reach the quota long before the year: etcd raises ``alarm:NOSPACE`` and refuses a put with
"database space exceeded"; the defragmentation script alone does not disarm it (nothing to give back), a
manual ``compact --physical`` then the script do. The figures (puts/s, revisions, plateau, the control's
revisions at NOSPACE) are printed (``pytest -s``) and written in docs/operations.md ("etcd upkeep").

Needs podman and the host image (FAILS without them when RESILIENT_STACK_REQUIRE_TOOLS=1); the container reaches
Debian's mirror at boot, as the stack's hosts do. About 1.5 minutes (up to 3 on a busy machine with a slow mirror).

    pytest -m podman -s tests/integration/podman/test_etcd_upkeep.py
"""

from __future__ import annotations

import datetime
import json
import math
import re
import secrets
import time
from typing import Any

import pytest
import yaml

from resilient_stack.components.pki import issue
from resilient_stack.drills.plan import pick_internet_subnet
from resilient_stack.hosts import cluster, paths, postgres
from resilient_stack.hosts.document import dump, write_file
from resilient_stack.testing import podman, sessions

from .test_boot import image  # noqa: F401 (fixture)

MIB = 1024 * 1024
# Patroni under steady writes (the review's measurement): the leader's /status and each member's key per loop
PUTS_PER_LOOP = 4
PATRONI_RATE = PUTS_PER_LOOP / cluster.DCS.loop_wait  # revisions per second
YEAR_S = 365.25 * 86400
PATRONI_YEAR = round(PATRONI_RATE * YEAR_S)  # 12,623,040 revisions
REVIEW_BYTES_PER_REVISION = 259
PRODUCT_QUOTA_MB = cluster.ETCD.quota_mb  # 512
YEAR_QUOTAS = PATRONI_YEAR * REVIEW_BYTES_PER_REVISION / (PRODUCT_QUOTA_MB * MIB)  # ~6.09 quotas a year

QUOTA_MB = 3
YEAR_REVISIONS = math.ceil(PATRONI_YEAR * QUOTA_MB / PRODUCT_QUOTA_MB)  # 73,964: a year under the lowered quota
RATE_CAP = PATRONI_RATE * 3600  # 1,440 puts/s: one second of the test is one hour of Patroni
RETENTION = "1s"  # the product's "1h" at that compression
THREADS = 16  # keep-alive connections writing at once (etcd batches their fsyncs)
YEAR_DEADLINE_S = 150  # the year must be written by then: at least ~500 puts/s
CONTROL_DEADLINE_S = 60
SCOPE = "rs-upkeep"
WRITER = "/usr/local/lib/resilient-stack-test/etcd-writer.py"
ENV_YEAR = paths.ETCD_ENV + ".year"  # the lowered quota, the scaled retention
ENV_CONTROL = paths.ETCD_ENV + ".control"  # the same with auto-compaction off (etcd's default)
ETCDCTL = paths.ETCDCTL_HELPER

# The client inside the container (python3 of the image, standard library only): Patroni-shaped puts through the
# JSON gateway as Patroni's etcd3 client sends them (mutual TLS with the member's certificate, etcd user `patroni`
# and its token), THREADS keep-alive connections, at most --rate puts/s; stops at --target puts, at --deadline
# seconds or at the first refused put, whichever comes first; a sampler thread records the database's size through
# the product's helper every --every seconds. One JSON document out.
WRITER_PY = r'''
import argparse, base64, json, os, re, socket, ssl, subprocess, threading, time

p = argparse.ArgumentParser()
for name, kind in (("--target", int), ("--deadline", float), ("--rate", float), ("--threads", int),
                   ("--every", float), ("--scope", str), ("--ca", str), ("--cert", str), ("--key", str),
                   ("--port", int), ("--helper", str), ("--user", str)):
    p.add_argument(name, type=kind, required=True)
a = p.parse_args()

MEMBERS = {"shop-gra-db": "198.18.40.10", "shop-waw-db": "198.18.41.10", "shop-ik-db": "198.18.42.10"}
PREFIX = "/service/%s/" % a.scope


def member(name, leader):
    """Patroni 3.0.2's member data, its xlog_location left as %d."""
    ip = MEMBERS[name]
    data = {"conn_url": "postgres://%s:5432/postgres" % ip, "api_url": "https://%s:8008/patroni" % ip,
            "state": "running", "role": "master" if leader else "replica", "version": "3.0.2",
            "xlog_location": 0, "timeline": 3}
    if not leader:
        data["replication_state"] = "streaming"
    return json.dumps(data, separators=(",", ":")).replace('"xlog_location":0', '"xlog_location":%d')


STATUS = json.dumps({"optime": 0, "slots": {m.replace("-", "_"): 1 for m in MEMBERS},
                     "failsafe": {"shop-gra-db": "https://%s:8008/patroni" % MEMBERS["shop-gra-db"]}},
                    separators=(",", ":")).replace(":0,", ":%d,").replace(":1", ":%d")
# (key, value template, how many xlog positions it holds, its lag behind the leader): one loop of Patroni's writes
LOOP = [(PREFIX + "status", STATUS, 1 + len(MEMBERS), 0)] + [
    (PREFIX + "members/" + m, member(m, i == 0), 1, 512 * i) for i, m in enumerate(MEMBERS)]
KEYS = [base64.b64encode(k.encode()).decode() for k, _, _, _ in LOOP]


def values(n):
    lsn = 0x3000000 + 8192 * n
    return [v % ((lsn - lag,) * count) for _, v, count, lag in LOOP]


ctx = ssl.create_default_context(cafile=a.ca)
ctx.load_cert_chain(a.cert, a.key)


class Conn:
    """One keep-alive HTTPS connection to the gateway; a loop's requests go out together (HTTP/1.1 pipelining), each
    a put of its own (a revision of its own), as Patroni's are."""

    def __init__(self):
        self.s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", a.port), timeout=20),
                                 server_hostname="127.0.0.1")
        self.buf = b""

    def send(self, path, body, token=None):
        head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n" % (path, a.port)
        if token:
            head += "Authorization: %s\r\n" % token
        return (head + "Content-Length: %d\r\n\r\n" % len(body)).encode() + body

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self.recv()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
        while len(self.buf) < length:
            self.recv()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body

    def recv(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise OSError("the gateway closed the connection")
        self.buf += chunk


def authenticate():
    """Patroni's way: a token for its etcd user (RBAC), sent with every request."""
    c = Conn()
    body = json.dumps({"name": a.user, "password": os.environ["ETCD_PASSWORD"]}).encode()
    c.s.sendall(c.send("/v3/auth/authenticate", body))
    status, data = c.response()
    if status != 200:
        raise SystemExit("authentication as %s failed: HTTP %d %s" % (a.user, status, data[:300]))
    return json.loads(data)["token"]


TOKEN = authenticate()
REVISION = re.compile(rb'"revision":"(\d+)"')
lock = threading.Lock()
stop = threading.Event()
out = {"puts": 0, "loops": 0, "error": None, "error_puts": None, "first_rev": None, "last_rev": 0,
       "value_bytes": sorted(len(v) for v in values(1)), "samples": []}
t0 = time.monotonic()


def writer():
    conn = Conn()
    while not stop.is_set():
        with lock:
            n = out["loops"]
            out["loops"] += 1
        due = t0 + n * len(LOOP) / a.rate
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        revs, err = [], None
        try:
            conn.s.sendall(b"".join(
                conn.send("/v3/kv/put", ('{"key":"%s","value":"%s"}' % (k, base64.b64encode(v.encode()).decode()))
                          .encode(), TOKEN) for k, v in zip(KEYS, values(n))))
            for _ in LOOP:
                status, data = conn.response()
                if status != 200:
                    err = "HTTP %d: %s" % (status, data.decode(errors="replace")[:300])
                    break
                revs.append(int(REVISION.search(data).group(1)))
        except (OSError, ValueError, AttributeError) as exc:
            err = "%s: %s" % (type(exc).__name__, exc)
        with lock:
            out["puts"] += len(revs)
            if revs:
                out["last_rev"] = max(out["last_rev"], *revs)
                out["first_rev"] = min(out["first_rev"] or revs[0], *revs)
            if err is not None:
                if out["error"] is None:
                    out["error"], out["error_puts"] = err, out["puts"]
                stop.set()
                return
            if out["puts"] >= a.target or time.monotonic() - t0 >= a.deadline:
                stop.set()


def status():
    proc = subprocess.run([a.helper, "endpoint", "status", "-w", "json"], capture_output=True, text=True, timeout=30)
    s = json.loads(proc.stdout)[0]["Status"]
    return {"rev": int(s["header"]["revision"]), "db": int(s["dbSize"]),
            "in_use": int(s["dbSizeInUse"]) if "dbSizeInUse" in s else None}


def sample():
    with lock:
        puts = out["puts"]
    t = round(time.monotonic() - t0, 2)
    try:
        out["samples"].append(dict(t=t, puts=puts, **status()))
    except Exception as exc:  # recorded: the test says which sample failed
        out["samples"].append({"t": t, "puts": puts, "error": str(exc)[:200]})


def sampler():
    while True:
        sample()
        if stop.wait(a.every):
            return


threads = [threading.Thread(target=writer) for _ in range(a.threads)]
s = threading.Thread(target=sampler)
s.start()
for t in threads:
    t.start()
for t in threads:
    t.join()
out["seconds"] = round(time.monotonic() - t0, 2)
stop.set()
s.join()
sample()
print(json.dumps(out))
'''


def environment(me: cluster.ClusterMember, retention: str) -> str:
    """The product's /etc/default/etcd for a cluster of one, with the lowered quota and ``retention``."""
    return cluster.etcd_environment(
        me=me, members=[me], token=SCOPE, settings=cluster.EtcdSettings(quota_mb=QUOTA_MB, retention=retention)
    )


def user_data(me: cluster.ClusterMember, etcd_password: str) -> str:
    issued = issue({"scope": SCOPE, "members": {me.name: me.address}}, now=datetime.datetime.now(datetime.timezone.utc))
    defrag = [
        f for f in postgres.etcd_defrag_files(index=0, quota_mb=QUOTA_MB) if f["path"] == paths.ETCD_DEFRAG_SCRIPT
    ]
    assert len(defrag) == 1
    # written after the packages (defer): the etcd user and the ssl-cert group exist then, as on a cloud image
    files = [
        write_file(paths.CA_CERT, issued["caCert"], defer=True),
        write_file(paths.MEMBER_CERT, issued["certs"][me.name], defer=True),
        write_file(
            paths.MEMBER_KEY, issued["keys"][me.name], owner=f"root:{paths.TLS_GROUP}", permissions="0640", defer=True
        ),
        write_file(paths.ADMIN_CERT, issued["adminCerts"][me.name], defer=True),
        write_file(paths.ADMIN_KEY, issued["adminKeys"][me.name], permissions="0600", defer=True),
        write_file(paths.ETCD_ENV, environment(me, RETENTION), defer=True),
        write_file(ENV_YEAR, environment(me, RETENTION), defer=True),
        write_file(ENV_CONTROL, environment(me, "0"), defer=True),
        write_file(ETCDCTL, postgres.etcdctl_helper(me=me, members=[me]), permissions="0755"),
        *defrag,
        # etcd's RBAC as every member gets it (db-start runs the script once etcd answers); the script reads Patroni's
        # etcd password from Patroni's configuration, of which this host needs nothing else (Patroni is not started)
        write_file(paths.ETCD_AUTH_SCRIPT, postgres.etcd_auth_script(scope=SCOPE), permissions="0755"),
        write_file(
            paths.PATRONI_CONF,
            yaml.safe_dump({"etcd3": {"username": cluster.ETCD_USER, "password": etcd_password}}),
            permissions="0600",
            defer=True,
        ),
        write_file(WRITER, WRITER_PY),
    ]
    return dump(
        {
            "packages": ["etcd-server", "etcd-client", "ssl-cert"],
            "write_files": files,
            "runcmd": [
                ["usermod", "-a", "-G", paths.TLS_GROUP, "etcd"],  # as the product does: etcd reads the member's key
                ["install", "-d", "-o", "etcd", "-g", "etcd", "-m", "0700", paths.ETCD_DATA],
                ["systemctl", "restart", f"{paths.ETCD_SERVICE}.service"],
            ],
        }
    )


@pytest.fixture(scope="module")
def host(image):  # noqa: F811 (the fixture imported above)
    net_range = pick_internet_subnet()
    me = cluster.ClusterMember("etcd1", str(net_range.network_address + 10))
    password = "etcd-" + secrets.token_urlsafe(18)
    with sessions.Session(image=image) as s:
        net = s.create_network(subnet=str(net_range))
        t0 = time.monotonic()
        h = s.boot("etcd1", user_data(me, password), extra_args=["--network", f"{net.name}:ip={me.address}"])
        h.wait_boot_finished(timeout=300)
        print(f"\n[etcd-upkeep] host booted in {time.monotonic() - t0:.0f} s")
        yield h, password


def etcdctl(h: podman.Host, *args: str, check: bool = True, timeout: float = 60):
    proc = h.exec(ETCDCTL, *args, check=False, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"etcdctl {' '.join(args)}: {proc.stderr.strip()[-500:]}"
    return proc


def status(h: podman.Host) -> dict[str, int]:
    s = json.loads(etcdctl(h, "endpoint", "status", "-w", "json").stdout)[0]["Status"]
    return {"rev": int(s["header"]["revision"]), "db": int(s["dbSize"]), "in_use": int(s.get("dbSizeInUse", -1))}


def fresh_etcd(h: podman.Host, env: str) -> None:
    """etcd (Debian's unit) started again on an empty data directory with the environment file ``env``, then its
    users and authentication (the product's script, as db-start runs it)."""
    h.sh(
        f"systemctl stop {paths.ETCD_SERVICE} && rm -rf {paths.ETCD_DATA}/member && cp {env} {paths.ETCD_ENV} "
        f"&& systemctl start {paths.ETCD_SERVICE}",
        timeout=120,
    )
    deadline = time.monotonic() + 60
    while etcdctl(h, "endpoint", "health", check=False).returncode != 0:
        assert time.monotonic() < deadline, "etcd did not answer within 60 s of its start"
        time.sleep(1)
    auth = h.exec(paths.ETCD_AUTH_SCRIPT, check=False, timeout=120)
    assert auth.returncode == 0 and "authentication enabled" in auth.stdout, auth.stdout + auth.stderr


def write(host: tuple[podman.Host, str], *, target: int, deadline: float) -> dict[str, Any]:
    """The Patroni-shaped writes, as Patroni authenticates: the member's certificate, user ``patroni``."""
    h, password = host
    tls = {"--ca": paths.CA_CERT, "--cert": paths.MEMBER_CERT, "--key": paths.MEMBER_KEY}
    args = [
        "python3",
        WRITER,
        "--target",
        str(target),
        "--deadline",
        str(deadline),
        "--rate",
        str(RATE_CAP),
        "--threads",
        str(THREADS),
        "--every",
        "1",
        "--scope",
        SCOPE,
        "--port",
        "2379",
        "--helper",
        ETCDCTL,
        "--user",
        cluster.ETCD_USER,
        *[x for kv in tls.items() for x in kv],
    ]
    proc = h.exec(*args, check=False, timeout=deadline + 90, env={"ETCD_PASSWORD": password})
    assert proc.returncode == 0, f"the writer failed: {proc.stderr.strip()[-1500:]}"
    out = json.loads(proc.stdout)
    bad = [s for s in out["samples"] if "error" in s]
    assert not bad, f"endpoint status failed while writing: {bad[:3]}"
    return out


def defrag(h: podman.Host, *args: str) -> tuple[int, str]:
    """The product's upkeep script, as its unit runs it (``--now``: its weekly defragmentation, or an operator's);
    what it said, with how long it took."""
    t0 = time.monotonic()
    proc = h.exec(paths.ETCD_DEFRAG_SCRIPT, *args, check=False, timeout=180)
    return proc.returncode, (proc.stdout + proc.stderr).strip() + f"\n({time.monotonic() - t0:.1f} s)"


def _seconds(duration: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert m, duration
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def test_the_compression_is_a_year_of_patroni():
    """The numbers of the docstring, from the product's settings."""
    assert PATRONI_RATE == pytest.approx(0.4) and PATRONI_YEAR == 12_623_040
    assert 6.0 < YEAR_QUOTAS < 6.2, YEAR_QUOTAS  # a year of Patroni's revisions is ~6.1 product quotas
    assert YEAR_REVISIONS == 73_964
    compression = RATE_CAP / PATRONI_RATE  # seconds of Patroni per second of the test
    assert compression == 3600
    assert _seconds(cluster.ETCD.retention) / compression == _seconds(RETENTION)


@pytest.mark.podman
def test_a_year_of_patroni_writes_stays_below_a_lowered_quota(host):
    h = host[0]
    fresh_etcd(h, ENV_YEAR)
    env = h.exec("cat", paths.ETCD_ENV).stdout
    assert f"ETCD_AUTO_COMPACTION_RETENTION={RETENTION}\n" in env
    assert f"ETCD_QUOTA_BACKEND_BYTES={QUOTA_MB * MIB}\n" in env
    out = write(host, target=YEAR_REVISIONS, deadline=YEAR_DEADLINE_S)
    samples = out["samples"]
    quota = QUOTA_MB * MIB
    rate = out["puts"] / out["seconds"]
    peak = max(s["db"] for s in samples)
    third = [s for s in samples if s["puts"] >= 2 * out["puts"] / 3]
    before = max(s["db"] for s in samples if s["puts"] < 2 * out["puts"] / 3)
    growth = max(s["db"] for s in third) - before
    end = samples[-1]
    print(
        f"[etcd-upkeep] a year ({YEAR_REVISIONS:,} revisions = {YEAR_QUOTAS:.2f} x the {QUOTA_MB} MiB quota at "
        f"{REVIEW_BYTES_PER_REVISION} B each) in {out['seconds']:.0f} s: {out['puts']:,} puts, {rate:.0f} puts/s "
        f"(x{rate / PATRONI_RATE:,.0f} Patroni's rate; {rate * _seconds(RETENTION):.0f} revisions per "
        f"{RETENTION} window, the product's 1h: {PATRONI_RATE * 3600:.0f}); values {out['value_bytes']} bytes; "
        f"revisions {out['first_rev']:,}..{out['last_rev']:,}"
    )
    print(
        f"[etcd-upkeep] database: peak {peak / MIB:.2f} MiB of {QUOTA_MB} MiB, at the end {end['db'] / MIB:.2f} MiB "
        f"({end['in_use'] / MIB:.2f} MiB in use); last third grew {growth / 1024:.0f} KiB"
    )
    print(
        "[etcd-upkeep] samples (puts, dbSize KiB, in use KiB): "
        + ", ".join(
            f"({s['puts']}, {s['db'] // 1024}, {s['in_use'] // 1024})" for s in samples[:: max(1, len(samples) // 12)]
        )
    )
    assert out["error"] is None, f"a put was refused after {out['error_puts']:,} puts: {out['error']}"
    assert out["puts"] >= YEAR_REVISIONS, (
        f"only {out['puts']:,} of the year's {YEAR_REVISIONS:,} puts in {YEAR_DEADLINE_S} s ({rate:.0f} puts/s)"
    )
    assert out["last_rev"] - out["first_rev"] + 1 >= YEAR_REVISIONS, "every put is a revision"
    assert etcdctl(h, "alarm", "list").stdout.strip() == "", "an alarm was raised"
    # the product keeps the same history (1 to 2 h of revisions, about a MiB) under a quota 170 times larger
    assert peak < quota * 3 / 4, f"the database reached {peak / MIB:.2f} MiB of a {QUOTA_MB} MiB quota"
    assert growth < quota / 10, f"no plateau: the last third of the year grew the database by {growth / 1024:.0f} KiB"
    # the hourly upkeep follows its rule: nothing to do while the database is at most half its quota; past half (the
    # plateau of 1.1 to 1.6 MiB sits at half the lowered 3 MiB), it defragments at once and gets the space back. The
    # weekly one defragments, reports, and finds no alarm to disarm.
    before_hourly = status(h)
    rc, said = defrag(h)
    assert rc == 0, said
    if before_hourly["db"] > quota / 2:
        assert "before: database" in said and status(h)["db"] <= quota / 2, said
    else:
        assert "nothing to do" in said, said
    pre = status(h)
    rc, said = defrag(h, "--now")
    post = status(h)
    print(f"[etcd-upkeep] defragmentation: {pre['db'] / MIB:.2f} MiB -> {post['db'] / MIB:.2f} MiB\n{said}")
    assert rc == 0, said
    assert "before: database" in said and "after: database" in said and "alarms were raised" not in said, said
    assert post["db"] <= pre["db"]


@pytest.mark.podman
def test_control_without_compaction_the_same_writes_hit_the_quota_and_the_script_recovers(host):
    h = host[0]
    fresh_etcd(h, ENV_CONTROL)
    assert "ETCD_AUTO_COMPACTION_RETENTION=0\n" in h.exec("cat", paths.ETCD_ENV).stdout
    out = write(host, target=YEAR_REVISIONS, deadline=CONTROL_DEADLINE_S)
    alarms = etcdctl(h, "alarm", "list").stdout
    at = status(h)
    refused = out["error_puts"] or out["puts"]
    per_revision = at["db"] / max(1, at["rev"])
    days = refused / YEAR_REVISIONS * 365.25
    product_days = PRODUCT_QUOTA_MB * MIB / (per_revision * PATRONI_RATE) / 86400
    print(
        f"\n[etcd-upkeep] control (no compaction): refused after {refused:,} puts in {out['seconds']:.0f} s "
        f"({refused / max(out['seconds'], 0.01):.0f} puts/s), revision {at['rev']:,}, database {at['db'] / MIB:.2f} "
        f"MiB = {per_revision:.0f} B per revision; {days:.0f} days of the compressed year "
        f"(the product's {PRODUCT_QUOTA_MB} MiB at Patroni's rate: {product_days:.0f} days)\n"
        f"[etcd-upkeep] refused with: {out['error']}\n[etcd-upkeep] alarms: {alarms.strip()}"
    )
    assert out["error"] and "database space exceeded" in out["error"], f"no put refused: {out['error']}"
    assert refused < YEAR_REVISIONS / 3, "the control filled the quota too late to prove anything"
    assert "alarm:NOSPACE" in alarms, alarms
    assert at["db"] >= QUOTA_MB * MIB * 0.9, "NOSPACE with the database far from its quota"
    refused_put = etcdctl(h, "put", "/probe", "x", check=False)
    assert refused_put.returncode != 0 and "database space exceeded" in refused_put.stderr

    # the hourly upkeep sees the alarm and defragments at once; that alone gives nothing back (every revision is
    # still live): the script refuses to disarm
    rc, said = defrag(h)
    print(f"[etcd-upkeep] defragmentation without compaction (rc {rc}): {status(h)['db'] / MIB:.2f} MiB\n{said}")
    assert rc != 0 and "NOT disarmed" in said, said
    assert "alarm:NOSPACE" in etcdctl(h, "alarm", "list").stdout

    # the manual recovery of docs/operations.md: compact (physically), defragment, disarm (the script's)
    etcdctl(h, "compact", "--physical", str(status(h)["rev"]))
    rc, said = defrag(h)
    after = status(h)
    print(
        f"[etcd-upkeep] after compact --physical and the script (rc {rc}): database {after['db'] / MIB:.2f} MiB\n{said}"
    )
    assert rc == 0 and "disarmed: this member's database is below 80 % of its quota again" in said, said
    assert etcdctl(h, "alarm", "list").stdout.strip() == ""
    etcdctl(h, "put", "/probe", "x")
