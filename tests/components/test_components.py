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
    header_safe,
)
from resilient_stack.testing.mockrun import (
    RecordedResource,
    RecordingMocks,
    run_program,
    to_stack_export,
)

# cloud-init's own schema check lives with the cloudinit tests; reuse it rather than duplicate it
from tests.hosts.test_cloudinit import validate  # noqa: F401  (pytest fixture)

from .conftest import PASSING, stack_file

INSTANCE = "openstack:compute/instance:Instance"
CONTAINER = "openstack:objectstorage/container:Container"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
SECGROUP = "openstack:networking/secGroup:SecGroup"
PROVIDER = "pulumi:providers:openstack"
REGIONAL = "resilient-stack:regional:RegionalWebStack"
DBTIER = "resilient-stack:database:DatabaseTier"
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
# hosts, admin, db for a database member), their rules (4 web + 1 admin + 1 per private CIDR), the
# server group, the web hosts and the static-assets container.
EXPECTED_PLACEMENTS = {
    "production": {
        "gra": {"Network": 1, "Subnet": 1, "SecGroup": 3, "SecGroupRule": 8, "ServerGroup": 1, "Instance": 2, "Container": 1},
        "waw": {"Network": 1, "Subnet": 1, "SecGroup": 3, "SecGroupRule": 8, "ServerGroup": 1, "Instance": 2, "Container": 1},
        "ik": {"Network": 1, "Subnet": 1, "SecGroup": 3, "SecGroupRule": 8, "ServerGroup": 1, "Instance": 1, "Container": 1},
    },
    "staging": {
        "gra": {"Network": 1, "Subnet": 1, "SecGroup": 3, "SecGroupRule": 8, "ServerGroup": 1, "Instance": 1, "Container": 1},
        "waw": {"Network": 1, "Subnet": 1, "SecGroup": 3, "SecGroupRule": 8, "ServerGroup": 1, "Instance": 1, "Container": 1},
        "uk": {"Network": 1, "Subnet": 1, "SecGroup": 2, "SecGroupRule": 4, "ServerGroup": 1},
    },
}
# The database tier: 2 passwords, the backup container and its S3 credentials, one host per member and
# one PostgreSQL rule per (member, other member).
EXPECTED_DB = {"RandomPassword": 2, "Container": 1, "Ec2CredentialV3": 1, "Instance": 3, "SecGroupRule": 6}
EXPECTED_TOTAL = {"production": 73, "staging": 64}


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
    assert dict(Counter(short(r.type) for r in descendants(res, db.urn))) == EXPECTED_DB
    assert len(of_type(res, PROVIDER)) == len(EXPECTED_PLACEMENTS[stack]) + 1  # + the backup placement
    assert len(res) == EXPECTED_TOTAL[stack]
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
        assert kids and all(provider_name(r) == prov.name for r in kids), p.name
        # the placement's database host and its PostgreSQL rules too
        assert provider_name(named(res, f"{cfg.name}-db-{p.name}")) == prov.name if p.hosts_database else True
        for rule in [r for r in of_type(res, RULE) if r.name.startswith(f"{cfg.name}-db-{p.name}-pg-from-")]:
            assert provider_name(rule) == prov.name
    backup_provider = providers[f"{cfg.name}-{cfg.backups.name}"]
    assert backup_provider.inputs["region"] == cfg.backups.region
    for n in (f"{cfg.name}-db-backups", f"{cfg.name}-db-backup-credentials"):
        assert provider_name(named(res, n)) == backup_provider.name
    # no OpenStack resource anywhere on a default provider
    assert all(r.provider for r in res if r.custom and r.type.startswith("openstack:"))


