"""resilient-stack status (issue 23, point 1) without hosts: the shipped probe run here against stand-in tools
(their answers in the formats Debian's patronictl, etcdctl, pgBackRest and psql print), the judgement of what hosts
answered, and the command end to end with a stand-in ssh. The probe on real hosts: tests/integration/podman/
test_release.py (the production stack as shipped, healthy, then a site lost)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resilient_stack.ops import health
from resilient_stack.ops.health import Answer, Target, judge
from resilient_stack.ops.status import probe_script
from tests.conftest import ROOT

NOW = 1_765_000_000.0
PATRONI = [
    {"Cluster": "shop", "Member": "shop-gra-db", "Host": "10.10.0.5", "Role": "Leader", "State": "running", "TL": 2},
    {"Cluster": "shop", "Member": "shop-waw-db", "Host": "10.20.0.5", "Role": "Sync Standby", "State": "streaming",
     "TL": 2, "Lag in MB": 0},
    {"Cluster": "shop", "Member": "shop-ik-db", "Host": "10.30.0.5", "Role": "Replica", "State": "streaming", "TL": 2,
     "Lag in MB": 0},
]  # fmt: skip
ETCD = [
    {"endpoint": "https://10.10.0.5:2379", "health": True, "took": "2.1ms"},
    {"endpoint": "https://10.20.0.5:2379", "health": True, "took": "9.8ms"},
    {"endpoint": "https://10.30.0.5:2379", "health": True, "took": "12.0ms"},
]


def pgbackrest(full_age_h: float = 30, diff_age_h: float = 5) -> list:
    def backup(kind: str, age_h: float) -> dict:
        stop = int(NOW - age_h * 3600)
        return {"label": f"x{kind[0].upper()}", "type": kind, "timestamp": {"start": stop - 20, "stop": stop}}

    return [
        {
            "name": "main",
            "archive": [{"id": "15-1", "max": "000000020000000000000009", "min": "000000010000000000000001"}],
            "backup": [backup("full", full_age_h), backup("diff", diff_age_h)],
            "status": {"code": 0, "message": "ok"},
        }
    ]


def script(path: Path, text: str) -> str:
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def host(tmp_path):
    """A database host's tools, as the probe calls them, answering from files a test can change."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "patroni.json").write_text(json.dumps(PATRONI))
    (tmp_path / "etcd.json").write_text(json.dumps(ETCD))
    (tmp_path / "pgbackrest.json").write_text(json.dumps(pgbackrest()))
    (tmp_path / "psql.txt").write_text(f"{int(NOW - 30)} 0 0 f\n")
    conf = tmp_path / "patroni.yml"
    conf.write_text("scope: shop\n")
    cert = tmp_path / "member.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k"), "-out",
         str(cert), "-days", "10", "-subj", "/CN=shop-gra-db"],
        check=True, capture_output=True,
    )  # fmt: skip
    fields = {
        "PATRONI_CONF": str(conf),
        "ETCDCTL_HELPER": script(
            bin_dir / "etcdctl",
            f'[ "$*" = "--all endpoint health -w json" ] && cat {tmp_path}/etcd.json\n'
            f"grep -q false {tmp_path}/etcd.json && exit 1; exit 0\n",
        ),
        "DATA_MOUNT": str(tmp_path / "not-mounted"),
        "MEMBER_CERT": str(cert),
        "NGINX_SITE": str(tmp_path / "no-site"),
        "APP_STATE_DIR": str(tmp_path / "app"),
    }
    script(
        bin_dir / "runuser",
        f'case "$*" in *pgbackrest*) cat {tmp_path}/pgbackrest.json ;; *psql*) cat {tmp_path}/psql.txt ;; '
        f'"-u postgres -- patronictl -c {conf} list -f json") cat {tmp_path}/patroni.json ;; *) exit 3 ;; esac\n',
    )
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def run() -> dict:
        proc = subprocess.run(
            [sys.executable, "-"], input=probe_script(fields), capture_output=True, text=True, env=env, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    run.dir = tmp_path  # type: ignore[attr-defined]
    return run


def db_targets() -> list[Target]:
    return [
        Target("198.51.100.10", "database", "gra", "GRA11"),
        Target("198.51.100.20", "database", "waw", "WAW1"),
        Target("198.51.100.30", "database", "ik", "dc4-a"),
    ]


def test_the_probe_reads_a_healthy_database_host(host):
    rep = host()
    assert rep["role"] == "database" and [m["Member"] for m in rep["patroni"]["members"]] == [
        "shop-gra-db",
        "shop-waw-db",
        "shop-ik-db",
    ]
    assert all(e["health"] for e in rep["etcd"]["endpoints"])
    assert rep["backups"]["stanzas"][0]["newest"]["full"] == int(NOW - 30 * 3600)
    assert rep["archiver"] == {
        "last_archived": int(NOW - 30),
        "last_failed": None,
        "failed_count": 0,
        "in_recovery": False,
    }
    assert 9 < rep["certificates"]["member"]["days_left"] <= 10
    assert "/" in rep["disk"]
    st = judge(db_targets(), {t.address: Answer(rep) for t in db_targets()}, NOW)
    # a 10-day certificate is the only thing to act on
    assert [(f.level, f.problem) for f in st.findings] == [
        (health.WARNING, "its member certificate expires in 10 days")
    ] * 3


def test_the_probe_reports_etcd_members_down_and_the_judgement_names_the_quorum(host):
    etcd = [dict(e) for e in ETCD]
    etcd[2] = {"endpoint": "https://10.30.0.5:2379", "health": False, "error": "context deadline exceeded"}
    etcd[1] = {"endpoint": "https://10.20.0.5:2379", "health": False, "error": "context deadline exceeded"}
    (host.dir / "etcd.json").write_text(json.dumps(etcd))  # etcdctl prints them and exits 1
    rep = host()
    assert [e["health"] for e in rep["etcd"]["endpoints"]] == [True, False, False]
    st = judge(db_targets()[:1], {"198.51.100.10": Answer(rep)}, NOW)
    [f] = [f for f in st.findings if f.subject == "etcd"]
    assert f.level == health.CRITICAL and "quorum lost: 1 of 3" in f.problem


def test_a_failing_tool_is_said_in_its_section_and_the_rest_still_answers(host):
    (host.dir / "patroni.json").write_text("not json")
    rep = host()
    assert "error" in rep["patroni"] and rep["etcd"]["endpoints"] and rep["backups"]["stanzas"]
    st = judge(db_targets()[:1], {"198.51.100.10": Answer(rep)}, NOW)
    assert any(f.subject == "database" and "Patroni answers on no member" in f.problem for f in st.findings)


def good(address: str, role: str = "database", now: float = NOW) -> Answer:
    rep: dict = {"host": address, "disk": {"/": {"used_pct": 40.0}}, "certificates": {}}
    if role == "database":
        rep.update(
            patroni={"members": PATRONI},
            etcd={"endpoints": [{"endpoint": e["endpoint"], "health": True} for e in ETCD]},
            backups={"stanzas": [{"name": "main", "code": 0, "status": "ok",
                                  "newest": {"full": now - 30 * 3600, "diff": now - 3600}}]},
            archiver={"last_archived": now - 20, "last_failed": None, "failed_count": 0, "in_recovery": False},
        )  # fmt: skip
    else:
        rep["app"] = {"healthz": 200, "release": {"image": "registry.example.com/shop/web:1.0.0"}}
    return Answer(rep)


def stack() -> list[Target]:
    return [
        Target("203.0.113.11", "web", "gra", "GRA11"),
        Target("203.0.113.21", "web", "waw", "WAW1"),
        Target("203.0.113.31", "web", "ik", "dc4-a"),
        *db_targets(),
    ]


def answers(changes: dict[str, Answer | None] | None = None, now: float = NOW) -> dict[str, Answer]:
    """Every host's answer, healthy, but for ``changes`` (address -> its answer; None: not asked)."""
    out = {t.address: good(t.address, t.role, now) for t in stack()}
    for address, answer in (changes or {}).items():
        if answer is None:
            out.pop(address)
        else:
            out[address] = answer
    return out


def test_a_healthy_stack_has_nothing_to_act_on():
    st = judge(stack(), answers(), NOW)
    assert st.findings == [] and st.exit_code == 0 and st.cluster["leader"] == "shop-gra-db"
    assert "OK: nothing to act on" in health.render_text(st)


def test_a_lost_placement_is_named_with_its_action_once():
    lost = {"203.0.113.21": Answer(None, "ssh failed: timed out"), "198.51.100.20": Answer(None, "ssh failed")}
    st = judge(stack(), answers(lost), NOW)
    [f] = [f for f in st.findings if f.subject.startswith("placement")]
    assert f.subject == "placement waw (WAW1)" and f.level == health.CRITICAL and "none of its 2 hosts" in f.problem
    assert "fails over by itself" in f.action and st.exit_code == 1
    assert not [f for f in st.findings if f.subject.startswith("203.0.113.21")]  # said once, for the placement


def test_one_host_down_in_a_placement_that_answers_is_named_itself():
    st = judge(stack(), answers({"198.51.100.30": Answer(None, "ssh failed")}), NOW)
    [f] = st.findings
    assert f.subject == "198.51.100.30 (ik (dc4-a))" and f.level == health.CRITICAL and "replace it" in f.action


@pytest.mark.parametrize(
    "change, subject, level, words",
    [
        ({"Role": "Replica"}, "database", health.CRITICAL, "no leader"),
        ({"Role": "Leader", "Member": "shop-waw-db"}, "database", health.CRITICAL, "more than one leader"),
    ],
)
def test_the_cluster_without_one_leader_is_critical(change, subject, level, words):
    members = (
        [dict(PATRONI[0], **change), *PATRONI[1:]]
        if "Member" not in change
        else [PATRONI[0], dict(PATRONI[1], **change), PATRONI[2]]
    )
    base = answers()
    for address, a in base.items():
        if a.report and "patroni" in a.report:
            base[address] = Answer({**a.report, "patroni": {"members": members}})
    st = judge(stack(), base, NOW)
    assert any(f.subject == subject and f.level == level and words in f.problem for f in st.findings), st.findings


def test_a_replica_behind_or_not_streaming_is_named():
    members = [PATRONI[0], dict(PATRONI[1], **{"Lag in MB": 300}), dict(PATRONI[2], State="starting")]
    base = {a: Answer({**x.report, "patroni": {"members": members}}) if x.report and "patroni" in x.report else x
            for a, x in answers().items()}  # fmt: skip
    st = judge(stack(), base, NOW)
    found = {(f.subject, f.level) for f in st.findings}
    assert found == {("database member shop-waw-db", health.WARNING), ("database member shop-ik-db", health.CRITICAL)}


@pytest.mark.parametrize(
    "newest, level, words",
    [
        ({"full": NOW - 60 * 3600, "diff": NOW - 50 * 3600}, health.CRITICAL, "the newest backup is 2.1 days old"),
        ({"full": NOW - 9 * 86400, "diff": NOW - 3600}, health.WARNING, "the newest full backup is 9.0 days old"),
        ({}, health.CRITICAL, "the repository holds no backup"),
    ],
)
def test_backups_older_than_their_schedule_are_named(newest, level, words):
    base = {}
    for address, a in answers().items():
        if a.report and "backups" in a.report:
            a = Answer({**a.report, "backups": {"stanzas": [{"name": "main", "code": 0, "newest": newest}]}})
        base[address] = a
    st = judge(stack(), base, NOW)
    assert [(f.level, f.problem.split(" (")[0]) for f in st.findings if f.subject == "backups"] == [(level, words)]


def test_a_failing_wal_archive_on_the_primary_is_critical():
    base = answers()
    arch = {"last_archived": NOW - 4000, "last_failed": NOW - 60, "failed_count": 7, "in_recovery": False}
    base["198.51.100.10"] = Answer({**base["198.51.100.10"].report, "archiver": arch})
    st = judge(stack(), base, NOW)
    [f] = st.findings
    assert f.subject == "WAL archive" and f.level == health.CRITICAL and "pgbackrest check" in f.action


def test_certificates_disks_and_the_application_are_judged_per_host():
    base = answers()
    web = base["203.0.113.11"].report
    base["203.0.113.11"] = Answer({**web, "app": {"healthz": 502}, "disk": {"/": {"used_pct": 96.5}},
                                   "certificates": {"web": {"days_left": 2.0}}})  # fmt: skip
    st = judge(stack(), base, NOW)
    got = sorted((f.level, f.problem.split(" (")[0]) for f in st.findings)
    assert got == [
        (health.CRITICAL, "its site does not answer /healthz"),
        (health.CRITICAL, "its web certificate expires in 2 days"),
        (health.CRITICAL, "the root disk"),
    ]


# -- the command ---------------------------------------------------------------------------------------------


def outputs(tmp_path: Path) -> Path:
    doc = {
        "placements": {
            "gra": {"region": "GRA11", "publicAddresses": ["203.0.113.11"]},
            "waw": {"region": "WAW1", "publicAddresses": ["203.0.113.21"]},
            "ik": {"region": "dc4-a", "publicAddresses": ["203.0.113.31"]},
        },
        "databaseAddresses": {"gra": "198.51.100.10", "waw": "198.51.100.20", "ik": "198.51.100.30"},
        "databasePrimaryAddress": "198.51.100.10",
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(doc))
    return path


def fake_ssh(tmp_path: Path, down: tuple[str, ...] = ()) -> Path:
    """ssh's stand-in: `ssh OPTIONS -- USER@ADDRESS 'sudo python3 -'` with the probe on stdin; answers with the
    report kept for that address (written beside it), or as ssh does when a host is unreachable (exit 255)."""
    reports = tmp_path / "reports"
    reports.mkdir(exist_ok=True)
    for address, a in answers(now=time.time()).items():  # the command judges at its own time
        (reports / address).write_text(json.dumps(a.report))
    down_list = " ".join(down)
    return Path(
        script(
            tmp_path / "ssh",
            'while [ "$1" != "--" ]; do shift; done; dest=$2; addr=${dest#*@}\n'
            f'[ "$3" = "sudo python3 -" ] || {{ echo "unexpected remote command: $3" >&2; exit 99; }}\n'
            'head -c 40 | grep -q "resilient-stack status" || { echo "no probe on stdin" >&2; exit 98; }\n'
            f'for d in {down_list}; do [ "$d" = "$addr" ] && {{ echo "ssh: connect to host $addr port 22: timed out" >&2; exit 255; }}; done\n'
            f'cat {reports}/"$addr"\n',
        )
    )


def test_the_command_asks_every_host_and_exits_0_on_a_healthy_stack(cli, tmp_path):
    r = cli("status", "shop", "--outputs", str(outputs(tmp_path)), "--ssh", str(fake_ssh(tmp_path)), "--format", "json")
    assert r.returncode == 0, (r.stdout.decode(), r.stderr.decode())
    report = json.loads(r.stdout)
    assert report["ok"] is True and report["findings"] == [] and report["cluster"]["leader"] == "shop-gra-db"
    assert {h["address"] for h in report["hosts"]} == {t.address for t in stack()}
    assert all(h["state"] == "up" for h in report["hosts"])


def test_the_command_names_a_lost_site_and_exits_1(cli, tmp_path):
    r = cli("status", "shop", "--outputs", str(outputs(tmp_path)),
            "--ssh", str(fake_ssh(tmp_path, down=("203.0.113.21", "198.51.100.20"))))  # fmt: skip
    text = r.stdout.decode()
    assert r.returncode == 1, r.stderr.decode()
    assert "CRITICAL: placement waw (WAW1): none of its 2 hosts answers" in text and "action:" in text


def test_outputs_of_something_else_are_one_line_and_exit_2(cli, tmp_path):
    bad = tmp_path / "o.json"
    bad.write_text('{"placements": {}}')
    r = cli("status", "shop", "--outputs", str(bad), "--ssh", str(fake_ssh(tmp_path)))
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and "o.json" in err and "missing outputs" in err


def test_the_probe_ships_with_the_package():
    assert (ROOT / "resilient_stack" / "ops" / "data" / "status-probe.py.in").is_file()
    compile(probe_script(), "status-probe", "exec")


def test_a_repository_pgbackrest_cannot_read_is_said_as_such_not_as_empty():
    """What the probe read on a live drill's members while the backups' site burned: pgBackRest lists no backup and a
    status of 99 ("other")."""
    base = {}
    for address, a in answers().items():
        if a.report and "backups" in a.report:
            stanza = {"name": "main", "code": 99, "status": "other", "newest": {}, "archive_max": None}
            a = Answer({**a.report, "backups": {"stanzas": [stanza]}})
        base[address] = a
    st = judge(stack(), base, NOW)
    [f] = st.findings
    assert f.level == health.CRITICAL and f.problem.startswith("pgBackRest cannot read the repository (stanza main")
    assert "object storage" in f.action


def test_a_monitoring_host_says_its_services_cluster_and_alerts_and_what_stopped_is_named(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "prometheus.yml").write_text("global: {}\n")
    status = {"cluster": {"status": "ready", "peers": [{"name": "a"}, {"name": "b"}]}}
    targets = {"data": {"activeTargets": [
        {"labels": {"instance": "shop-gra-db"}, "health": "down"},
        {"labels": {"instance": "shop-waw-db"}, "health": "up"},
    ]}}  # fmt: skip
    alerts = {"data": {"alerts": [{"labels": {"alertname": "HostDown"}, "state": "firing"},
                                  {"labels": {"alertname": "SiteDown"}, "state": "pending"}]}}  # fmt: skip
    for name, doc in (("status", status), ("targets", targets), ("alerts", alerts)):
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    script(bin_dir / "systemctl", 'if [ "$2" = prometheus ]; then echo active; else echo inactive; exit 3; fi\n')
    script(
        bin_dir / "curl",
        f'case "$*" in *9093/api/v2/status*) cat {tmp_path}/status.json ;; *v1/targets*) cat {tmp_path}/targets.json '
        f";; *v1/alerts*) cat {tmp_path}/alerts.json ;; *) exit 22 ;; esac\n",
    )
    fields = {
        "PATRONI_CONF": str(tmp_path / "none"),
        "NGINX_SITE": str(tmp_path / "none"),
        "PROMETHEUS_CONF": str(tmp_path / "prometheus.yml"),
        "DATA_MOUNT": str(tmp_path / "not-mounted"),
        "MEMBER_CERT": str(tmp_path / "none"),
        "DNS_ZONE": str(tmp_path / "no-zone"),
    }
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def probe() -> dict:
        proc = subprocess.run(
            [sys.executable, "-"], input=probe_script(fields), capture_output=True, text=True, env=env, timeout=60
        )
        return json.loads(proc.stdout)

    (tmp_path / "zone").write_text("; the stack's zone\n")
    served = probe_script({**fields, "DNS_ZONE": str(tmp_path / "zone")})
    proc = subprocess.run([sys.executable, "-"], input=served, capture_output=True, text=True, env=env, timeout=60)
    assert (
        json.loads(proc.stdout)["monitoring"]["services"]["pdns.service"] == "inactive"
    )  # a name server: PowerDNS too
    rep = probe()
    assert rep["role"] == "monitoring"
    assert rep["monitoring"] == {
        "services": {"prometheus": "active", "prometheus-alertmanager": "inactive"},
        "cluster": {"status": "ready", "peers": 2},
        "targets": 2,
        "down": ["shop-gra-db"],
        "firing": ["HostDown"],
    }
    mon = [Target("203.0.113.40", "monitoring", "waw", "WAW1"), Target("203.0.113.50", "monitoring", "ik", "dc4-a")]
    st = judge([*stack(), *mon], {**answers(), "203.0.113.40": Answer(rep), "203.0.113.50": Answer(rep)}, NOW)
    stopped = [f for f in st.findings if "prometheus-alertmanager not running" in f.problem]
    assert len(stopped) == 2 and all(f.level == health.WARNING for f in stopped)
    assert "alerts firing on 203.0.113.40: HostDown" in health.render_text(st)
    # both running, a cluster short of a peer: an alert may come twice
    fine = {**rep, "monitoring": {**rep["monitoring"], "services": {"prometheus": "active", "x": "active"},
                                  "cluster": {"status": "ready", "peers": 1}}}  # fmt: skip
    st = judge([*stack(), *mon], {**answers(), "203.0.113.40": Answer(fine), "203.0.113.50": Answer(fine)}, NOW)
    assert [f.problem for f in st.findings][0].startswith("its Alertmanager sees 1 of the 2 in its cluster")
