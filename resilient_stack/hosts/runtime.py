"""The runtime configuration of a host: what may change while it runs, delivered without replacing it.

A host's user data is its **boot** configuration (packages, scripts, secrets, the cluster's members): the
components never change it on a running host (the instances ignore changes to it, see
:mod:`resilient_stack.components.database`), so a routine ``pulumi up`` never replaces a host. What changes
routinely reaches the running hosts through the instance's **metadata** instead, which the cloud updates in
place (Nova's ``metadata``, served at ``/openstack/latest/meta_data.json``):

* ``pg_hba``: the rules Patroni writes on a database member (the web hosts' addresses, ``database.appCidrs``,
  ``database.replicationCidrs``);
* ``firewall``: the elements of the host firewall's sets (the admin networks, the stack's members...);
* ``acme_peers``: on a web host, the other web hosts' addresses (it asks them for an ACME challenge token it does not
  hold);
* ``ssh_keys``: the public keys that log in as the image's default user (every host: root's sync writes the one
  file sshd reads them from, so a key removed is refused);
* ``backup_schedule``: on a database member, when the backups run (the timers' ``OnCalendar`` and random delay,
  written as their drop-ins);
* ``monitoring``: on a monitoring host, what Prometheus scrapes (every host of the stack, by job) and the alert rules
  (:mod:`.monitoring`);
* ``site``: on a web host, what it serves: nginx's ``server_name``, ``https``, the names of its ACME certificate
  (``certify``, or None) and the index page's ``title`` (root's sync rewrites the site, checked by ``nginx -t``
  before nginx reloads, the page, and asks for a certificate of new names).

The document is compact JSON split into items ``rs-runtime-00``, ``rs-runtime-01``... of at most 255
characters each (Nova's limit for a metadata value). On the host, root's sync unit
(``resilient-stack-sync``, payload ``runtime/sync.py``) joins them, checks the document and applies what
changed; the user data carries the same document for the first boot (:data:`RUNTIME_CONFIG`). This document holds
no secret (addresses, networks, timings); the secrets travel beside it, sealed with the host's own key
(:mod:`.secrets`), and the same sync applies them. Pure: standard library (and the payloads).
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping, Sequence

from resilient_stack.core.vocabulary import PATRONI_API_PORT, SSH_PUBLIC_KEY
from resilient_stack.hosts import dns, payload, secrets
from resilient_stack.hosts.backup import JITTER_MAX_MINUTES, SCHEDULE_DROP_IN
from resilient_stack.hosts.document import write_file
from resilient_stack.hosts.exporters import TEXTFILE_DIR
from resilient_stack.hosts.fields import CALENDAR_RE, LABEL_MAX, SERVER_NAME_RE
from resilient_stack.hosts.paths import (
    ALERTMANAGER_CONF,
    ALERTMANAGER_SERVICE,
    BACKUP_KINDS,
    BACKUP_TIMER,
    CERT_NAMES,
    CERT_SERVICE,
    INDEX_TEMPLATE,
    LOGIN_USER,
    METADATA_URL,
    NGINX_SITE,
    PATRONI_SERVICE,
    PROMETHEUS_RULES,
    PROMETHEUS_SERVICE,
    PROMETHEUS_TARGETS,
    RUNTIME_CONFIG,
    SERVER_NAME_CONF,
    SITE_DIR,
    SSH_KEYS_DIR,
    SYNC_SCRIPT,
    SYNC_SERVICE,
    SYSTEMD_DIR,
    TLS_DIR,
    TLS_GROUP,
    WEB_ROOT,
)

__all__ = ["PREFIX", "VERSION", "CHUNK", "MAX_ITEMS", "SYNC_EVERY", "document", "encode", "decode", "sync_files"]

PREFIX = "rs-runtime-"
VERSION = 1
CHUNK = 255  # Nova: a metadata value is at most 255 characters
MAX_ITEMS = 100  # Nova's default quota is 128 metadata items per instance; the labels use a few
SYNC_EVERY = "2min"  # how often root's sync unit reads the metadata
CERTIFICATE_METRICS = f"{TEXTFILE_DIR}/resilient_stack_certificates.prom"  # the certificates' expiry (root's sync)
_KEY = re.compile(re.escape(PREFIX) + r"(\d{2})")
TITLE_MARK = (
    "<!--rs:title-->"  # where root's sync puts the title in the index page's template (never in an escaped text)
)


def document(
    *,
    pg_hba: Sequence[str] | None = None,
    firewall: Mapping[str, Sequence[str]] | None = None,
    acme_peers: Sequence[str] | None = None,
    dcs: Mapping[str, Any] | None = None,
    app: Mapping[str, Any] | None = None,
    ssh_keys: Sequence[str] | None = None,
    site: Mapping[str, Any] | None = None,
    monitoring: Mapping[str, Any] | None = None,
    backup_schedule: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The runtime document of one host (keys in a fixed order: the same inputs give the same items).

    ``dcs``: Patroni's dynamic configuration as the stack sets it (a database member; the sync on the primary keeps
    the running cluster at it)."""
    doc: dict[str, Any] = {"v": VERSION}
    if dcs is not None:
        doc["dcs"] = json.loads(json.dumps(dcs))
    if acme_peers is not None:
        doc["acme_peers"] = [str(p) for p in acme_peers]
    if pg_hba is not None:
        doc["pg_hba"] = [str(rule) for rule in pg_hba]
    if firewall is not None:
        doc["firewall"] = {name: [str(e) for e in elements] for name, elements in sorted(firewall.items())}
    if app is not None:
        doc["app"] = json.loads(json.dumps(app))  # the application's agent reads it (resilient_stack.hosts.app)
    if ssh_keys is not None:
        doc["ssh_keys"] = [str(k) for k in ssh_keys]
    if site is not None:
        doc["site"] = json.loads(json.dumps(site))
    if monitoring is not None:
        doc["monitoring"] = json.loads(json.dumps(monitoring))  # a monitoring host's targets and alert rules
    if backup_schedule is not None:
        doc["backup_schedule"] = dict(backup_schedule)  # a database member's backup timers
    return doc


