"""The Pulumi components under mocks, for every shipped stack: resources, providers, firewalls, secrets,
labels, user data, and the audit of the resulting `pulumi stack export`."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter

import pytest
import yaml

from resilient_stack.audit.inputs import read_stack_export
from resilient_stack.components import regional
from resilient_stack.components.stack_config import load_stack_file
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.rules import DesignRejected, RuleConfig, evaluate
from resilient_stack.core.vocabulary import (
    PROTECTS_KEY,
    QUORUM_KEY,
    ROLE_KEY,
    SECRET_SIG,
    SERVES_KEY,
    header_safe,
)
from resilient_stack.hosts import cloudinit
from resilient_stack.testing.mockrun import (
    RecordedResource,
    RecordingMocks,
    run_program,
    to_stack_export,
)

# cloud-init's own schema check lives with the cloudinit tests; reuse it rather than duplicate it
from tests.hosts.test_cloudinit import validate  # noqa: F401  (pytest fixture)

from .conftest import (
    PASSING,
    RANDOM_PASSWORD,
    sealed_document,
    stack_file,
    user_data,
    user_data_doc,
    user_data_file,
)

INSTANCE = "openstack:compute/instance:Instance"
CONTAINER = "openstack:objectstorage/container:Container"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
SECGROUP = "openstack:networking/secGroup:SecGroup"
PROVIDER = "pulumi:providers:openstack"
REGIONAL = "resilient-stack:regional:RegionalWebStack"
DBTIER = "resilient-stack:database:DatabaseTier"
PKI = "pulumi-python:dynamic/resilient-stack:ClusterPki"
WORLD = {"0.0.0.0/0", "::/0"}


def of_type(res: list[RecordedResource], typ: str) -> list[RecordedResource]:
    return [r for r in res if r.type == typ]


def named(res: list[RecordedResource], name: str, typ: str | None = None) -> RecordedResource:
    return next(r for r in res if r.name == name and (typ is None or r.type == typ))


def descendants(res: list[RecordedResource], urn: str) -> list[RecordedResource]:
    children: dict[str, list[RecordedResource]] = {}
    for r in res:
        children.setdefault(r.parent or "", []).append(r)
    out, todo = [], [urn]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c.urn)
    return out


def provider_name(r: RecordedResource) -> str:
    return r.provider_urn.rsplit("::", 1)[1] if r.provider_urn else ""


def short(typ: str) -> str:
    return typ.rsplit(":", 1)[1]


# --------------------------------------------------------------------------------------------------
# resources
# --------------------------------------------------------------------------------------------------

# Children of each RegionalWebStack, by type: network, subnet, security groups (web when there are web
# hosts, admin, db for a database member), their rules (4 web; the admin group one per adminCidrs network, none in
# the shipped stacks, which close SSH; the db group none without appCidrs), the server group, one public port per
# host (web hosts and the database member), the web hosts and each web host's own key (a RandomPassword: its sealed
# secrets). No object-storage container: the application carries its own static assets.
EXPECTED_PLACEMENTS = {
    "production": {
        "gra": {
            "Network": 1,
            "Subnet": 1,
            "SecGroup": 3,
            "SecGroupRule": 4,
            "ServerGroup": 1,
            "Port": 3,
            "Instance": 2,
            "RandomPassword": 2,
        },
        "waw": {
            "Network": 1,
            "Subnet": 1,
            "SecGroup": 3,
            "SecGroupRule": 4,
            "ServerGroup": 1,
            "Port": 3,
            "Instance": 2,
            "RandomPassword": 2,
        },
        "ik": {
            "Network": 1,
            "Subnet": 1,
            "SecGroup": 3,
            "SecGroupRule": 4,
            "ServerGroup": 1,
            "Port": 2,
            "Instance": 1,
            "RandomPassword": 1,
        },
    },
    "staging": {
        "gra": {
            "Network": 1,
            "Subnet": 1,
            "SecGroup": 3,
            "SecGroupRule": 4,
            "ServerGroup": 1,
            "Port": 2,
            "Instance": 1,
            "RandomPassword": 1,
        },
        "waw": {
            "Network": 1,
            "Subnet": 1,
            "SecGroup": 3,
            "SecGroupRule": 4,
            "ServerGroup": 1,
            "Port": 2,
            "Instance": 1,
            "RandomPassword": 1,
        },
        "uk": {"Network": 1, "Subnet": 1, "SecGroup": 2, "ServerGroup": 1, "Port": 1},
    },
}
# The database tier: 4 cluster passwords (replication, pg_rewind, Patroni's API, its etcd user), the application's
# password, the backup repository's passphrase, the application's write token, the cluster id and one key per member
# (RandomPasswords, all protected); the cluster's CA (ClusterPki); the backup container (no credential: its keys are
# the dedicated user's), one host, data volume and attachment per member; rules: PostgreSQL, etcd's peer and client
# ports and Patroni's API per (member, other member), PostgreSQL per (member, web host).
WEB_HOSTS = {"production": 5, "staging": 2}
MONITORING_HOSTS = {"production": 2, "staging": 0}
# + per (member, monitoring host) the node exporter, the PostgreSQL exporter and etcd's metrics
EXPECTED_DB = {
    stack: {
        "RandomPassword": 9 + 3,
        "ClusterPki": 1,
        "Container": 1,
        "Instance": 3,
        "SecGroupRule": 4 * 2 * 3 + 3 * web + 3 * 3 * MONITORING_HOSTS[stack],
        "Volume": 3,
        "VolumeAttach": 3,
    }
    for stack, web in WEB_HOSTS.items()
}
# The monitoring hosts (production: waw and ik): their component; per host a security group, a public port, an
# instance and its key; per (host, other host) 5 rules (Alertmanager's API, its cluster in TCP and UDP, Prometheus,
# the node exporter); per (placement with web hosts, host) the node exporter's rule; the members' rules (above);
# production's monitoring hosts are also the name servers of its zone: per host DNS in UDP and TCP from anyone.
ZONE_SERVED = {"production": True, "staging": False}
MONITORING_TOTAL = {
    stack: (1 + 4 * m + 5 * m * (m - 1) + 3 * m + 3 * 3 * m + (2 * m if ZONE_SERVED[stack] else 0)) if m else 0
    for stack, m in MONITORING_HOSTS.items()
}
# + the web hosts' keys, the tier's new secrets, its CA and the etcd client port's rules (3 members x 2 others),
# - the SSH rule of each placement (the shipped stacks' adminCidrs are empty: SSH closed until you name a network),
# - the static-assets container of each placement with web hosts (3 in production, 2 in staging: never served),
# + the release phase's password (the application's migrations and release log)
EXPECTED_TOTAL = {"production": 107 + 5 + 6 + 1 + 6 - 3 - 3 + 1, "staging": 86 + 2 + 6 + 1 + 6 - 3 - 2 + 1}
PORT = "openstack:networking/port:Port"


@pytest.mark.parametrize("stack", PASSING)
def test_resource_counts_per_placement(runs, stack):
    res = runs[stack]
    name = load_stack_file(stack_file(stack)).name
    sites = {r.name.removeprefix(f"{name}-"): r for r in of_type(res, REGIONAL)}
    assert set(sites) == set(EXPECTED_PLACEMENTS[stack])
    for placement, expected in EXPECTED_PLACEMENTS[stack].items():
        got = Counter(short(r.type) for r in descendants(res, sites[placement].urn))
        assert dict(got) == expected, placement
    (db,) = of_type(res, DBTIER)
    assert dict(Counter(short(r.type) for r in descendants(res, db.urn))) == EXPECTED_DB[stack]
    assert len(of_type(res, PROVIDER)) == len(EXPECTED_PLACEMENTS[stack]) + 1  # + the backup placement
    assert len(res) == EXPECTED_TOTAL[stack] + MONITORING_TOTAL[stack]
    assert [r.type for r in res].count("pulumi:pulumi:Stack") == 1


@pytest.mark.parametrize("stack", PASSING)
def test_every_child_of_a_placement_uses_its_placements_provider(runs, stack):
    res = runs[stack]
    cfg = load_stack_file(stack_file(stack))
    providers = {r.name: r for r in of_type(res, PROVIDER)}
    for p in cfg.placements:
        prov = providers[f"{cfg.name}-{p.name}"]
        assert prov.inputs["region"] == p.region
        assert prov.inputs.get("cloud") == p.cloud and prov.inputs.get("authUrl") == p.auth_url
        site = named(res, f"{cfg.name}-{p.name}", REGIONAL)
        kids = [r for r in descendants(res, site.urn) if r.custom]
        openstack_kids = [r for r in kids if r.type.startswith("openstack:")]
        assert openstack_kids and all(provider_name(r) == prov.name for r in openstack_kids), p.name
        # the rest are the web hosts' own keys (no cloud behind them)
        assert sorted(r.name for r in kids if r not in openstack_kids) == sorted(
            f"{cfg.name}-{p.name}-web-{i}-host-key" for i in range(1, p.web_count + 1)
        )
        assert {r.type for r in kids if r not in openstack_kids} <= {RANDOM_PASSWORD}
        # the placement's database host and its PostgreSQL rules too
        assert provider_name(named(res, f"{cfg.name}-db-{p.name}")) == prov.name if p.hosts_database else True
        for rule in [r for r in of_type(res, RULE) if r.name.startswith(f"{cfg.name}-db-{p.name}-pg-from-")]:
            assert provider_name(rule) == prov.name
    backup_provider = providers[f"{cfg.name}-{cfg.backups.name}"]
    assert backup_provider.inputs["region"] == cfg.backups.region
    assert provider_name(named(res, f"{cfg.name}-db-backups")) == backup_provider.name
    # no OpenStack resource anywhere on a default provider
    assert all(r.provider for r in res if r.custom and r.type.startswith("openstack:"))


@pytest.mark.parametrize("stack", PASSING)
def test_security_groups(runs, stack):
    res = runs[stack]
    cfg = load_stack_file(stack_file(stack))
    groups = {r.id: r.inputs["name"] for r in of_type(res, SECGROUP)}
    db_hosts = {r.outputs["accessIpV4"] for r in of_type(res, INSTANCE) if r.inputs["metadata"][ROLE_KEY] == "database"}
    web_hosts = {r.outputs["accessIpV4"] for r in of_type(res, INSTANCE) if r.inputs["metadata"][ROLE_KEY] == "web"}
    mon_hosts = {
        r.outputs["accessIpV4"] for r in of_type(res, INSTANCE) if r.inputs["metadata"][ROLE_KEY] == "monitoring"
    }
    assert len(mon_hosts) == MONITORING_HOSTS[stack]
    monitors = {f"{ip}/32" for ip in mon_hosts}
    rules_by_group: dict[str, list[dict]] = {}
    for r in of_type(res, RULE):
        assert r.inputs["direction"] == "ingress" and r.inputs["protocol"] in ("tcp", "udp")
        assert r.inputs["protocol"] == "tcp" or r.inputs["portRangeMin"] in (9094, 53)  # the Alertmanagers' gossip
        assert r.inputs["portRangeMin"] == r.inputs["portRangeMax"]
        rules_by_group.setdefault(groups[r.inputs["securityGroupId"]], []).append(r.inputs)
    for p in cfg.placements:
        base = f"{cfg.name}-{p.name}"
        ssh = [(x["remoteIpPrefix"], x["ethertype"]) for x in rules_by_group.get(f"{base}-admin", [])]
        assert sorted(ssh) == sorted((c, "IPv4") for c in cfg.admin_cidrs)
        assert all(x["portRangeMin"] == 22 for x in rules_by_group.get(f"{base}-admin", []))
        if p.web_count:
            web = {(x["portRangeMin"], x["remoteIpPrefix"], x["ethertype"]) for x in rules_by_group[f"{base}-web"]}
            assert web == {
                (80, "0.0.0.0/0", "IPv4"),
                (80, "::/0", "IPv6"),
                (443, "0.0.0.0/0", "IPv4"),
                (443, "::/0", "IPv6"),
            } | {(9100, m, "IPv4") for m in monitors}  # the node exporter: the monitoring hosts only
        if p.hosts_database:
            own = named(res, f"{cfg.name}-db-{p.name}").outputs["accessIpV4"]
            by_port: dict[int, set[str]] = {}
            for x in rules_by_group[f"{base}-db"]:
                by_port.setdefault(x["portRangeMin"], set()).add(x["remoteIpPrefix"])
            others = {f"{ip}/32" for ip in db_hosts - {own}}
            # exactly the other members (and, for PostgreSQL, every web host), each as a /32; etcd's client port
            # (mutual TLS) too: a replaced member's membership change goes through another member's client API
            assert by_port == {
                5432: others | {f"{ip}/32" for ip in web_hosts},
                2380: others,
                2379: others,
                8008: others,
                **({9100: monitors, 9187: monitors, 2381: monitors} if monitors else {}),
            }
        if cfg.monitoring is not None and p.name in cfg.monitoring.placements:
            own = f"{named(res, f'{cfg.name}-mon-{p.name}').outputs['accessIpV4']}/32"
            got = {(x["protocol"], x["portRangeMin"], x["remoteIpPrefix"]) for x in rules_by_group[f"{base}-mon"]}
            # the other monitoring hosts only (the admin networks: none in the shipped stacks)
            assert got == {
                (pr, port, m)
                for m in monitors - {own}
                for pr, port in (("tcp", 9093), ("tcp", 9094), ("udp", 9094), ("tcp", 9090), ("tcp", 9100))
            } | ({("udp", 53, "0.0.0.0/0"), ("tcp", 53, "0.0.0.0/0")} if ZONE_SERVED[stack] else set())
    for group, rules in rules_by_group.items():
        for x in rules:
            if x["portRangeMin"] not in (80, 443):
                assert x["remoteIpPrefix"] not in WORLD or (x["portRangeMin"] == 53 and group.endswith("-mon")), x
            assert x["portRangeMin"] in (22, 53, 80, 443, 5432, 2379, 2380, 8008, 9100, 9187, 2381, 9090, 9093, 9094)
            if x["portRangeMin"] in (9100, 9187, 2381, 9090, 9093, 9094):  # metrics: the monitoring hosts only
                assert x["remoteIpPrefix"] in monitors, (group, x)
            if x["portRangeMin"] == 2379:  # etcd's client API: the members only, never a web host
                assert group.endswith("-db") and x["remoteIpPrefix"] not in {f"{ip}/32" for ip in web_hosts}
    # the hosts wear the right groups, on their private NIC and on their public port
    ports = {r.id: r for r in of_type(res, PORT)}
    ids = {v: k for k, v in groups.items()}
    for host in of_type(res, INSTANCE):
        role = host.inputs["metadata"][ROLE_KEY]
        placement = host.inputs["name"].removeprefix(f"{cfg.name}-").split("-")[0]
        kinds = ("web", "admin") if role == "web" else ("mon", "admin") if role == "monitoring" else ("db", "admin")
        assert host.inputs["securityGroups"] == [f"{cfg.name}-{placement}-{k}" for k in kinds]
        port = ports[host.inputs["networks"][0]["port"]]
        assert port.inputs["securityGroupIds"] == [ids[f"{cfg.name}-{placement}-{k}"] for k in kinds]


def test_the_admin_networks_open_ssh_in_every_placements_admin_group():
    """The shipped stacks close SSH (no rule: test_security_groups); the networks an operator names open it."""
    admin = ["198.18.7.0/24", "fd00:7::/48"]
    res = run_program(stack_file("staging"), config_overrides={"resilient-stack:adminCidrs": admin})
    groups = {r.id: r.inputs["name"] for r in of_type(res, SECGROUP)}
    for p in load_stack_file(stack_file("staging")).placements:
        ssh = {
            (x.inputs["remoteIpPrefix"], x.inputs["ethertype"], x.inputs["portRangeMin"])
            for x in of_type(res, RULE)
            if groups[x.inputs["securityGroupId"]] == f"rs-staging-{p.name}-admin"
        }
        assert ssh == {("198.18.7.0/24", "IPv4", 22), ("fd00:7::/48", "IPv6", 22)}, p.name


@pytest.mark.parametrize("stack", PASSING)
def test_every_address_exists_before_any_instance(runs, stack):
    """Each host's public address is a port on the external network made beforehand: the instance attaches
    to it (first NIC) and depends on it, and its address is the instance's access address."""
    res = runs[stack]
    ports = {r.id: r for r in of_type(res, PORT)}
    by_urn = {r.urn: r for r in res}
    assert len(ports) == len(of_type(res, INSTANCE))
    for host in of_type(res, INSTANCE):
        nic, private = host.inputs["networks"]
        assert nic["accessNetwork"] is True and set(nic) == {"port", "accessNetwork"} and set(private) == {"uuid"}
        port = ports[nic["port"]]
        assert port.urn in host.dependencies
        assert port.inputs["name"] == host.inputs["name"]
        assert host.outputs["accessIpV4"] in port.outputs["allFixedIps"]
        # the port is on the external network the program looked up by name (not one it made)
        assert port.inputs["networkId"] not in {r.id for r in of_type(res, "openstack:networking/network:Network")}
        assert not any(d in by_urn and by_urn[d].type == INSTANCE for d in port.dependencies)


