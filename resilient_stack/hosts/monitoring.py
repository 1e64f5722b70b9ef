"""A monitoring host: Debian's Prometheus, Alertmanager and blackbox exporter, told what to watch by the stack.

The stack runs one monitoring host in each placement its ``monitoring.placements`` name (at least two sites: the
``single-site`` rule judges the ``monitoring`` role like any other). Each one, on its own:

* **Prometheus** scrapes every host of the stack over its public address (the exporters of :mod:`.exporters`: the
  node exporter everywhere, PostgreSQL's and etcd's on the database members), probes each web host's ``/healthz``
  (and its certificate, with HTTPS) through the local blackbox exporter, and watches the other monitoring hosts;
  it evaluates the stack's alert rules (:func:`alert_rules`) and sends what fires to EVERY Alertmanager;
* **Alertmanager** runs in cluster mode with the other monitoring hosts' (gossip on
  :data:`ALERTMANAGER_CLUSTER_PORT`): they share silences and which notifications were sent, so an alert seen by
  two Prometheus reaches each receiver once; the receivers (webhooks, e-mail over SMTP) are the stack's
  configuration, sealed (:mod:`.secrets`: a webhook URL or an SMTP password is a secret).

What may change while the host runs comes from the instance's metadata (:mod:`.runtime`): the targets (file service
discovery: Prometheus reads the files again by itself), the alert rules (Prometheus reloaded), Alertmanager's
configuration (reloaded), the firewall's sets and the SSH keys. The Alertmanagers' peers and Prometheus's list of
Alertmanagers are the boot configuration. Alert templates use Prometheus's ``{{ $labels }}``: the rules are built as
data and dumped as YAML here, never through the payload templates. Pure.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import yaml

from resilient_stack.core.vocabulary import (
    ALERTMANAGER_CLUSTER_PORT,
    ALERTMANAGER_PORT,
    BLACKBOX_PORT,
    DATABASE,
    ETCD_METRICS_PORT,
    HOST_MONITORING,
    HOST_ROLE_FILE,
    MONITORING,
    NODE_EXPORTER_PORT,
    POSTGRES_EXPORTER_PORT,
    PROMETHEUS_PORT,
    WEB,
)
from resilient_stack.hosts import dns, document, firewall, hardening, pki, runtime, secrets
from resilient_stack.hosts import fields as check
from resilient_stack.hosts.paths import (
    ALERTMANAGER_SERVICE,
    BLACKBOX_CONF,
    BLACKBOX_SERVICE,
    PROMETHEUS_CONF,
    PROMETHEUS_RULES,
    PROMETHEUS_SERVICE,
    PROMETHEUS_TARGETS,
    SYNC_SCRIPT,
)

__all__ = [
    "PACKAGES",
    "JOBS",
    "TARGET_ROLES",
    "Target",
    "Thresholds",
    "Receivers",
    "EmailReceiver",
    "targets",
    "prometheus_config",
    "alert_rules",
    "alertmanager_config",
    "monitoring_runtime",
    "monitoring_secret_document",
    "render_monitoring",
]

PACKAGES = ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"]
PROMETHEUS_DEFAULTS = "/etc/default/prometheus"
ALERTMANAGER_DEFAULTS = "/etc/default/prometheus-alertmanager"
BLACKBOX_DEFAULTS = "/etc/default/prometheus-blackbox-exporter"
SITE_GRACE = "10m"  # after a site's return, how long its hosts have to be whole again before their own alerts
SCRAPE_EVERY = "10s"  # a burned host is seen down within one scrape and its timeout
SCRAPE_TIMEOUT = "5s"
RETENTION = "30d"
JOBS = ("node", "postgres", "etcd", "web", "web-tls", "prometheus", "alertmanager")
TARGET_ROLES = (WEB, DATABASE, MONITORING)  # a member's current role is Patroni's: its label says database


@dataclass(frozen=True, slots=True)
class Target:
    """One host the monitoring hosts watch: its name, public address, role (:data:`TARGET_ROLES`), placement, site."""

    name: str
    address: str
    role: str
    placement: str
    site: str

    def __post_init__(self) -> None:
        if self.role not in TARGET_ROLES:
            raise ValueError(f"a target's role is one of {', '.join(TARGET_ROLES)}, got {self.role!r}")
        ipaddress.ip_address(self.address)  # ValueError: not an address
        if check.hostname(self.name) is None:
            raise ValueError(f"a target's name is a host name, got {self.name!r}")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When the alerts fire (``monitoring.thresholds`` of the stack configuration)."""

    replica_lag_mb: int = 256  # WAL a standby has not replayed
    wal_ready_files: int = 16  # WAL segments waiting to be archived (16 MB each)
    disk_percent: int = 85  # a data or root file system this full
    certificate_days: int = 14  # a web host's certificate expires within
    backup_max_age_hours: float = 26  # the repository's newest backup older than this (a daily differential + 2 h)