@pytest.mark.parametrize("stack", PASSING)
def test_security_groups(runs, stack):
    res = runs[stack]
    cfg = load_stack_file(stack_file(stack))
    groups = {r.id: r.inputs["name"] for r in of_type(res, SECGROUP)}
    db_hosts = {r.outputs["accessIpV4"] for r in of_type(res, INSTANCE) if r.inputs["metadata"][ROLE_KEY] == "database"}
    private = set(cfg.private_cidrs)
    rules_by_group: dict[str, list[dict]] = {}
    for r in of_type(res, RULE):
        assert r.inputs["direction"] == "ingress" and r.inputs["protocol"] == "tcp"
        assert r.inputs["portRangeMin"] == r.inputs["portRangeMax"]
        rules_by_group.setdefault(groups[r.inputs["securityGroupId"]], []).append(r.inputs)
    for p in cfg.placements:
        base = f"{cfg.name}-{p.name}"
        ssh = [(x["remoteIpPrefix"], x["ethertype"]) for x in rules_by_group.get(f"{base}-admin", [])]
        assert sorted(ssh) == sorted((c, "IPv4") for c in cfg.admin_cidrs)
        assert all(x["portRangeMin"] == 22 for x in rules_by_group.get(f"{base}-admin", []))
        if p.web_count:
            web = {(x["portRangeMin"], x["remoteIpPrefix"], x["ethertype"]) for x in rules_by_group[f"{base}-web"]}
            assert web == {(80, "0.0.0.0/0", "IPv4"), (80, "::/0", "IPv6"), (443, "0.0.0.0/0", "IPv4"), (443, "::/0", "IPv6")}
        if p.hosts_database:
            pg = rules_by_group[f"{base}-db"]
            assert all(x["portRangeMin"] == 5432 for x in pg)
            sources = {x["remoteIpPrefix"] for x in pg}
            own = named(res, f"{cfg.name}-db-{p.name}").outputs["accessIpV4"]
            assert sources == private | {f"{ip}/32" for ip in db_hosts - {own}}
    for group, rules in rules_by_group.items():
        for x in rules:
            if x["portRangeMin"] in (22, 5432):
                assert x["remoteIpPrefix"] not in WORLD, (group, x)
            assert x["portRangeMin"] in (22, 80, 443, 5432)
    # the hosts wear the right groups
    for host in of_type(res, INSTANCE):
        role = host.inputs["metadata"][ROLE_KEY]
        placement = host.inputs["name"].removeprefix(f"{cfg.name}-").split("-")[0]
        kinds = ("web", "admin") if role == "web" else ("db", "admin")
        assert host.inputs["securityGroups"] == [f"{cfg.name}-{placement}-{k}" for k in kinds]


@pytest.mark.parametrize("stack", PASSING)
def test_passwords_credentials_and_user_data_are_secrets(runs, stack):
    res = runs[stack]
    passwords = of_type(res, "random:index/randomPassword:RandomPassword")
    assert len(passwords) == 2 and all("result" in p.secret_outputs for p in passwords)
    assert all(p.inputs["special"] is False and p.inputs["length"] == 32 for p in passwords)
    (cred,) = of_type(res, "openstack:identity/ec2CredentialV3:Ec2CredentialV3")
    assert {"access", "secret"} <= cred.secret_outputs
    hosts = of_type(res, INSTANCE)
    assert hosts and all("userData" in h.secret_inputs and "userData" in h.secret_outputs for h in hosts)
    export = json.dumps(to_stack_export(res))
    for p in passwords:
        assert p.outputs["result"] not in export
    assert cred.outputs["secret"] not in export
    assert "#cloud-config" not in export


@pytest.mark.parametrize("stack", PASSING)
def test_role_labels(runs, stack):
    res = runs[stack]
    cfg = load_stack_file(stack_file(stack))
    hosts = of_type(res, INSTANCE)
    web = [h for h in hosts if h.inputs["metadata"] == {ROLE_KEY: "web"}]
    db = [h for h in hosts if h.inputs["metadata"] == {ROLE_KEY: "database", QUORUM_KEY: "true"}]
    assert len(web) == sum(p.web_count for p in cfg.placements)
    assert len(db) == len(cfg.database_placements)
    assert len(web) + len(db) == len(hosts)
    # container metadata becomes X-Container-Meta-* HTTP headers: no ':' in the names
    containers = {c.inputs["name"]: c.inputs["metadata"] for c in of_type(res, CONTAINER)}
    assert containers.pop(cfg.backup_container) == header_safe({ROLE_KEY: "backup", PROTECTS_KEY: "database"})
    assert set(containers) == {f"{cfg.name}-{p.name}-static" for p in cfg.placements if p.web_count}
    assert all(m == {"resilient-stack-role": "object-storage"} for m in containers.values())
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
    web_ips = {h.outputs["accessIpV4"] for h in of_type(res, INSTANCE) if h.inputs["metadata"][ROLE_KEY] == "web"}
    assert set(outputs["entryPoints"]) == web_ips
    for p in cfg.placements:
        got = outputs["placements"][p.name]
        assert got["region"] == p.region and len(got["publicAddresses"]) == p.web_count
        assert got["entryPoints"] == got["publicAddresses"]
    assert "dnsName" not in outputs