@pytest.mark.parametrize("stack", PASSING)
def test_passwords_credentials_and_user_data_are_secrets(runs, stack):
    res = runs[stack]
    cfg = load_stack_file(stack_file(stack))
    db, length = f"{cfg.name}-db", cfg.database.password_length
    hosts = of_type(res, INSTANCE)
    passwords = {p.name: p for p in of_type(res, RANDOM_PASSWORD)}
    # every generated secret, by name and length: the cluster's passwords, the application's, the repository's
    # passphrase, the write token, the cluster id and one key per host (database members and web hosts)
    assert {n: p.inputs["length"] for n, p in passwords.items()} == {
        **{f"{db}-{kind}-password": length for kind in ("replication", "rewind", "api", "etcd", "app", "migrate")},
        f"{db}-backup-cipher-password": 64,
        f"{db}-app-write-token": 40,
        f"{db}-cluster-id": 16,
        **{f"{h.name}-host-key": 64 for h in hosts},
    }
    # each a Pulumi secret, letters and digits, and protected: no refactor or --replace silently replaces one
    for p in passwords.values():
        assert "result" in p.secret_outputs and p.inputs["special"] is False, p.name
        assert p.options.get("protect") is True, p.name
        assert p.outputs["result"].isalnum() and len(p.outputs["result"]) == p.inputs["length"], p.name
    assert passwords[f"{db}-cluster-id"].inputs["upper"] is False
    assert passwords[f"{db}-cluster-id"].outputs["result"] == passwords[f"{db}-cluster-id"].outputs["result"].lower()
    # the cluster's CA: its private keys are secret outputs, and it is protected too
    (pki,) = of_type(res, PKI)
    assert {"caKey", "keys", "adminKeys"} <= pki.secret_outputs and pki.options.get("protect") is True
    assert not {"caCert", "certs", "adminCerts"} & pki.secret_outputs, "certificates are public"
    assert not [r for r in res if r.type.startswith("openstack:identity/")], "no credential of the deploying user"
    assert hosts and all("userData" in h.secret_inputs and "userData" in h.secret_outputs for h in hosts)
    export = json.dumps(to_stack_export(res))
    for p in passwords.values():
        assert p.outputs["result"] not in export, p.name
    assert "#cloud-config" not in export and "PRIVATE KEY" not in export
    assert pki.outputs["caCert"].split("\n")[1] in export, "the CA's certificate is public"
    # the metadata travels in clear (updated in place): only ciphertext of the secrets there
    for h in hosts:
        assert not [
            v for v in h.inputs["metadata"].values() if any(p.outputs["result"] in v for p in passwords.values())
        ]


