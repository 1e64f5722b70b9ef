"""The monitoring hosts (issue 23, point 2): what they scrape, their alert rules (checked and unit-tested by Debian's own
promtool), Alertmanager's configuration (checked by amtool), the host's user data, and the exporters on every host."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from resilient_stack.hosts import exporters, firewall, monitoring, paths, secrets
from tests.conftest import ROOT, need_tool
from tests.hosts.samples import HOST_KEY, files, load, member, web

HOSTS = [
    monitoring.Target("shop-gra-web-1", "198.51.100.10", "web", "gra", "Gravelines campus (FR)"),
    monitoring.Target("shop-gra-db", "198.51.100.20", "database", "gra", "Gravelines campus (FR)"),
    monitoring.Target("shop-waw-db", "203.0.113.20", "database", "waw", "Warsaw (PL)"),
    monitoring.Target("shop-waw-mon", "203.0.113.30", "monitoring", "waw", "Warsaw (PL)"),
    monitoring.Target("shop-ik-mon", "2001:db8::30", "monitoring", "ik", "Geneva area (CH)"),
]
RECEIVERS = monitoring.Receivers(
    webhooks=("https://hooks.example.com/T0KEN",),
    email=monitoring.EmailReceiver(
        ("ops@example.com",), "alerts@example.com", "smtp.example.com:587", "alerts", "S3cret"
    ),
)


def tools() -> tuple[str, str]:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-prometheus-tools.sh"), "--check"], capture_output=True, text=True
    )
    promtool, amtool = proc.stdout.split()
    need_tool(proc.returncode == 0, "promtool and amtool (bash scripts/install-prometheus-tools.sh, make tools)")
    return promtool, amtool


def mon(**kw) -> str:
    first = monitoring.monitoring_runtime(
        hosts=HOSTS, https=True, peers=["2001:db8::30"], admin_cidrs=["192.0.2.0/24"], **kw
    )
    return monitoring.render_monitoring(
        name="shop-waw-mon",
        address="203.0.113.30",
        peers=["2001:db8::30"],
        first=first,
        host_key=HOST_KEY,
        secrets_doc=monitoring.monitoring_secret_document(RECEIVERS),
    )


# -- what is scraped -------------------------------------------------------------------------------


def test_every_host_is_scraped_by_the_exporters_of_its_role_with_its_site():
    jobs = monitoring.targets(HOSTS, https=True)
    got = {job: sorted(t for g in groups for t in g["targets"]) for job, groups in jobs.items()}
    assert got == {
        "node": sorted(
            [
                "198.51.100.10:9100",
                "198.51.100.20:9100",
                "203.0.113.20:9100",
                "203.0.113.30:9100",
                "[2001:db8::30]:9100",
            ]
        ),
        "postgres": ["198.51.100.20:9187", "203.0.113.20:9187"],
        "etcd": ["198.51.100.20:2381", "203.0.113.20:2381"],
        "web": ["http://198.51.100.10/healthz"],
        "web-tls": ["https://198.51.100.10/healthz"],
        "prometheus": ["203.0.113.30:9090", "[2001:db8::30]:9090"],
        "alertmanager": ["203.0.113.30:9093", "[2001:db8::30]:9093"],
    }
    (db,) = [g for g in jobs["postgres"] if g["targets"] == ["198.51.100.20:9187"]]
    assert db["labels"] == {
        "instance": "shop-gra-db",
        "role": "database",
        "placement": "gra",
        "site": "Gravelines campus (FR)",
    }
    assert "web-tls" not in monitoring.targets(HOSTS, https=False)  # no certificate to watch


def test_a_target_is_a_named_host_at_an_address_with_a_known_role():
    for bad in (
        dict(name="x", address="not-an-ip", role="web"),
        dict(name="x", address="192.0.2.1", role="db-primary"),  # Patroni's roles change: the label says database
        dict(name="-x", address="192.0.2.1", role="web"),
    ):
        with pytest.raises(ValueError):
            monitoring.Target(placement="p", site="s", **bad)


# -- the alert rules, by promtool ------------------------------------------------------------------


def test_the_rules_pass_promtool_and_name_an_action():
    promtool, _ = tools()
    text = monitoring.alert_rules(monitoring.Thresholds(replica_lag_mb=64, disk_percent=90))
    rules = yaml.safe_load(text)["groups"][0]["rules"]
    assert all(r["annotations"]["summary"] and r["annotations"]["action"] for r in rules)
    assert {r["alert"] for r in rules} >= {
        "SiteDown",
        "HostDown",
        "Failover",
        "NoPrimary",
        "ReplicaNotStreaming",
        "ReplicaLagging",
        "WalArchiveFailing",
        "WalArchiveBehind",
        "EtcdMemberDown",
        "EtcdQuorumLost",
        "DiskFilling",
        "WebUnhealthy",
        "CertificateExpiring",
    }
    assert "64 * 1024 * 1024" not in text and str(64 * 1024 * 1024) in text and "> 90" in text
    with tmp_file(text) as path:
        proc = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


class tmp_file:
    def __init__(self, text: str, suffix: str = ".yml") -> None:
        import tempfile

        self.dir = tempfile.TemporaryDirectory()
        self.path = str(Path(self.dir.name) / f"file{suffix}")
        Path(self.path).write_text(text)

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc) -> None:
        self.dir.cleanup()


NODE = 'up{job="node", instance="%s", site="%s"}'


def promtool_test(series: list[dict], alerts: list[dict], interval: str = "10s") -> subprocess.CompletedProcess:
    """``promtool test rules`` of the stack's rules: ``series`` over time (a sample every ``interval``, the rules
    evaluated as often), the alerts expected at given times."""
    promtool, _ = tools()
    import tempfile

    rules = yaml.safe_load(monitoring.alert_rules())
    for r in rules["groups"][0]["rules"]:  # the expressions, waits and labels under test (the texts: check rules)
        del r["annotations"]
    with tempfile.TemporaryDirectory() as d:
        Path(d, "rules.yml").write_text(yaml.safe_dump(rules))
        test = {
            "rule_files": ["rules.yml"],
            "evaluation_interval": interval,
            "tests": [{"interval": interval, "input_series": series, "alert_rule_test": alerts}],
        }
        Path(d, "test.yml").write_text(yaml.safe_dump(test))
        return subprocess.run([promtool, "test", "rules", "test.yml"], cwd=d, capture_output=True, text=True)


def fired(name: str, at: str, *labels: dict) -> dict:
    return {"eval_time": at, "alertname": name, "exp_alerts": [{"exp_labels": dict(l)} for l in labels]}


def test_a_whole_site_down_is_one_alert_for_the_site_30_seconds_on():
    gra, waw = "Gravelines campus (FR)", "Warsaw (PL)"
    series = [
        {"series": NODE % ("shop-gra-db", gra), "values": "1 1 1 0x30"},
        {"series": NODE % ("shop-gra-web-1", gra), "values": "1 1 1 0x30"},
        {"series": NODE % ("shop-waw-db", waw), "values": "1x33"},
        {"series": NODE % ("shop-waw-web-1", waw), "values": "1 1 1 0x30"},  # one host down only: no site alert
    ]
    proc = promtool_test(
        series,
        [
            fired("SiteDown", "40s"),  # down since 30 s: pending
            fired("SiteDown", "70s", {"site": gra, "severity": "critical"}),
            fired("HostDown", "70s"),  # for 1 minute
            # a host down in a site that is up: its own alert; the burned site's hosts: none of their own
            fired(
                "HostDown", "100s", {"job": "node", "instance": "shop-waw-web-1", "site": waw, "severity": "warning"}
            ),
        ],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_promotion_is_a_failover_alert_and_a_cluster_with_no_primary_another():
    member = 'rs_member_replica{instance="%s", site="%s"}'
    series = [
        {"series": member % ("shop-gra-db", "gra"), "values": "0 0 0 stale"},  # burned
        {"series": member % ("shop-waw-db", "waw"), "values": "1 1 1 1 1 0x30"},  # promoted at 50 s
        {"series": member % ("shop-ik-db", "ik"), "values": "1x35"},
    ]
    proc = promtool_test(
        series,
        [
            fired("Failover", "40s"),
            fired("Failover", "60s", {"instance": "shop-waw-db", "site": "waw", "severity": "critical"}),
            fired("Failover", "6m"),  # said once: gone when the promotion leaves the 5-minute window
            fired("NoPrimary", "40s"),  # 20 s without a primary: pending only
            fired("TwoPrimaries", "60s"),
        ],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_replicas_and_etcd_that_stop_are_alerts():
    series = [
        {"series": 'rs_member_replica{instance="shop-ik-db"}', "values": "1x30"},
        {"series": 'rs_member_streaming{instance="shop-ik-db"}', "values": "1 1 0x30"},
        {"series": 'up{job="etcd", instance="a"}', "values": "1 1 0x30"},
        {"series": 'up{job="etcd", instance="b"}', "values": "1 1 0x30"},
        {"series": 'up{job="etcd", instance="c"}', "values": "1x30"},
    ]
    proc = promtool_test(
        series,
        [
            fired("ReplicaNotStreaming", "150s", {"instance": "shop-ik-db", "severity": "warning"}),
            fired("EtcdQuorumLost", "90s", {"severity": "critical"}),
            fired(
                "EtcdMemberDown",
                "90s",
                {"job": "etcd", "instance": "a", "severity": "warning"},
                {"job": "etcd", "instance": "b", "severity": "warning"},
            ),
        ],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_wal_archiving_that_fails_on_the_primary_is_an_alert_and_on_a_replica_not():
    series = [
        {"series": 'rs_member_replica{instance="p"}', "values": "0x60"},
        {"series": 'rs_member_replica{instance="r"}', "values": "1x60"},
        {"series": 'rs_archiver_failing{instance="p"}', "values": "1x60"},
        {"series": 'rs_archiver_failing{instance="r"}', "values": "1x60"},  # a replica archives nothing
    ]
    proc = promtool_test(series, [fired("WalArchiveFailing", "6m", {"instance": "p", "severity": "critical"})])
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- Alertmanager ------------------------------------------------------------------------------------


def test_alertmanagers_configuration_passes_amtool_and_routes_every_alert_to_the_receivers():
    _, amtool = tools()
    text = monitoring.alertmanager_config(RECEIVERS)
    doc = yaml.safe_load(text)
    (stack,) = doc["receivers"]
    assert stack["webhook_configs"] == [{"url": "https://hooks.example.com/T0KEN", "send_resolved": True}]
    assert stack["email_configs"] == [{"to": "ops@example.com", "send_resolved": True}]
    assert doc["global"]["smtp_auth_password"] == "S3cret" and doc["global"]["smtp_require_tls"] is True
    assert doc["inhibit_rules"] == [
        {"source_matchers": ['alertname="SiteDown"'], "target_matchers": ['alertname!="SiteDown"'], "equal": ["site"]}
    ]
    with tmp_file(text) as path:
        check = subprocess.run([amtool, "check-config", path], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        route = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={path}", "alertname=SiteDown", "site=x"],
            capture_output=True,
            text=True,
        )
    assert route.returncode == 0 and route.stdout.strip() == "stack", route.stdout + route.stderr
    # no receiver at all: a valid configuration (the alerts stay in Alertmanager's own interface)
    with tmp_file(monitoring.alertmanager_config(monitoring.Receivers())) as path:
        assert subprocess.run([amtool, "check-config", path], capture_output=True).returncode == 0


def test_the_receivers_secrets_are_sealed_never_in_clear():
    text = mon()
    assert "T0KEN" not in text and "S3cret" not in text
    doc = load(text)
    sealed = files(doc)[secrets.SEALED_FILE]["content"].strip()
    assert "T0KEN" in secrets.unseal(sealed, HOST_KEY)["alertmanager"]
    assert "T0KEN" not in repr(RECEIVERS) and "S3cret" not in repr(RECEIVERS)


# -- the monitoring host -----------------------------------------------------------------------------


def test_a_monitoring_host_runs_prometheus_and_an_alertmanager_clustered_with_the_others():
    doc = load(mon())
    fs = files(doc)
    assert doc["hostname"] == "shop-waw-mon"
    assert {"prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"} <= set(doc["packages"])
    assert fs[paths.HOST_ROLE_FILE if hasattr(paths, "HOST_ROLE_FILE") else "/etc/resilient-stack/role"]["content"] == (
        "monitoring\n"
    )
    args = fs[monitoring.ALERTMANAGER_DEFAULTS]["content"]
    assert "--cluster.advertise-address=203.0.113.30:9094" in args and "--cluster.peer=[2001:db8::30]:9094" in args
    prometheus = yaml.safe_load(fs[paths.PROMETHEUS_CONF]["content"])
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "203.0.113.30:9093",
        "[2001:db8::30]:9093",
    ]  # every Alertmanager: they de-duplicate
    assert "external_labels" not in prometheus["global"]  # two Prometheus send the same alert: one label set
    runtime_doc = json.loads(fs["/etc/resilient-stack/runtime.json"]["content"])
    assert runtime_doc["firewall"]["monitoring6"] == ["2001:db8::30/128"] and runtime_doc["firewall"]["admin4"] == [
        "192.0.2.0/24"
    ]
    assert set(runtime_doc["monitoring"]["targets"]) == set(monitoring.JOBS)
    conf = fs[firewall.CONF]["content"]
    assert "meta l4proto { tcp, udp } th dport 9094 ip saddr @monitoring4 accept" in conf
    assert "tcp dport { 9090, 9093 } ip saddr @admin4 accept" in conf
    run = doc["runcmd"]
    assert run.index(["/usr/local/sbin/resilient-stack-sync", "--boot"]) < run.index(
        ["systemctl", "restart", "prometheus-blackbox-exporter", "prometheus-alertmanager", "prometheus"]
    )


def test_a_monitoring_host_refuses_itself_as_a_peer_and_needs_its_targets_and_receivers():
    first = monitoring.monitoring_runtime(hosts=HOSTS, https=False)
    sealed = monitoring.monitoring_secret_document(monitoring.Receivers())
    common = dict(name="shop-waw-mon", address="203.0.113.30", host_key=HOST_KEY)
    with pytest.raises(ValueError, match="OTHER"):
        monitoring.render_monitoring(peers=["203.0.113.30"], first=first, secrets_doc=sealed, **common)
    with pytest.raises(ValueError, match="targets"):
        monitoring.render_monitoring(peers=[], first={"v": 1}, secrets_doc=sealed, **common)


# -- the exporters on every host ---------------------------------------------------------------------


def test_every_host_exports_its_metrics_to_the_monitoring_hosts_only():
    web_doc, db_doc = load(web(monitoring=["203.0.113.30"])), load(member(monitoring=["203.0.113.30"]))
    assert (
        "prometheus-node-exporter" in web_doc["packages"] and "prometheus-postgres-exporter" not in web_doc["packages"]
    )
    assert {"prometheus-node-exporter", "prometheus-postgres-exporter"} <= set(db_doc["packages"])
    web_conf, db_conf = files(web_doc)[firewall.CONF]["content"], files(db_doc)[firewall.CONF]["content"]
    assert "tcp dport 9100 ip saddr @monitoring4 accept" in web_conf
    assert "tcp dport { 2381, 9100, 9187 } ip saddr @monitoring4 accept" in db_conf
    for doc in (web_doc, db_doc):
        assert (
            "flush set inet resilient_stack monitoring4\nadd element inet resilient_stack monitoring4 { 203.0.113.30/32 }"
            in (files(doc)[firewall.SETS_FILE]["content"])
        )
    fs = files(db_doc)
    (dsn,) = [line for line in fs[exporters.POSTGRES_DEFAULTS]["content"].splitlines() if line.startswith("DATA_")]
    assert dsn == "DATA_SOURCE_NAME='host=/var/run/postgresql user=postgres dbname=postgres sslmode=disable'"  # peer
    assert "User=postgres" in fs[exporters.POSTGRES_DROPIN]["content"]
    queries = yaml.safe_load(fs[exporters.POSTGRES_QUERIES]["content"])
    assert set(queries) == {"rs_member", "rs_standby", "rs_archiver"}
    assert "ETCD_LISTEN_METRICS_URLS=http://0.0.0.0:2381\n" in fs[paths.ETCD_ENV]["content"]


def test_a_stack_without_monitoring_sends_its_hosts_no_monitoring_set():
    """A host made before the set existed would refuse it at its next sync: such stacks' runtime stays as it was."""
    for doc in (load(web()), load(member())):
        first = json.loads(files(doc)["/etc/resilient-stack/runtime.json"]["content"])
        assert not any(name.startswith("monitoring") for name in first["firewall"])