@dataclass(frozen=True, slots=True)
class EmailReceiver:
    to: tuple[str, ...]
    sender: str
    smarthost: str  # host:port
    username: str | None = None
    password: str | None = None  # a secret

    def __repr__(self) -> str:  # the password is a secret
        return f"EmailReceiver(to={self.to!r}, smarthost={self.smarthost!r})"


@dataclass(frozen=True, slots=True)
class Receivers:
    """Where the Alertmanagers send: webhook URLs (secrets: they often carry a token) and e-mail."""

    webhooks: tuple[str, ...] = ()
    email: EmailReceiver | None = None

    def __repr__(self) -> str:
        return f"Receivers(webhooks={len(self.webhooks)}, email={self.email!r})"


def _host(address: str) -> str:
    return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address


def targets(hosts: Sequence[Target], *, https: bool) -> dict[str, list[dict[str, Any]]]:
    """Prometheus's file service discovery, by job: one target group per host and exporter, labelled with the host's
    name (``instance``), role, placement and site (what the alerts group by)."""
    out: dict[str, list[dict[str, Any]]] = {job: [] for job in JOBS if https or job != "web-tls"}

    def add(job: str, t: Target, target: str) -> None:
        labels = {"instance": t.name, "role": t.role, "placement": t.placement, "site": t.site}
        out[job].append({"targets": [target], "labels": labels})

    for t in sorted(hosts, key=lambda h: h.name):
        add("node", t, f"{_host(t.address)}:{NODE_EXPORTER_PORT}")
        if t.role == DATABASE:
            add("postgres", t, f"{_host(t.address)}:{POSTGRES_EXPORTER_PORT}")
            add("etcd", t, f"{_host(t.address)}:{ETCD_METRICS_PORT}")
        elif t.role == WEB:
            add("web", t, f"http://{_host(t.address)}/healthz")
            if https:
                add("web-tls", t, f"https://{_host(t.address)}/healthz")
        else:
            add("prometheus", t, f"{_host(t.address)}:{PROMETHEUS_PORT}")
            add("alertmanager", t, f"{_host(t.address)}:{ALERTMANAGER_PORT}")
    return out


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=4096)


def prometheus_config(*, alertmanagers: Sequence[str]) -> str:
    """``prometheus.yml`` (boot configuration): the jobs read their targets from the files root's sync writes."""

    def job(name: str, **extra: Any) -> dict[str, Any]:
        return {"job_name": name, **extra, "file_sd_configs": [{"files": [f"{PROMETHEUS_TARGETS}/{name}.json"]}]}

    def probe(name: str, module: str) -> dict[str, Any]:
        relabel = [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"target_label": "__address__", "replacement": f"127.0.0.1:{BLACKBOX_PORT}"},
        ]
        return job(name, metrics_path="/probe", params={"module": [module]}, relabel_configs=relabel)

    doc = {
        "global": {"scrape_interval": SCRAPE_EVERY, "scrape_timeout": SCRAPE_TIMEOUT, "evaluation_interval": "10s"},
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"{_host(a)}:{ALERTMANAGER_PORT}" for a in alertmanagers]}]}
            ]
        },
        "rule_files": [PROMETHEUS_RULES],
        "scrape_configs": [
            job("node"),
            job("postgres"),
            job("etcd"),
            probe("web", "rs_http"),
            probe("web-tls", "rs_tls"),
            job("prometheus"),
            job("alertmanager"),
        ],
    }
    return "# Managed by resilient_stack (cloud-init): the stack's Prometheus.\n" + _dump(doc)