@pytest.mark.parametrize("stack", PASSING)
def test_role_labels(runs, stack):
    res = runs[stack]
    cfg = load_stack_file(stack_file(stack))
    hosts = of_type(res, INSTANCE)

    def labels(host):  # the runtime configuration's items (rs-runtime-NN) aside
        return {k: v for k, v in host.inputs["metadata"].items() if k.startswith("resilient-stack:")}

    web = [h for h in hosts if labels(h) == {ROLE_KEY: "web"}]
    db = [h for h in hosts if labels(h) == {ROLE_KEY: "database", QUORUM_KEY: "true"}]
    serves = {SERVES_KEY: "dns"} if ZONE_SERVED[stack] else {}  # the monitoring hosts are the zone's name servers
    mon = [h for h in hosts if labels(h) == {ROLE_KEY: "monitoring", **serves}]
    assert len(web) == sum(p.web_count for p in cfg.placements)
    assert len(db) == len(cfg.database_placements)
    assert len(mon) == (len(cfg.monitoring.placements) if cfg.monitoring else 0) == MONITORING_HOSTS[stack]
    assert len(web) + len(db) + len(mon) == len(hosts)
    # container metadata becomes X-Container-Meta-* HTTP headers: no ':' in the names
    containers = {c.inputs["name"]: c.inputs["metadata"] for c in of_type(res, CONTAINER)}
    assert containers == {cfg.backup_container: header_safe({ROLE_KEY: "backup", PROTECTS_KEY: "database"})}
    for r in res:
        if r.type.startswith("openstack:networking/") and "tags" in r.inputs:
            assert any(t.startswith(f"{ROLE_KEY}=") for t in r.inputs["tags"])