def widest_address(i: int) -> str:
    """A distinct IPv4 address of the greatest length (15 characters): stands for an address not known yet."""
    return f"255.255.{200 + i // 50}.{200 + i % 50}"


def encode(doc: Mapping[str, Any], *, slots: int | None = None) -> dict[str, str]:
    """``doc`` as metadata items ``rs-runtime-NN`` (compact JSON in chunks of at most :data:`CHUNK` characters);
    ``slots``: exactly that many items, the last ones empty (the keys are then known before the addresses are, so
    a preview sees the instance's labels: the components size them with :func:`widest_address`)."""
    text = json.dumps(doc, separators=(",", ":"), sort_keys=False, ensure_ascii=True)
    chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    if slots is not None:
        if len(chunks) > slots:
            raise ValueError(f"the runtime configuration needs {len(chunks)} metadata items, {slots} were reserved")
        chunks += [""] * (slots - len(chunks))
    if len(chunks) > MAX_ITEMS:
        raise ValueError(f"the runtime configuration needs {len(chunks)} metadata items; at most {MAX_ITEMS} fit")
    return {f"{PREFIX}{i:02d}": chunk for i, chunk in enumerate(chunks)}


def decode(metadata: Mapping[str, str]) -> dict[str, Any]:
    """The document back from an instance's metadata (what the host's sync does); ValueError when incomplete."""
    parts = sorted((int(m.group(1)), v) for k, v in metadata.items() if (m := _KEY.fullmatch(k)))
    if not parts:
        raise ValueError("no runtime configuration in the metadata")
    if [i for i, _ in parts] != list(range(len(parts))):
        raise ValueError("the runtime configuration's metadata items are not consecutive")
    doc = json.loads("".join(v for _, v in parts))
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        raise ValueError(f"not a version {VERSION} runtime configuration")
    return doc