def test_the_hosts_of_a_site_that_was_down_have_ten_minutes_to_come_back_before_their_own_alerts():
    """The site returns at 2 minutes; one host stays down: its HostDown waits for the grace (10 min) and its minute."""
    gra = "Gravelines campus (FR)"
    series = [
        {"series": NODE % ("shop-gra-db", gra), "values": "1 1 1 0x9 1x100"},  # back at 2 minutes
        {"series": NODE % ("shop-gra-web-1", gra), "values": "1 1 1 0x120"},  # never back
    ]
    labels = {"job": "node", "instance": "shop-gra-web-1", "site": gra, "severity": "warning"}
    proc = promtool_test(
        series,
        [
            fired("SiteDown", "100s", {"site": gra, "severity": "critical"}),
            fired("HostDown", "100s"),  # the site is down: not one alert per host
            fired("HostDown", "11m"),  # the site is back, its host has 10 minutes
            fired("HostDown", "14m", labels),
        ],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- root's sync on a monitoring host ----------------------------------------------------------------


def test_the_sync_writes_the_targets_rules_and_receivers_and_reloads_only_what_changed(tmp_path, monkeypatch):
    from tests.hosts.samples import sync_module
    from tests.hosts.test_sync_secrets import Recorder

    doc = load(mon())
    fs = files(doc)
    module = sync_module(tmp_path, fs[paths.SYNC_SCRIPT]["content"])
    assert module.ROLE == "monitoring" and module.MONITORING_TARGETS == paths.PROMETHEUS_TARGETS
    me = (__import__("os").getuid(), __import__("os").getgid())
    monkeypatch.setattr(module, "ids", lambda user, group=None: me)
    for name in ("MONITORING_TARGETS", "MONITORING_RULES", "ALERTMANAGER_CONF"):
        monkeypatch.setattr(module, name, str(tmp_path / name.lower()))
    rec = Recorder()
    monkeypatch.setattr(module.subprocess, "run", rec)
    first = json.loads(fs[paths.RUNTIME_CONFIG]["content"])
    module.check(first)
    receivers = secrets.unseal(fs[secrets.SEALED_FILE]["content"].strip(), HOST_KEY)
    module.check_secrets(receivers)

    changed = module.apply_monitoring(first["monitoring"], receivers["alertmanager"], boot=True)
    assert "node targets" in changed and "resilient-stack.yml" not in changed  # names: the files' own
    assert (
        json.loads((tmp_path / "monitoring_targets" / "etcd.json").read_text())
        == first["monitoring"]["targets"]["etcd"]
    )
    assert (tmp_path / "alertmanager_conf").read_text() == receivers["alertmanager"]
    assert rec.calls == []  # the first boot: the services start after the sync
    assert module.apply_monitoring(first["monitoring"], receivers["alertmanager"], boot=False) == []  # unchanged
    new_rules = monitoring.alert_rules(monitoring.Thresholds(disk_percent=70))
    changed = module.apply_monitoring({**first["monitoring"], "rules": new_rules}, receivers["alertmanager"], False)
    assert changed == ["monitoring_rules"] and rec.calls == [["systemctl", "reload-or-restart", "prometheus"]]
    with pytest.raises(ValueError, match="targets"):
        module.check({**first, "monitoring": {"targets": {"Bad Job": []}, "rules": ""}})


def test_backups_older_than_their_schedule_or_a_repository_the_primary_cannot_read_are_alerts():
    """The primary's catch-up writes what it read of the repository every minute (resilient_stack_backup_*): the
    backup site burns at 10 minutes, the newest backup (ended at 0) grows older; 26 hours is the default limit."""
    hour = 3600
    series = [
        {"series": 'resilient_stack_backup_newest_timestamp_seconds{instance="p"}', "values": "0x100000"},
        {"series": 'resilient_stack_backup_repository_readable{instance="p"}', "values": "1x59 0x100000"},
    ]
    proc = promtool_test(
        [{**s, "values": s["values"].replace("59", "9")} for s in series],
        [
            fired("BackupRepositoryUnreadable", "15m"),
            fired("BackupRepositoryUnreadable", "25m", {"instance": "p", "severity": "critical"}),
            fired("BackupLate", "26h"),
            fired("BackupLate", "26h10m", {"severity": "critical"}),
            fired("BackupMissing", "26h10m"),
        ],
        interval="1m",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert str(30 * hour) in monitoring.alert_rules(monitoring.Thresholds(backup_max_age_hours=30))
    # a schedule of minutes: a fraction of an hour, in whole seconds
    assert "max(resilient_stack_backup_newest_timestamp_seconds) > 216\n" in monitoring.alert_rules(
        monitoring.Thresholds(backup_max_age_hours=0.06)
    )


def test_a_members_certificate_near_its_end_is_an_alert():
    """Root's sync exports each certificate of a member's TLS directory with its end (resilient_stack_certificate_*):
    one that ends in 15 days is inside the default 14 days after a day, and alerted an hour later."""
    series = 'resilient_stack_certificate_expiry_timestamp_seconds{instance="m", file="member.crt"}'
    proc = promtool_test(
        [{"series": series, "values": f"{15 * 86400}x1600"}],
        [
            fired("MemberCertificateExpiring", "24h30m"),
            fired(
                "MemberCertificateExpiring", "25h10m", {"instance": "m", "file": "member.crt", "severity": "warning"}
            ),
        ],
        interval="1m",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