@pytest.mark.parametrize("stack", PASSING)
def test_export_passes_the_auditor(runs, stack):
    export = to_stack_export(runs[stack])
    catalog = load_catalog()
    loaded = read_stack_export(export, f"{stack}.json", catalog)
    report = evaluate(loaded.placements, RuleConfig(), catalog)
    assert report.verdict == "pass", [f.message for f in report.findings if f.blocking]
    roles = Counter(p.role for p in loaded.placements)
    cfg = load_stack_file(stack_file(stack))
    assert roles["web"] == sum(p.web_count for p in cfg.placements)
    assert roles["database"] == len(cfg.database_placements) and roles["backup"] == 1
    assert roles["object-storage"] == 0, "the backup container is the stack's only one"
    assert all(p.resolved for p in loaded.placements)
    assert {p.site for p in loaded.placements if p.role == "backup"} == {"ovh-limburg"}
    assert all(p.quorum for p in loaded.placements if p.role == "database")


@pytest.mark.parametrize("stack", PASSING)
def test_outputs(runs, stack):
    res = runs[stack]
    cfg = load_stack_file(stack_file(stack))
    outputs = next(r for r in res if r.type == "pulumi:pulumi:Stack").outputs
    primary = named(res, f"{cfg.name}-db-{cfg.primary.name}")
    assert outputs["databasePrimaryAddress"] == primary.outputs["accessIpV4"]
    assert set(outputs["databaseAddresses"]) == {p.name for p in cfg.database_placements}
    assert outputs["backupContainer"] == cfg.backup_container
    assert "staticContainers" not in outputs, "the stack creates no static-assets containers"
    web_ips = {h.outputs["accessIpV4"] for h in of_type(res, INSTANCE) if h.inputs["metadata"][ROLE_KEY] == "web"}
    assert set(outputs["entryPoints"]) == web_ips
    # the way in: the A record set of every web host, for the user's DNS provider
    assert outputs["dnsRecordSet"] == {"type": "A", "ttl": 300, "records": outputs["entryPoints"]}
    # the connection string of the users' own applications: every member, the primary first
    d = cfg.database
    hosts = [
        outputs["databaseAddresses"][p.name]
        for p in (cfg.primary, *[q for q in cfg.placements if q.database_role == "replica"])
    ]
    # verify-full: the members' certificates are checked against the cluster's CA (output databaseCaCertificate)
    assert outputs["databaseUrl"] == (
        f"postgresql://{d.app_user}@{','.join(f'{h}:5432' for h in hosts)}/{d.app_database}"
        "?target_session_attrs=read-write&sslmode=verify-full&channel_binding=require&connect_timeout=2"
    )
    (pki,) = of_type(res, PKI)
    assert outputs["databaseCaCertificate"] == pki.outputs["caCert"]
    assert outputs["databaseCaCertificate"].startswith("-----BEGIN CERTIFICATE-----\n")
    # the application's write token and every passphrase of the backup repository with its path: secrets
    stack_outputs = next(r for r in res if r.type == "pulumi:pulumi:Stack")
    assert {"appWriteToken", "backupRepositories"} <= stack_outputs.secret_outputs
    assert "databaseCaCertificate" not in stack_outputs.secret_outputs
    token = named(res, f"{cfg.name}-db-app-write-token", RANDOM_PASSWORD).outputs["result"]
    assert outputs["appWriteToken"] == token
    passphrase = named(res, f"{cfg.name}-db-backup-cipher-password", RANDOM_PASSWORD).outputs["result"]
    assert outputs["backupRepositories"] == [{"generation": 0, "path": "/pgbackrest", "passphrase": passphrase}]
    for p in cfg.placements:
        got = outputs["placements"][p.name]
        assert got["region"] == p.region and len(got["publicAddresses"]) == p.web_count
        assert got["entryPoints"] == got["publicAddresses"]
    assert "dnsName" not in outputs