# --------------------------------------------------------------------------------------------------
# user data
# --------------------------------------------------------------------------------------------------


def test_user_data_wiring(runs):
    res = runs["production"]
    cfg = load_stack_file(stack_file("production"))
    primary = named(res, "shop-db-gra")
    primary_ip = primary.outputs["accessIpV4"]
    doc = yaml.safe_load(primary.inputs["userData"])
    hba = next(f["content"] for f in doc["write_files"] if f["path"].endswith("pg_hba.conf"))
    for cidr in cfg.private_cidrs:
        assert f"hostssl replication replicator {cidr} scram-sha-256" in hba
        assert f"hostssl shop shop {cidr} scram-sha-256" in hba
    assert "0.0.0.0/0" not in hba and "::/0" not in hba
    conf = next(f["content"] for f in doc["write_files"] if f["path"].endswith("pgbackrest.conf"))
    assert "s3.de.cloud.ovh.net" in conf and "shop-pgbackrest" in conf
    assert doc["hostname"] == "shop-gra-db"
    for replica in ("shop-db-waw", "shop-db-ik"):
        text = named(res, replica).inputs["userData"]
        assert primary_ip in text and f"{primary_ip}/32" in text
    web = named(res, "shop-ik-web-1").inputs["userData"]
    assert "infomaniak/dc4-a/ik" in web and "<title>Shop</title>" in web


def test_generated_user_data_passes_cloud_init_schema(runs, validate):  # noqa: F811
    docs = {}
    for stack, res in runs.items():
        for h in of_type(res, INSTANCE):
            docs[f"{stack}-{h.name}"] = h.inputs["userData"]
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
    assert Counter((x.inputs["protocol"], x.inputs["protocolPort"]) for x in listeners) == {("HTTP", 80): 3, ("TCP", 443): 3}
    monitors = of_type(res, "openstack:loadbalancer/monitor:Monitor")
    assert {(m.inputs["type"], m.inputs.get("urlPath")) for m in monitors} == {("HTTP", "/healthz"), ("TCP", None)}
    members = of_type(res, "openstack:loadbalancer/member:Member")
    web_private = {h.outputs["networks"][1]["fixedIpV4"] for h in of_type(res, INSTANCE)
                   if h.inputs["metadata"][ROLE_KEY] == "web"}
    assert len(members) == 2 * 5 and {m.inputs["address"] for m in members} == web_private
    outputs = next(r for r in res if r.type == "pulumi:pulumi:Stack").outputs
    assert sorted(outputs["entryPoints"]) == sorted(f.outputs["address"] for f in fips)
    catalog = load_catalog()
    loaded = read_stack_export(to_stack_export(res), "lb.json", catalog)
    assert evaluate(loaded.placements, RuleConfig(), catalog).verdict == "pass"
    assert Counter(p.role for p in loaded.placements)["load-balancer"] == 3
    for site in of_type(res, REGIONAL):
        kids = [r for r in descendants(res, site.urn) if r.custom]
        assert len(kids) > 20 and all(provider_name(r) == site.name for r in kids), site.name


def test_dns_record_lists_every_entry_point():
    res = run_program(stack_file("production"), config_overrides={
        "resilient-stack:dns": {"zoneId": "3f4e5d6c-aaaa-bbbb-cccc-0123456789ab", "name": "www.example.com.",
                                "placement": "ik", "ttl": 120},
    })
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
        (80, "0.0.0.0/0", "IPv4"), (80, "::/0", "IPv6"), (443, "0.0.0.0/0", "IPv4"), (443, "::/0", "IPv6")}
    ssh = regional.admin_rules(["198.51.100.0/24", "2001:db8::/48"])
    assert [(r.port, r.ethertype, r.suffix) for r in ssh] == [
        (22, "IPv4", "ssh-198-51-100-0-24"), (22, "IPv6", "ssh-2001-db8-48")]
    assert regional.admin_rules([]) == []
    assert [r.cidr for r in regional.database_rules(["10.0.0.0/24"])] == ["10.0.0.0/24"]
    for world in WORLD:
        with pytest.raises(ValueError, match="never be open"):
            regional.database_rules([world])