def first_boot_file(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime document of the first boot (``write_files`` entry, 0600 root): what the sync applies when the
    metadata service does not answer at the first boot, and the state later runs compare with."""
    return write_file(RUNTIME_CONFIG, json.dumps(doc, indent=1, sort_keys=True) + "\n", permissions="0600")


def sync_files(
    *,
    role: str,
    patroni_conf: str = "",
    firewall_table: str = "",
    firewall_sets_file: str = "",
    acme_peers_conf: str = "",
    pgbackrest_secrets: str = "",
    app_credentials: str = "",
    site: bool = False,
) -> list[dict[str, Any]]:
    """The sync script and its units (``write_files`` entries); what it applies depends on the role (``web``,
    ``db``, ``monitoring``) and on the files the role has (an empty path: nothing of that kind on this host;
    ``site``: a web site)."""
    monitoring = {
        "monitoring_targets": PROMETHEUS_TARGETS,
        "monitoring_rules": PROMETHEUS_RULES,
        "alertmanager_conf": ALERTMANAGER_CONF,
        "dns_named_conf": dns.NAMED_CONF,
        "dns_zone": dns.ZONE_FILE,
    }
    web = {
        "site_dir": SITE_DIR,
        "nginx_site": NGINX_SITE,
        "server_name_conf": SERVER_NAME_CONF,
        "index_template": INDEX_TEMPLATE,
        "index_page": f"{WEB_ROOT}/index.html",
        "cert_names": CERT_NAMES,
        "cert_service": f"{CERT_SERVICE}.service",
    }
    return [
        write_file(
            SYNC_SCRIPT,
            payload.render(
                "runtime/sync.py",
                metadata_url=METADATA_URL,
                prefix=PREFIX,
                secret_prefix=secrets.PREFIX,
                version=VERSION,
                runtime_config=RUNTIME_CONFIG,
                key_file=secrets.KEY_FILE,
                sealed_file=secrets.SEALED_FILE,
                role=role,
                patroni_conf=patroni_conf,
                patroni_service=PATRONI_SERVICE,
                patroni_api_port=PATRONI_API_PORT,
                firewall_table=firewall_table,
                firewall_sets_file=firewall_sets_file,
                acme_peers_conf=acme_peers_conf,
                tls_dir=TLS_DIR,
                tls_group=TLS_GROUP,
                pgbackrest_secrets=pgbackrest_secrets,
                app_credentials=app_credentials,
                login_user=LOGIN_USER,
                ssh_keys_dir=SSH_KEYS_DIR,
                ssh_key_re=repr(SSH_PUBLIC_KEY),
                server_name_re=repr(SERVER_NAME_RE.pattern),
                title_max=LABEL_MAX,
                title_mark=TITLE_MARK,
                **{k: v if site else "" for k, v in web.items()},
                monitoring_functions=payload.lines(
                    "runtime/sync_monitoring.py",
                    prometheus_service=PROMETHEUS_SERVICE,
                    alertmanager_service=ALERTMANAGER_SERVICE,
                    dns_service=dns.SERVICE,
                    **{k: v if role == "monitoring" else "" for k, v in monitoring.items()},
                ),
                certificate_functions=payload.lines(
                    "runtime/sync_certificates.py", certificate_metrics=CERTIFICATE_METRICS
                ),
                backup_functions=payload.lines(
                    "runtime/sync_backups.py",
                    backup_timers=repr(
                        {kind: BACKUP_TIMER.format(kind=kind) for kind in BACKUP_KINDS} if pgbackrest_secrets else {}
                    ),
                    systemd_dir=SYSTEMD_DIR,
                    drop_in=SCHEDULE_DROP_IN,
                    calendar_re=repr(CALENDAR_RE.pattern),
                    jitter_max_s=JITTER_MAX_MINUTES * 60,
                ),
            ),
            permissions="0755",
        ),
        write_file(
            f"{SYSTEMD_DIR}/{SYNC_SERVICE}.service",
            payload.render("systemd/resilient-stack-sync.service", sync_script=SYNC_SCRIPT),
        ),
        write_file(
            f"{SYSTEMD_DIR}/{SYNC_SERVICE}.timer",
            payload.render("systemd/resilient-stack-sync.timer", every=SYNC_EVERY),
        ),
    ]