# --------------------------------------------------------------------------------------------------
# user data
# --------------------------------------------------------------------------------------------------


def admitted(hba: list[str], user: str, database: str, address: str) -> bool:
    """Does a ``hostssl`` rule of ``hba`` admit ``user`` to ``database`` from ``address``? (a rule's user field may
    list several roles, comma-separated)"""
    for rule in hba:
        kind, db, who, net, method = rule.split()[:5] if rule.startswith("host") else (None,) * 5
        if (
            kind == "hostssl"
            and db == database
            and user in who.split(",")
            and method == "scram-sha-256"
            and ipaddress.ip_address(address) in ipaddress.ip_network(net)
        ):
            return True
    return False


@pytest.mark.parametrize("stack", PASSING)
def test_every_replica_is_admitted_by_the_primarys_pg_hba_and_security_group(runs, stack):
    """As shipped (no replicationCidrs), the primary admits replication from every replica's address, in its
    rendered pg_hba and in its security group, and the application from every web host; every member admits
    the same, since any of them may become the primary."""
    res = runs[stack]
    cfg = load_stack_file(stack_file(stack))
    assert not cfg.database.replication_cidrs and not cfg.database.app_cidrs
    d = cfg.database
    members = {p.name: named(res, f"{cfg.name}-db-{p.name}") for p in cfg.database_placements}
    webs = [h for h in of_type(res, INSTANCE) if h.inputs["metadata"][ROLE_KEY] == "web"]
    groups = {r.inputs["name"]: r.id for r in of_type(res, SECGROUP)}
    for placement, host in members.items():
        hba = yaml.safe_load(user_data_file(host, cloudinit.PATRONI_CONF))["postgresql"]["pg_hba"]
        rules = [
            r.inputs for r in of_type(res, RULE) if r.inputs["securityGroupId"] == groups[f"{cfg.name}-{placement}-db"]
        ]
        sg = {(x["portRangeMin"], x["remoteIpPrefix"]) for x in rules}
        for other_placement, other in members.items():
            ip = other.outputs["accessIpV4"]
            assert admitted(hba, d.replication_user, "replication", ip), (placement, other_placement)
            assert admitted(hba, "patroni_rewind", "postgres", ip), (placement, other_placement)
            if other_placement != placement:
                assert {(5432, f"{ip}/32"), (2380, f"{ip}/32"), (8008, f"{ip}/32")} <= sg, (placement, other_placement)
        for web in webs:
            ip = web.outputs["accessIpV4"]
            assert (5432, f"{ip}/32") in sg, (placement, web.name)
            # both login roles the application's credentials alternate between (rotation), and only those
            for login in cloudinit.app_roles(d.app_user)[2:]:
                assert admitted(hba, login, d.app_database, ip), (placement, web.name, login)
            for role in cloudinit.app_roles(d.app_user)[:2]:
                assert not admitted(hba, role, d.app_database, ip), (placement, web.name, role)
        stranger = "192.0.2.77"
        assert not any(
            admitted(hba, u, db, stranger)
            for u, db in (
                (d.replication_user, "replication"),
                (d.app_user, d.app_database),
                (f"{d.app_user}_alt", d.app_database),
            )
        )


def test_user_data_wiring(runs):
    res = runs["production"]
    members = {p: named(res, f"shop-db-{p}") for p in ("gra", "waw", "ik")}
    ips = {p: h.outputs["accessIpV4"] for p, h in members.items()}
    cluster = ",".join(f"shop-{p}-db=https://{ips[p]}:2380" for p in ("gra", "waw", "ik"))
    for p, host in members.items():
        env = user_data_file(host, cloudinit.ETCD_ENV)
        assert f"ETCD_INITIAL_CLUSTER={cluster}\n" in env and f"ETCD_NAME=shop-{p}-db\n" in env
        config = yaml.safe_load(user_data_file(host, cloudinit.PATRONI_CONF))
        assert config["scope"] == "shop" and config["postgresql"]["connect_address"] == f"{ips[p]}:5432"
        assert user_data_doc(host)["hostname"] == f"shop-{p}-db"
        # the cluster id (a protected RandomPassword) tells this cluster's etcd apart from any other
        cluster_id = named(res, "shop-db-cluster-id", RANDOM_PASSWORD).outputs["result"]
        assert f"ETCD_INITIAL_CLUSTER_TOKEN=shop-{cluster_id}\n" in env
        conf = user_data_file(host, cloudinit.PGBACKREST_CONF)
        assert "s3.de.cloud.ovh.net" in conf and "shop-pgbackrest" in conf
    # only the databaseRole: primary member initialises the cluster
    assert 'ROLE="bootstrap"' in user_data_file(members["gra"], cloudinit.DB_START_SCRIPT)
    assert 'ROLE="join"' in user_data_file(members["waw"], cloudinit.DB_START_SCRIPT)
    # every web host's application lists every member, the primary first, then the failover order
    web = named(res, "shop-ik-web-1")
    assert "infomaniak/dc4-a/ik" in user_data(web)
    first = cloudinit.runtime_document_of(web.inputs["metadata"])
    assert first["site"]["title"] == "Shop"
    app = first["app"]
    assert app["database"] == {"hosts": [ips["gra"], ips["waw"], ips["ik"]], "port": 5432, "dbname": "shop"}
    assert app["spec"]["image"] == "registry.example.com/shop/web:1.0.0" and app["host"] == "shop-ik-web-1"
    assert app["placement"] == "ik" and app["members"] == {ips[p]: p for p in ("gra", "waw", "ik")}
    # its credentials, write token and the cluster's CA come sealed: the role and password the tier generated
    sealed = sealed_document(res, web)
    app_password = named(res, "shop-db-app-password", RANDOM_PASSWORD).outputs["result"]
    assert sealed["app"]["credentials"] == [{"user": "shop", "password": app_password}]
    assert sealed["app"]["write_token"] == named(res, "shop-db-app-write-token", RANDOM_PASSWORD).outputs["result"]
    migrate_password = named(res, "shop-db-migrate-password", RANDOM_PASSWORD).outputs["result"]
    assert sealed["app"]["migrate"] == {"user": "shop_migrate", "password": migrate_password}
    assert sealed["tls"] == {"ca": named(res, "shop-db-pki", PKI).outputs["caCert"]}
    assert app_password not in user_data(web)


