"""The words every layer shares: label keys, role names, ports and name patterns. Each is written here once.

The components write these labels and names, the auditor and the policy pack read them, the host payloads
and the drill use the same ports and roles. A rule about a name (what a placement may be called, what a SQL
identifier is) exists here only; the config models, the renderers and the components import it.
Pure: standard library only.
"""

from __future__ import annotations

import re
from typing import Mapping

# --------------------------------------------------------------------------------------------------
# Labels: instance/volume/container ``metadata`` keys, networking/load-balancer ``tags`` as key=value
# --------------------------------------------------------------------------------------------------

LABEL_PREFIX = "resilient-stack:"
ROLE_KEY = "resilient-stack:role"  # the role of a replica
PROTECTS_KEY = "resilient-stack:protects"  # on a backup: the role whose data it holds
QUORUM_KEY = "resilient-stack:quorum"  # "true" on a voting member
EXEMPT_KEY = "resilient-stack:exempt"  # a reason: findings naming only exempt resources are waived
# On a block-storage volume: the role of the replica whose data it holds, attached to that replica's instance in
# the same place (a database host's data volume). It is part of that replica, not one of its own: the rules
# count the instance, which burns with it.
STORAGE_OF_KEY = "resilient-stack:storage-of"
# On a replica: the other roles the same host also plays, comma-separated (a monitoring host that is also one of the
# stack's name servers: ``dns``). The rules count it once in each role: it burns with every one of them.
SERVES_KEY = "resilient-stack:serves"


def labels(
    role: str,
    *,
    protects: str | None = None,
    quorum: bool = False,
    exempt: str | None = None,
    serves: tuple[str, ...] = (),
) -> dict[str, str]:
    """The ``resilient-stack:*`` labels of a replica, as an instance/container ``metadata`` dict."""
    out = {ROLE_KEY: role}
    if serves:
        out[SERVES_KEY] = ",".join(serves)
    if protects:
        out[PROTECTS_KEY] = protects
    if quorum:
        out[QUORUM_KEY] = "true"
    if exempt:
        out[EXEMPT_KEY] = exempt
    return out


def tags(role: str, *, exempt: str | None = None) -> list[str]:
    """The same labels as networking / load-balancer ``tags`` (``key=value``)."""
    return [f"{k}={v}" for k, v in labels(role, exempt=exempt).items()]


def header_safe(values: Mapping[str, str]) -> dict[str, str]:
    """Labels spelled for object-storage metadata (``resilient-stack-role``): Swift metadata names are HTTP
    header names, where ``:`` is not allowed. The readers accept both spellings."""
    return {k.replace(":", "-"): v for k, v in values.items()}


# --------------------------------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------------------------------

# What a group of replicas does (the rules count replicas per role)
WEB = "web"
DATABASE = "database"
OBJECT_STORAGE = "object-storage"
LOAD_BALANCER = "load-balancer"
BACKUP = "backup"
COMPUTE = "compute"
VOLUME = "volume"
FILE_SHARE = "file-share"
MONITORING = "monitoring"  # Prometheus + Alertmanager: a single-site monitoring role goes dark with what it watches
DNS = "dns"  # the stack's own authoritative name servers: the way in, whose answers must not all depend on one site
DATA_ROLES = frozenset({DATABASE, OBJECT_STORAGE, VOLUME, FILE_SHARE})  # losing every copy loses data
KNOWN_ROLES = (WEB, DATABASE, OBJECT_STORAGE, LOAD_BALANCER, BACKUP, COMPUTE, VOLUME, FILE_SHARE, MONITORING, DNS)
QUORUM_VALUES = ("true", "false")  # the resilient-stack:quorum label's whole vocabulary


def near_miss(value: str, choices) -> str | None:
    """The choice ``value`` was probably meant to be (wrong case, spaces or underscores, a plural, a typo), or
    ``None``: it is one of them, or like none of them."""
    import difflib

    choices = tuple(dict.fromkeys(choices))
    if value in choices:
        return None
    folded = value.strip().lower().replace("_", "-").replace(" ", "-")
    if folded in choices:
        return folded
    if folded.endswith("s") and folded[:-1] in choices:
        return folded[:-1]
    close = difflib.get_close_matches(folded, choices, n=1, cutoff=0.8)
    return close[0] if close else None