def blackbox_config() -> str:
    http = {"valid_status_codes": [200], "preferred_ip_protocol": "ip4", "ip_protocol_fallback": True}
    doc = {
        "modules": {
            "rs_http": {"prober": "http", "timeout": "5s", "http": {**http, "no_follow_redirects": True}},
            # the certificate's dates, whatever name it holds (the probe asks by address)
            "rs_tls": {
                "prober": "http",
                "timeout": "5s",
                "http": {**http, "tls_config": {"insecure_skip_verify": True}},
            },
        }
    }
    return "# Managed by resilient_stack (cloud-init): the web hosts' probes.\n" + _dump(doc)


def _rule(name: str, expr: str, *, wait: str, severity: str, summary: str, action: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if wait != "0s":
        rule["for"] = wait
    rule["labels"] = {"severity": severity}
    rule["annotations"] = {"summary": summary, "action": action}
    return rule


def alert_rules(thresholds: Thresholds = Thresholds()) -> str:
    """The stack's alert rules (Prometheus's rule file). Each names what broke and what to do. A site down is one
    alert, not one per host: while it fires, and for :data:`SITE_GRACE` once it stopped (its hosts boot again, its
    members rewind), the alerts of that site's hosts are not even pending; Alertmanager inhibits them too
    (:func:`alertmanager_config`)."""
    t = thresholds
    up = 'up{job="node"}'

    def quiet(expr: str) -> str:  # not about a site that is, or just was, down
        recent = f'max_over_time(ALERTS{{alertname="SiteDown", alertstate="firing"}}[{SITE_GRACE}])'
        return f"({expr}) unless on (site) {recent}"

    rules = [
        _rule(
            "SiteDown",
            f"sum by (site) ({up}) == 0",
            wait="30s",
            severity="critical",
            summary="Every host of site {{ $labels.site }} is unreachable",
            action="Check the provider's status page; the stack fails over by itself: run resilient-stack status",
        ),
        _rule(
            "HostDown",
            quiet(f"{up} == 0"),
            wait="1m",
            severity="warning",
            summary="{{ $labels.instance }} ({{ $labels.role }}, {{ $labels.site }}) does not answer",
            action="Check the instance in the provider's console; replace it if it does not come back",
        ),
        _rule(
            "Failover",
            "rs_member_replica == 0 and on (instance) max_over_time(rs_member_replica[5m]) == 1",
            wait="0s",
            severity="critical",
            summary="{{ $labels.instance }} ({{ $labels.site }}) was promoted: it is the primary now",
            action="Find why the old primary failed; it rejoins as a replica when it comes back",
        ),
        _rule(
            "NoPrimary",
            "count(rs_member_replica == 0) == 0 or absent(rs_member_replica == 0)",
            wait="1m",
            severity="critical",
            summary="No database member is the primary: writes fail",
            action="resilient-stack status; check etcd's quorum (a majority of the members' sites)",
        ),
        _rule(
            "TwoPrimaries",
            "count(rs_member_replica == 0) > 1",
            wait="1m",
            severity="critical",
            summary="More than one database member says it is the primary",
            action="Stop the member that is not the Patroni leader (resilient-stack-cluster list)",
        ),
        _rule(
            "ReplicaNotStreaming",
            quiet("rs_member_replica == 1 and rs_member_streaming == 0"),
            wait="2m",
            severity="warning",
            summary="Replica {{ $labels.instance }} ({{ $labels.site }}) is not streaming",
            action="Check the member's Patroni log (journalctl -u patroni); it may need resilient-stack-cluster reinit",
        ),
        _rule(
            "ReplicaLagging",
            f"rs_standby_lag_bytes > {t.replica_lag_mb * 1024 * 1024}",
            wait="5m",
            severity="warning",
            summary="Standby {{ $labels.standby }} is {{ $value | humanize1024 }}B behind",
            action="Check the standby's disk and network; a synchronous commit waits for it",
        ),
        _rule(
            "DatabaseDown",
            quiet("pg_up == 0"),
            wait="1m",
            severity="warning",
            summary="PostgreSQL on {{ $labels.instance }} does not answer its exporter",
            action="journalctl -u patroni on the member",
        ),
        _rule(
            "BackupLate",
            f"time() - max(resilient_stack_backup_newest_timestamp_seconds) > {round(t.backup_max_age_hours * 3600)}",
            wait="1m",  # the threshold is the margin: late is late
            severity="critical",
            summary="The newest backup in the repository ended {{ $value | humanizeDuration }} ago",
            action="resilient-stack status; check the backup site and its credential (journalctl -u "
            "resilient-stack-backup-init on the primary)",
        ),
        _rule(
            "BackupMissing",
            "absent(resilient_stack_backup_newest_timestamp_seconds)",
            wait="1h",
            severity="critical",
            summary="No member reports a backup in the repository",
            action="journalctl -u resilient-stack-backup-init on the primary: the repository, its stanza, archiving",
        ),
        _rule(
            "BackupRepositoryUnreadable",
            "resilient_stack_backup_repository_readable == 0",
            wait="10m",
            severity="critical",
            summary="The primary {{ $labels.instance }} cannot read the backup repository",
            action="Check the backup site's status and the backup credential; backups and WAL archiving stop",
        ),
        _rule(
            "WalArchiveFailing",
            "rs_archiver_failing == 1 and on (instance) rs_member_replica == 0",
            wait="5m",
            severity="critical",
            summary="The primary {{ $labels.instance }} fails to archive WAL",
            action="Check the backup repository (pgbackrest check on the primary): point-in-time recovery stops",
        ),
        _rule(
            "WalArchiveBehind",
            f"rs_archiver_ready_files > {t.wal_ready_files} and on (instance) rs_member_replica == 0",
            wait="10m",
            severity="warning",
            summary="{{ $value }} WAL segments wait to be archived on {{ $labels.instance }}",
            action="Check the backup repository's reachability from the primary",
        ),
        _rule(
            "EtcdMemberDown",
            quiet('up{job="etcd"} == 0'),
            wait="1m",
            severity="warning",
            summary="etcd on {{ $labels.instance }} ({{ $labels.site }}) does not answer",
            action="journalctl -u etcd on the member; the cluster keeps its quorum while a majority answers",
        ),
        _rule(
            "EtcdQuorumLost",
            'sum(up{job="etcd"}) * 2 <= count(up{job="etcd"})',
            wait="1m",
            severity="critical",
            summary="etcd has lost its quorum: no failover is possible",
            action="Bring back the members' sites; the primary stops accepting writes when its leader key expires",
        ),
        _rule(
            "EtcdNoLeader",
            "etcd_server_has_leader == 0",
            wait="1m",
            severity="critical",
            summary="etcd on {{ $labels.instance }} has no leader",
            action="Check the members' network",
        ),
        _rule(
            "DiskFilling",
            f'(1 - node_filesystem_avail_bytes{{mountpoint=~"/|/var/lib/postgresql"}}'
            f' / node_filesystem_size_bytes{{mountpoint=~"/|/var/lib/postgresql"}}) * 100 > {t.disk_percent}',
            wait="10m",
            severity="warning",
            summary='{{ $labels.mountpoint }} on {{ $labels.instance }} is {{ $value | printf "%.0f" }}% full',
            action="Grow the volume (database.volumeSize) or free space",
        ),
        _rule(
            "WebUnhealthy",
            quiet('probe_success{job="web"} == 0'),
            wait="1m",
            severity="warning",
            summary="{{ $labels.instance }} ({{ $labels.site }}) fails its health check",
            action="resilient-stack status; journalctl -u nginx and the application's agent on the host",
        ),
        _rule(
            "CertificateExpiring",
            f'probe_ssl_earliest_cert_expiry{{job="web-tls"}} - time() < {t.certificate_days * 86400}',
            wait="1h",
            severity="warning",
            summary=f"The certificate of {{{{ $labels.instance }}}} expires in less than {t.certificate_days} days",
            action="Check certbot's renewal on the host (journalctl -u certbot)",
        ),
        _rule(
            "MemberCertificateExpiring",
            f"resilient_stack_certificate_expiry_timestamp_seconds - time() < {t.certificate_days * 86400}",
            wait="1h",
            severity="warning",
            summary=f"The certificate {{{{ $labels.file }}}} of {{{{ $labels.instance }}}} expires in less than "
            f"{t.certificate_days} days",
            action=f"pulumi up: it issues the cluster's certificates again {pki.RENEW_BEFORE_DAYS} days before "
            "they expire, and the hosts' sync applies them (docs/operations.md#rotating-secrets-and-renewing-certificates)",
        ),
        _rule(
            "MonitoringPeerDown",
            quiet('up{job="alertmanager"} == 0'),
            wait="2m",
            severity="warning",
            summary="Monitoring host {{ $labels.instance }} ({{ $labels.site }}) does not answer",
            action="Alerts still flow through the others; bring it back",
        ),
    ]
    doc = {"groups": [{"name": "resilient-stack", "rules": rules}]}
    return "# Managed by resilient_stack (root's sync): the stack's alert rules.\n" + _dump(doc)


def alertmanager_config(receivers: Receivers) -> str:
    """``alertmanager.yml``: one receiver (every webhook and the e-mail), grouped by alert and site; a site down
    inhibits the other alerts of that site. Holds secrets: sealed to the host, written 0640 root:prometheus."""
    stack: dict[str, Any] = {"name": "stack"}
    if receivers.webhooks:
        stack["webhook_configs"] = [{"url": u, "send_resolved": True} for u in receivers.webhooks]
    doc: dict[str, Any] = {"global": {"resolve_timeout": "5m"}}
    e = receivers.email
    if e is not None:
        stack["email_configs"] = [{"to": ", ".join(e.to), "send_resolved": True}]
        doc["global"].update({"smtp_from": e.sender, "smtp_smarthost": e.smarthost, "smtp_require_tls": True})
        if e.username is not None:
            doc["global"].update({"smtp_auth_username": e.username, "smtp_auth_password": e.password or ""})
    doc["route"] = {
        "receiver": "stack",
        "group_by": ["alertname", "site"],
        "group_wait": "10s",
        "group_interval": "1m",
        "repeat_interval": "4h",
    }
    doc["receivers"] = [stack]
    doc["inhibit_rules"] = [
        {"source_matchers": ['alertname="SiteDown"'], "target_matchers": ['alertname!="SiteDown"'], "equal": ["site"]}
    ]
    return "# Managed by resilient_stack (root's sync): the stack's receivers.\n" + _dump(doc)


def monitoring_runtime(
    *,
    hosts: Sequence[Target],
    https: bool,
    thresholds: Thresholds = Thresholds(),
    admin_cidrs: Sequence[str] = (),
    peers: Sequence[str] = (),
    ssh_keys: Sequence[str] = (),
    zone: dns.Zone | None = None,
) -> dict[str, Any]:
    """The runtime document of a monitoring host (:mod:`.runtime`): its firewall's sets (``peers``: the OTHER
    monitoring hosts' addresses), the SSH keys, what Prometheus scrapes, the alert rules and, when the monitoring
    hosts are the stack's name servers, the zone (:mod:`.dns`)."""
    watch: dict[str, Any] = {"targets": targets(hosts, https=https), "rules": alert_rules(thresholds)}
    if zone is not None:
        watch["zone"] = {"conf": dns.named_conf(zone.name), "text": dns.zone_file(zone)}
    return runtime.document(
        firewall=firewall.monitoring_sets(
            admin_cidrs=check.cidrs(admin_cidrs, "admin_cidrs", allow_empty=True),
            peers=firewall.addresses(peers, "peers"),
        ),
        ssh_keys=check.ssh_keys(ssh_keys),
        monitoring=watch,
    )


def monitoring_secret_document(receivers: Receivers) -> dict[str, Any]:
    """The secret document of a monitoring host (:mod:`.secrets`)."""
    return {"v": secrets.VERSION, "alertmanager": alertmanager_config(receivers)}


def render_monitoring(
    *,
    name: str,
    address: str,
    peers: Sequence[str],
    first: Mapping[str, Any],
    host_key: str,
    secrets_doc: dict[str, Any],
    package_update: bool = True,
    package_upgrade: bool = False,
) -> str:
    """The user data of a monitoring host named ``name`` at public ``address``; ``peers``: the other monitoring hosts'
    addresses (the Alertmanagers' cluster); ``first``: its runtime document (:func:`monitoring_runtime`)."""
    if check.hostname(name) is None:
        raise ValueError(f"name must be this host's name (a DNS label), got {name!r}")
    me = str(ipaddress.ip_address(address))
    others = firewall.addresses(peers, "peers")
    if me in others or len(set(others)) != len(others):
        raise ValueError("peers are the OTHER monitoring hosts' addresses, each once")
    if "monitoring" not in first or "alertmanager" not in secrets_doc:
        raise ValueError("a monitoring host needs its runtime document's targets and its receivers")
    alertmanager_args = [
        f"--web.listen-address=:{ALERTMANAGER_PORT}",
        f"--cluster.listen-address=0.0.0.0:{ALERTMANAGER_CLUSTER_PORT}",
        f"--cluster.advertise-address={_host(me)}:{ALERTMANAGER_CLUSTER_PORT}",
        *[f"--cluster.peer={_host(p)}:{ALERTMANAGER_CLUSTER_PORT}" for p in others],
    ]
    doc = document.base(
        packages=[*PACKAGES, *dns.PACKAGES],
        hostname=name,
        package_update=package_update,
        package_upgrade=package_upgrade,
    )
    doc["write_files"] = [
        document.ssh_hardening(),
        document.write_file(secrets.KEY_FILE, host_key, permissions="0600"),
        document.write_file(secrets.SEALED_FILE, secrets.seal(secrets_doc, host_key) + "\n", permissions="0600"),
        runtime.first_boot_file(first),
        *hardening.harden(doc, role="monitoring", sets=first["firewall"]),
        document.write_file(PROMETHEUS_CONF, prometheus_config(alertmanagers=[me, *others])),
        document.write_file(
            PROMETHEUS_DEFAULTS,
            "# Managed by resilient_stack (cloud-init)\n"
            f'ARGS="--web.listen-address=:{PROMETHEUS_PORT} --storage.tsdb.retention.time={RETENTION}"\n',
        ),
        document.write_file(
            ALERTMANAGER_DEFAULTS,
            "# Managed by resilient_stack (cloud-init): the Alertmanagers' cluster (they de-duplicate notifications)\n"
            f'ARGS="{" ".join(alertmanager_args)}"\n',
        ),
        document.write_file(BLACKBOX_CONF, blackbox_config()),
        document.write_file(
            BLACKBOX_DEFAULTS,
            "# Managed by resilient_stack (cloud-init): probes for Prometheus on this host only\n"
            f'ARGS="--web.listen-address=127.0.0.1:{BLACKBOX_PORT} --config.file={BLACKBOX_CONF}"\n',
        ),
        document.write_file(HOST_ROLE_FILE, HOST_MONITORING + "\n"),
        document.write_file(dns.CONF, dns.pdns_config()),  # PowerDNS runs once root's sync has a zone for it
    ]
    services = [BLACKBOX_SERVICE, ALERTMANAGER_SERVICE, PROMETHEUS_SERVICE]
    doc["runcmd"] = (
        document.ssh_runcmd()
        + hardening.first_runcmd()
        + [
            ["install", "-d", "-o", "root", "-g", "prometheus", "-m", "0750", PROMETHEUS_TARGETS],
            ["systemctl", "disable", "--now", dns.SERVICE],  # Debian's package starts it with its own defaults
            [SYNC_SCRIPT, "--boot"],
            ["systemctl", "enable", *services],
            ["systemctl", "restart", *services],
        ]
        + hardening.last_runcmd()
    )
    return document.dump(doc)