def test_generated_user_data_passes_cloud_init_schema(runs, validate):  # noqa: F811
    docs = {}
    for stack, res in runs.items():
        for h in of_type(res, INSTANCE):
            docs[f"{stack}-{h.name}"] = user_data(h)  # what cloud-init reads once it has unpacked it
    results = validate(docs)
    problems = {k: v for k, v in results.items() if v["errors"] or v["deprecations"]}
    assert not problems, json.dumps(problems, indent=1)


# --------------------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------------------


def test_sbg2021_is_refused_before_any_resource_is_registered():
    mocks = RecordingMocks()
    with pytest.raises(DesignRejected) as err:
        run_program(stack_file("sbg2021"), mocks=mocks)
    assert {"single-site", "backup-colocated"} <= set(err.value.rule_ids)
    assert [r.type for r in mocks.resources] == ["pulumi:pulumi:Stack"]
    assert not mocks.failures


def test_one_load_balancer_alone_is_a_single_site_role():
    overrides = _lb_overrides(["gra"])
    with pytest.raises(DesignRejected) as err:
        run_program(stack_file("production"), config_overrides=overrides)
    assert err.value.rule_ids == ["single-building", "single-site"]
    assert all(f.role == "load-balancer" for f in err.value.findings)


# --------------------------------------------------------------------------------------------------
# variants: load balancers, HTTPS, DNS
# --------------------------------------------------------------------------------------------------

FLOATING_NET_ID = "0f0e0d0c-0b0a-4988-8776-655443322110"


def _lb_overrides(with_lb: list[str]) -> dict:
    placements = load_stack_file(stack_file("production")).model_dump(by_alias=True, exclude_none=True)["placements"]
    for p in placements:
        if p["name"] in with_lb:
            p.update(loadBalancer=True, floatingNetworkId=FLOATING_NET_ID)
            if p["name"] == "ik":
                p["floatingNetwork"] = "ext-floating1"
    return {"resilient-stack:placements": placements}


def test_load_balancers_in_every_placement():
    res = run_program(stack_file("production"), config_overrides=_lb_overrides(["gra", "waw", "ik"]))
    lbs = of_type(res, "openstack:loadbalancer/loadBalancer:LoadBalancer")
    assert len(lbs) == 3 and all(f"{ROLE_KEY}=load-balancer" in lb.inputs["tags"] for lb in lbs)
    subnets = {r.id: r.inputs["cidr"] for r in of_type(res, "openstack:networking/subnet:Subnet")}
    for lb in lbs:
        assert ipaddress.ip_address(lb.outputs["vipAddress"]) in ipaddress.ip_network(subnets[lb.inputs["vipSubnetId"]])
    routers = of_type(res, "openstack:networking/router:Router")
    assert {r.inputs["externalNetworkId"] for r in routers} == {FLOATING_NET_ID}
    fips = of_type(res, "openstack:networking/floatingIp:FloatingIp")
    assert sorted(f.inputs["pool"] for f in fips) == ["Ext-Net", "Ext-Net", "ext-floating1"]
    assocs = of_type(res, "openstack:networking/floatingIpAssociate:FloatingIpAssociate")
    assert {a.inputs["portId"] for a in assocs} == {lb.outputs["vipPortId"] for lb in lbs}
    # production serves HTTPS: an HTTP and a TCP 443 front end per LB, each member on a web host's private IP
    listeners = of_type(res, "openstack:loadbalancer/listener:Listener")
    assert Counter((x.inputs["protocol"], x.inputs["protocolPort"]) for x in listeners) == {
        ("HTTP", 80): 3,
        ("TCP", 443): 3,
    }
    monitors = of_type(res, "openstack:loadbalancer/monitor:Monitor")
    assert {(m.inputs["type"], m.inputs.get("urlPath")) for m in monitors} == {("HTTP", "/healthz"), ("TCP", None)}
    members = of_type(res, "openstack:loadbalancer/member:Member")
    web_private = {
        h.outputs["networks"][1]["fixedIpV4"] for h in of_type(res, INSTANCE) if h.inputs["metadata"][ROLE_KEY] == "web"
    }
    assert len(members) == 2 * 5 and {m.inputs["address"] for m in members} == web_private
    outputs = next(r for r in res if r.type == "pulumi:pulumi:Stack").outputs
    assert sorted(outputs["entryPoints"]) == sorted(f.outputs["address"] for f in fips)
    catalog = load_catalog()
    loaded = read_stack_export(to_stack_export(res), "lb.json", catalog)
    assert evaluate(loaded.placements, RuleConfig(), catalog).verdict == "pass"
    assert Counter(p.role for p in loaded.placements)["load-balancer"] == 3
    for site in of_type(res, REGIONAL):
        kids = [r for r in descendants(res, site.urn) if r.custom and r.type.startswith("openstack:")]
        assert len(kids) > 20 and all(provider_name(r) == site.name for r in kids), site.name