# What a host is (written to HOST_ROLE_FILE on every host the stack boots)
HOST_WEB = "web"
HOST_DB_PRIMARY = "db-primary"
HOST_DB_REPLICA = "db-replica"
HOST_MONITORING = "monitoring"
HOST_ROLES = (HOST_WEB, HOST_DB_PRIMARY, HOST_DB_REPLICA, HOST_MONITORING)
HOST_ROLE_FILE = "/etc/resilient-stack/role"

# --------------------------------------------------------------------------------------------------
# Ports (TCP)
# --------------------------------------------------------------------------------------------------

SSH_PORT = 22
HTTP_PORT = 80
HTTPS_PORT = 443
POSTGRES_PORT = 5432
MYSQL_PORT = 3306
DATABASE_PORTS = {POSTGRES_PORT: "PostgreSQL", MYSQL_PORT: "MySQL/MariaDB"}
# The database members' consensus (Patroni over etcd): etcd's client port stays on each host's loopback; the
# peer port and Patroni's REST API are reached by the other members only (their /32s), never by the world.
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
PATRONI_API_PORT = 8008
CLUSTER_PORTS = {
    POSTGRES_PORT: "PostgreSQL",
    ETCD_PEER_PORT: "etcd peers",
    ETCD_CLIENT_PORT: "etcd clients",
    PATRONI_API_PORT: "Patroni REST API",
}
# Metrics and alerts (resilient_stack.hosts.monitoring): every exporter admits the monitoring hosts only; the
# Alertmanagers gossip with each other; Prometheus's own UI is for the admin networks.
NODE_EXPORTER_PORT = 9100
POSTGRES_EXPORTER_PORT = 9187
ETCD_METRICS_PORT = 2381  # etcd's /metrics and /health over plain HTTP, apart from its TLS client port
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
ALERTMANAGER_CLUSTER_PORT = 9094
BLACKBOX_PORT = 9115  # on the monitoring host's loopback
EXPORTER_PORTS = {
    NODE_EXPORTER_PORT: "node exporter",
    POSTGRES_EXPORTER_PORT: "PostgreSQL exporter",
    ETCD_METRICS_PORT: "etcd metrics",
}
DNS_PORT = 53  # UDP and TCP: the stack's name servers answer anyone (they are authoritative, never recursive)
APP_PORT = 8080  # the web hosts' application, behind nginx on the host's loopback

# --------------------------------------------------------------------------------------------------
# Name patterns (anchored regular expressions, as strings for pydantic and compiled for code)
# --------------------------------------------------------------------------------------------------

# placement and stack names end up in host names (<name>-<placement>-web-<n>, a DNS label of at most 63
# characters) and in the backup bucket name (S3 rules: lower case)
PLACEMENT_NAME = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
DESIGN_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"  # a design's and its placements' names
ROLE_NAME = r"^[a-z][a-z0-9-]{0,62}$"
SQL_IDENT = r"^[a-z_][a-z0-9_]{0,62}$"  # a PostgreSQL role or database name that needs no quoting
UUID = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"  # an S3 bucket (and Swift container) name
HOST_LABEL = r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$"  # one DNS label
S3_ENDPOINT = r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$"  # host[:port], no scheme
S3_REGION = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
FQDN = r"^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+$"  # absolute, ending with a dot
AUTH_URL = r"^https?://[^\s]+$"
SSH_PUBLIC_KEY = (  # one OpenSSH public key line: type, base64 key, optional comment
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)"
    r" [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$"
)

PLACEMENT_NAME_RE = re.compile(PLACEMENT_NAME)
DESIGN_NAME_RE = re.compile(DESIGN_NAME)
ROLE_NAME_RE = re.compile(ROLE_NAME)
SQL_IDENT_RE = re.compile(SQL_IDENT)
UUID_RE = re.compile(UUID)
BUCKET_RE = re.compile(BUCKET)
HOST_LABEL_RE = re.compile(HOST_LABEL)
S3_REGION_RE = re.compile(S3_REGION)
SSH_PUBLIC_KEY_RE = re.compile(SSH_PUBLIC_KEY)
FQDN_RE = re.compile(FQDN)

# --------------------------------------------------------------------------------------------------
# Pulumi's wire markers (stack exports, previews, the policy SDK)
# --------------------------------------------------------------------------------------------------

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the key of a secret value's envelope
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # a value unknown until the resource is created
REDACTED = "[secret]"  # a secret the CLI could not decrypt