def _one_placement_program(**changes):
    import pulumi_openstack as openstack

    def program():
        provider = openstack.Provider("p", region="GRA11", cloud="ovh")
        args = dict(placement="gra", provider=provider, prefix="t", placement_label="ovhcloud/GRA11/gra",
                    web_count=1, flavor="b3-8", image="Debian 12", external_network="Ext-Net",
                    private_cidr="10.0.0.0/24")
        args.update(changes)
        regional.RegionalWebStack("t-gra", regional.RegionalWebStackArgs(**args))
    return program


@pytest.mark.parametrize("changes,match", [
    ({"admin_cidrs": ["0.0.0.0/0"]}, "admin_cidrs"),
    ({"hosts_database": True}, "database_cidrs"),
    ({"database_cidrs": ["::/0"], "hosts_database": True}, "database_cidrs"),
    ({"private_cidr": "fd00::/64"}, "IPv4"),
    ({"placement": "GRA"}, "placement"),
    ({"web_count": 0, "load_balancer": regional.LoadBalancerSettings("Ext-Net", FLOATING_NET_ID)}, "web host"),
    ({"server_name": "bad name!"}, "server_name"),
])
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
        "Network": 1, "Subnet": 1, "SecGroup": 2, "SecGroupRule": 5, "ServerGroup": 1, "Instance": 1, "Container": 1}
    assert all(provider_name(r) == "p" for r in kids)


def _database_tier_program(backup_region="WAW1", container="t-pgbackrest", ssh_public_keys=()):
    import pulumi_openstack as openstack

    from resilient_stack.components import database as db

    def program():
        providers = {r: openstack.Provider(r.lower(), region=r, cloud="ovh") for r in ("GRA11", "WAW1", "UK1")}
        members = [
            db.DatabaseMember(
                placement=r.lower(), role="primary" if r == "GRA11" else "replica", provider=p,
                where=db.Where(region=r, cloud="ovh"), flavor="b3-8", image="Debian 12", external_network="Ext-Net",
                network_id="net", security_group_names=["db"], database_security_group_id="sg",
            )
            for r, p in providers.items()
        ]
        backup_provider = providers.get(backup_region) or openstack.Provider("bk", region=backup_region, cloud="ovh")
        backup = db.BackupStore(name="bk", provider=backup_provider,
                                where=db.Where(region=backup_region, cloud="ovh"), container=container,
                                s3_endpoint="s3.waw.cloud.ovh.net", s3_region="waw")
        db.DatabaseTier("t-db", db.DatabaseTierArgs(members=members, backup=backup, prefix="t",
                                                    ssh_public_keys=ssh_public_keys, private_cidrs=["10.0.0.0/24"]))

    return program


def test_database_tier_alone_refuses_backups_on_a_member_site():
    mocks = RecordingMocks()
    with pytest.raises(DesignRejected) as err:
        run_program(stack_file("staging"), mocks=mocks, program=_database_tier_program())
    assert err.value.rule_ids == ["backup-colocated"]
    assert DBTIER not in {r.type for r in mocks.resources}


@pytest.mark.parametrize("changes, match", [
    ({"container": "T_pgbackrest"}, "BackupRepository.bucket is not a valid S3 bucket name"),
    ({"ssh_public_keys": ["not a key"]}, "ssh_authorized_keys entry does not look like an OpenSSH"),
])
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


def test_replication_cidrs_reach_the_primarys_pg_hba_not_the_firewall(caplog):
    res = run_program(stack_file("production"), config_overrides={
        "resilient-stack:database": {"appDatabase": "shop", "appUser": "shop", "replicationCidrs": ["203.0.113.0/24"]},
    })
    doc = yaml.safe_load(named(res, "shop-db-gra").inputs["userData"])
    hba = next(f["content"] for f in doc["write_files"] if f["path"].endswith("pg_hba.conf"))
    assert "hostssl replication replicator 203.0.113.0/24 scram-sha-256" in hba
    assert "hostssl shop shop 203.0.113.0/24" not in hba, "the application is admitted from the private networks only"
    assert all(r.inputs["remoteIpPrefix"] != "203.0.113.0/24" for r in of_type(res, RULE))
    assert "replicationCidrs is empty" not in caplog.text


def test_an_empty_replication_cidrs_is_warned_about(runs, caplog):
    run_program(stack_file("staging"))
    assert "resilient-stack:database.replicationCidrs is empty" in caplog.text