def test_dns_record_lists_every_entry_point():
    res = run_program(
        stack_file("production"),
        config_overrides={
            "resilient-stack:dns": {
                "zoneId": "3f4e5d6c-aaaa-bbbb-cccc-0123456789ab",
                "name": "www.example.com.",
                "placement": "ik",
                "ttl": 120,
            },
        },
    )
    (record,) = of_type(res, "openstack:dns/recordSet:RecordSet")
    outputs = next(r for r in res if r.type == "pulumi:pulumi:Stack").outputs
    assert record.inputs["type"] == "A" and record.inputs["ttl"] == 120 and record.inputs["name"] == "www.example.com."
    assert sorted(record.inputs["records"]) == sorted(outputs["entryPoints"]) and len(record.inputs["records"]) == 5
    assert provider_name(record) == "shop-ik"
    assert outputs["dnsName"] == "www.example.com."


# --------------------------------------------------------------------------------------------------
# the components on their own
# --------------------------------------------------------------------------------------------------


def test_pure_rule_helpers():
    assert {(r.port, r.cidr, r.ethertype) for r in regional.web_rules()} == {
        (80, "0.0.0.0/0", "IPv4"),
        (80, "::/0", "IPv6"),
        (443, "0.0.0.0/0", "IPv4"),
        (443, "::/0", "IPv6"),
    }
    ssh = regional.admin_rules(["198.51.100.0/24", "2001:db8::/48"])
    assert [(r.port, r.ethertype, r.suffix) for r in ssh] == [
        (22, "IPv4", "ssh-198-51-100-0-24"),
        (22, "IPv6", "ssh-2001-db8-48"),
    ]
    assert regional.admin_rules([]) == []
    assert [r.cidr for r in regional.database_rules(["10.0.0.0/24"])] == ["10.0.0.0/24"]
    for world in WORLD:
        with pytest.raises(ValueError, match="never be open"):
            regional.database_rules([world])


def _one_placement_program(**changes):
    import pulumi_openstack as openstack

    def program():
        provider = openstack.Provider("p", region="GRA11", cloud="ovh")
        args = dict(
            placement="gra",
            provider=provider,
            prefix="t",
            placement_label="ovhcloud/GRA11/gra",
            web_count=1,
            flavor="b3-8",
            image="Debian 12",
            external_network="Ext-Net",
            private_cidr="10.0.0.0/24",
        )
        args.update(changes)
        regional.RegionalWebStack("t-gra", regional.RegionalWebStackArgs(**args)).add_web_hosts(None)

    return program


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"admin_cidrs": ["0.0.0.0/0"]}, "admin_cidrs"),
        ({"database_cidrs": ["10.0.0.0/24"]}, "without hosts_database"),
        ({"database_cidrs": ["::/0"], "hosts_database": True}, "database_cidrs"),
        ({"external_network_id": "Ext-Net"}, "external_network_id must be"),
        ({"private_cidr": "fd00::/64"}, "IPv4"),
        ({"placement": "GRA"}, "placement"),
        ({"web_count": 0, "load_balancer": regional.LoadBalancerSettings("Ext-Net", FLOATING_NET_ID)}, "web host"),
        ({"server_name": "bad name!"}, "server_name"),
    ],
)
def test_regional_args_are_validated_before_anything_is_created(changes, match):
    mocks = RecordingMocks()
    with pytest.raises(ValueError, match=match):
        run_program(stack_file("staging"), mocks=mocks, program=_one_placement_program(**changes))
    assert REGIONAL not in {r.type for r in mocks.resources}


def test_one_placement_alone():
    res = run_program(stack_file("staging"), program=_one_placement_program(admin_cidrs=["198.51.100.7/32"]))
    site = next(r for r in res if r.type == REGIONAL)
    kids = descendants(res, site.urn)
    assert Counter(short(r.type) for r in kids) == {
        "Network": 1,
        "Subnet": 1,
        "SecGroup": 2,
        "SecGroupRule": 5,
        "ServerGroup": 1,
        "Port": 1,
        "Instance": 1,
        "RandomPassword": 1,
    }
    (web,) = of_type(res, INSTANCE)
    assert "/api/" not in user_data(web), "without a database: the static page only"
    # no application: its sealed document holds nothing but its version (the host's key still seals it)
    assert sealed_document(res, web) == {"v": 1}
    assert all(provider_name(r) == "p" for r in kids if r.type.startswith("openstack:"))


def _database_tier_program(
    backup_region="WAW1",
    container="t-pgbackrest",
    ssh_public_keys=(),
    synchronous=False,
    regions=("GRA11", "WAW1", "UK1"),
):
    import pulumi
    import pulumi_openstack as openstack

    from resilient_stack.components import database as db

    def program():
        providers = {r: openstack.Provider(r.lower(), region=r, cloud="ovh") for r in regions}
        members = [
            db.DatabaseMember(
                placement=r.lower(),
                role="primary" if r == "GRA11" else "replica",
                provider=p,
                where=db.Where(region=r, cloud="ovh"),
                flavor="b3-8",
                image="Debian 12",
                public_port_id=f"port-{r}",
                public_address=f"192.0.2.{10 + i}",
                network_id="net",
                security_group_names=["db"],
                database_security_group_id="sg",
            )
            for i, (r, p) in enumerate(providers.items())
        ]
        backup_provider = providers.get(backup_region) or openstack.Provider("bk", region=backup_region, cloud="ovh")
        backup = db.BackupStore(
            name="bk",
            provider=backup_provider,
            where=db.Where(region=backup_region, cloud="ovh"),
            container=container,
            s3_endpoint="s3.waw.cloud.ovh.net",
            s3_region="waw",
        )
        keys = db.BackupKeys(access_key=pulumi.Output.secret("k"), secret_key=pulumi.Output.secret("s"))
        db.DatabaseTier(
            "t-db",
            db.DatabaseTierArgs(
                members=members,
                backup=backup,
                prefix="t",
                backup_keys=keys,
                ssh_public_keys=ssh_public_keys,
                synchronous=synchronous,
            ),
        )

    return program


def test_database_tier_alone_refuses_backups_on_a_member_site():
    mocks = RecordingMocks()
    with pytest.raises(DesignRejected) as err:
        run_program(stack_file("staging"), mocks=mocks, program=_database_tier_program())
    assert err.value.rule_ids == ["backup-colocated"]
    assert DBTIER not in {r.type for r in mocks.resources}


def test_database_tier_alone_with_synchronous_replication_checks_its_sites_with_the_built_in_catalog():
    """No catalog given: the tier reads the built-in one (it called a Catalog.load that does not exist: every
    synchronous tier built alone crashed with an AttributeError)."""
    mocks = RecordingMocks()
    with pytest.raises(ValueError) as err:
        run_program(
            stack_file("staging"),
            mocks=mocks,
            program=_database_tier_program(
                backup_region="DE1", synchronous=True, regions=("GRA11", "GRA9", "WAW1", "UK1", "SBG5")
            ),
        )
    assert str(err.value).startswith("synchronous: the database members in gra11 and gra9 share a site"), err.value
    assert DBTIER not in {r.type for r in mocks.resources}


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"container": "T_pgbackrest"}, "BackupRepository.bucket is not a valid S3 bucket name"),
        ({"ssh_public_keys": ["not a key"]}, "ssh_authorized_keys entry does not look like an OpenSSH"),
    ],
)
def test_database_tier_args_are_checked_by_the_hosts_rules_before_anything_is_created(changes, match):
    """DatabaseTierArgs.validate applies the hosts layer's rule of each role (no password exists yet)."""
    mocks = RecordingMocks()
    with pytest.raises(ValueError, match=match):
        run_program(stack_file("staging"), mocks=mocks, program=_database_tier_program("DE1", **changes))
    assert DBTIER not in {r.type for r in mocks.resources}


def test_export_secrets_are_envelopes(runs):
    export = to_stack_export(runs["production"])
    hosts = [r for r in export["deployment"]["resources"] if r["type"] == INSTANCE]
    assert all(set(h["inputs"]["userData"]) == {SECRET_SIG, "ciphertext"} for h in hosts)


def test_replication_and_app_cidrs_are_optional_extras(caplog):
    res = run_program(
        stack_file("production"),
        config_overrides={
            "resilient-stack:database": {
                "appDatabase": "shop",
                "appUser": "shop",
                "replicationCidrs": ["203.0.113.0/24"],
                "appCidrs": ["198.51.100.0/24"],
            },
        },
    )
    hba = yaml.safe_load(user_data_file(named(res, "shop-db-waw"), cloudinit.PATRONI_CONF))["postgresql"]["pg_hba"]
    assert "hostssl replication replicator 203.0.113.0/24 scram-sha-256" in hba
    assert "hostssl shop shop,shop_alt,shop_migrate 198.51.100.0/24 scram-sha-256" in hba
    assert not admitted(hba, "shop", "shop", "203.0.113.1"), "replication networks are not application ones"
    # both reach PostgreSQL through every member's `db` security group, on its port only (replicationCidrs used to be
    # in pg_hba and nftables but in no security group: inert, review stack-security-2026-12)
    groups = {r.id: r.inputs["name"] for r in of_type(res, SECGROUP)}
    extras = {
        (groups[r.inputs["securityGroupId"]], r.inputs["portRangeMin"], r.inputs["remoteIpPrefix"])
        for r in of_type(res, RULE)
        if r.inputs["remoteIpPrefix"] in ("198.51.100.0/24", "203.0.113.0/24")
        and groups[r.inputs["securityGroupId"]].endswith("-db")
    }
    assert extras == {
        (f"shop-{p}-db", 5432, cidr) for p in ("gra", "waw", "ik") for cidr in ("198.51.100.0/24", "203.0.113.0/24")
    }
    assert "replicationCidrs" not in caplog.text


def test_the_shipped_stacks_need_no_replication_network(runs, caplog):
    run_program(stack_file("staging"))
    assert "replicationCidrs" not in caplog.text
    for stack in PASSING:
        text = stack_file(stack).read_text()
        assert "replicationCidrs" not in text and "appCidrs" not in text


def test_the_external_network_is_looked_up_by_name_unless_its_id_is_given():
    mocks = RecordingMocks()
    run_program(stack_file("staging"), mocks=mocks)
    looked_up = {r.inputs["networkId"] for r in of_type(mocks.resources, PORT)}
    assert len(looked_up) == 1  # one Ext-Net (the mock cloud gives every region's the same id)
    config = load_stack_file(stack_file("staging")).model_dump(by_alias=True, exclude_none=True)
    given = "0f0e0d0c-0b0a-4988-8776-655443322111"
    for p in config["placements"]:
        p["externalNetworkId"] = given
    mocks = RecordingMocks()
    res = run_program(
        stack_file("staging"), mocks=mocks, config_overrides={"resilient-stack:placements": config["placements"]}
    )
    assert {r.inputs["networkId"] for r in of_type(res, PORT)} == {given}


def test_a_consensus_that_dies_with_one_site_is_refused():
    """The etcd voting members are the database hosts, labelled quorum=true: the rules' site-majority on `database`
    refuses a design where one site holds half of them or more (GRA11 + GRA9: one campus), before any resource."""
    config = load_stack_file(stack_file("staging")).model_dump(by_alias=True, exclude_none=True)
    placements = config["placements"]
    placements[2].update(region="GRA9")  # the database-only member moves to the primary's campus
    mocks = RecordingMocks()
    with pytest.raises(DesignRejected) as err:
        run_program(stack_file("staging"), mocks=mocks, config_overrides={"resilient-stack:placements": placements})
    assert "site-majority" in err.value.rule_ids
    assert any(f.rule == "site-majority" and f.role == "database" for f in err.value.findings)
    assert [r.type for r in mocks.resources] == ["pulumi:pulumi:Stack"]


@pytest.mark.parametrize("stack", PASSING)
def test_the_etcd_members_are_exactly_the_voting_database_hosts(runs, stack):
    res = runs[stack]
    voting = [h for h in of_type(res, INSTANCE) if h.inputs["metadata"].get(QUORUM_KEY) == "true"]
    names = sorted(h.inputs["name"] for h in voting)
    for host in voting:
        env = user_data_file(host, cloudinit.ETCD_ENV)
        cluster = next(line for line in env.splitlines() if line.startswith("ETCD_INITIAL_CLUSTER="))
        members = sorted(m.split("=", 1)[0] for m in cluster.split("=", 1)[1].split(","))
        assert members == names
    assert len(names) == 3
