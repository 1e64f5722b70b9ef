"""resilient_stack.drills.plan: the stack under Pulumi mocks (no podman): hosts, exact user data, addresses
passed the way the components pass them, sites, failover order, the rules' escape hatch, stack names."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from resilient_stack.core.rules import DesignRejected
from resilient_stack.drills import plan
from resilient_stack.hosts.document import unpack_user_data
from resilient_stack.io.errors import InputError
from resilient_stack.testing.mockrun import RecordingMocks, run_program

from ..conftest import ROOT

NET = ipaddress.ip_network("198.18.42.0/24")
PRODUCTION = ROOT / "stacks" / "Pulumi.production.yaml"
SBG2021 = ROOT / "stacks" / "Pulumi.sbg2021.yaml"


@pytest.fixture(scope="module")
def production() -> plan.Plan:
    return plan.build_plan(PRODUCTION, NET)


@pytest.fixture(scope="module")
def sbg2021() -> plan.Plan:
    return plan.build_plan(SBG2021, NET)


def test_every_instance_with_its_role_placement_and_site(production):
    got = {(h.name, h.role, h.placement, h.site) for h in production.hosts}
    assert got == {
        ("shop-gra-db", "db-primary", "gra", "ovh-gravelines"),
        ("shop-waw-db", "db-replica", "waw", "ovh-warsaw"),
        ("shop-ik-db", "db-replica", "ik", "infomaniak-geneva"),
        ("shop-gra-web-1", "web", "gra", "ovh-gravelines"),
        ("shop-gra-web-2", "web", "gra", "ovh-gravelines"),
        ("shop-waw-web-1", "web", "waw", "ovh-warsaw"),
        ("shop-waw-web-2", "web", "waw", "ovh-warsaw"),
        ("shop-ik-web-1", "web", "ik", "infomaniak-geneva"),
        ("shop-waw-mon", "monitoring", "waw", "ovh-warsaw"),
        ("shop-ik-mon", "monitoring", "ik", "infomaniak-geneva"),
    }
    assert set(production.sites) == {"ovh-gravelines", "ovh-warsaw", "infomaniak-geneva", "ovh-limburg"}
    assert production.backup_site == "ovh-limburg" and production.sites["ovh-limburg"].placements == ("backups-lim",)
    assert production.rejected is None and production.primary == "gra"


def test_public_addresses_come_from_the_mock_cloud_and_reach_the_hosts_through_the_components(production):
    ips = [h.public_ip for h in production.hosts]
    assert len(set(ips)) == len(ips)
    assert all(ipaddress.ip_address(ip) in NET for ip in ips)
    assert production.visitor_ip not in ips and production.s3_ip not in ips
    assert production.db_host("gra").public_ip == production.database_addresses["gra"]
    cluster = ",".join(f"shop-{p}-db=https://{production.database_addresses[p]}:2380" for p in ("gra", "waw", "ik"))
    webs = [h.public_ip for h in production.hosts if h.role == "web"]
    for h in production.hosts:
        if h.role == "monitoring":  # scrapes every host: the members' exporters and the web hosts' health
            assert all(ip in h.user_data for ip in webs) and f'"{production.database_addresses["gra"]}:9187"' in (
                h.user_data
            )
        elif h.role != "web":
            # every member names every other member and admits every web host, as the components rendered it
            assert f"ETCD_INITIAL_CLUSTER={cluster}\n" in h.user_data
            assert all(f"hostssl shop shop,shop_alt,shop_migrate {ip}/32 scram-sha-256" in h.user_data for ip in webs)
        else:
            hosts = [production.database_addresses[p] for p in ("gra", "waw", "ik")]
            assert '"hosts": [\n' in h.user_data and all(f'"{ip}"' in h.user_data for ip in hosts)
    assert sorted(production.entry_points) == sorted(webs)
    assert production.entry_points == [
        h.public_ip
        for p in ("gra", "waw", "ik")
        for h in sorted(production.hosts, key=lambda h: h.name)
        if h.role == "web" and h.placement == p
    ]


def test_the_stack_file_is_used_as_it_is(production):
    assert production.config_overrides == {}
    # the one secret a user gives that no stack file holds: where the alerts go, the drill's receiver (the visitor)
    assert production.alert_receiver == f"http://{production.visitor_ip}:9095/alerts"
    assert str(NET) not in production.db_host("gra").user_data, "no operator network admitted"
    assert production.record_name == "www.shop.test" and production.url == "https://www.shop.test"
    assert production.database_url.startswith("postgresql://shop@198.18.42.")


def test_the_user_data_is_exactly_what_the_components_render(production):
    names = [h.name for h in production.hosts]
    res = run_program(
        PRODUCTION,
        mocks=RecordingMocks(public_address=plan.Addresses(NET, names)),
        config_overrides={"resilient-stack:alertWebhook": production.alert_receiver},
    )
    packed = {r.inputs["name"]: r.inputs["userData"] for r in res if r.type == plan.INSTANCE_TYPE}
    assert all(not ud.startswith("#") for ud in packed.values()), "the components hand Nova gzip + base64"
    # the plan holds what cloud-init reads once it has unpacked it
    rendered = {name: unpack_user_data(ud) for name, ud in packed.items()}
    assert rendered == {h.name: h.user_data for h in production.hosts}
    for ud in rendered.values():
        assert ud.startswith("#cloud-config\n") and yaml.safe_load(ud)
    # the load's writes carry the stack's write token (stack output appWriteToken, the protected RandomPassword)
    (token,) = [r for r in res if r.name == "shop-db-app-write-token"]
    assert production.write_token == token.outputs["result"] and len(production.write_token) == 40


def test_plans_are_reproducible(production):
    again = plan.build_plan(PRODUCTION, NET)
    assert [(h.name, h.public_ip, h.user_data) for h in again.hosts] == [
        (h.name, h.public_ip, h.user_data) for h in production.hosts
    ]
    assert production.db_host("gra").public_ip == "198.18.42.10"  # sorted names: shop-gra-db first


def test_the_paper_drill_and_the_failover_order(production, sbg2021):
    assert production.failover_order == ["waw", "ik"]
    assert production.db_placements == ["gra", "waw", "ik"]
    assert all(p.service_survives and p.data_survives for p in production.predictions.values())
    p = sbg2021.predictions["ovh-strasbourg"]
    assert not p.service_survives and not p.data_survives and "database" in p.data_lost


def test_the_replay_is_built_only_through_the_escape_hatch(sbg2021):
    assert sbg2021.rejected_rules == ("backup-colocated", "single-site", "site-majority")
    assert list(sbg2021.sites) == ["ovh-strasbourg"]
    assert sbg2021.sites["ovh-strasbourg"].placements == ("sbg5", "sbg7", "backups-sbg")
    with pytest.raises(DesignRejected):
        run_program(SBG2021)
    with pytest.raises(ValueError, match="default program"):
        run_program(SBG2021, enforce_rules=False, program=lambda: None)


def test_site_selection(production):
    assert plan.select_sites(production, None, False) == ["ovh-gravelines"]  # the primary's site
    assert plan.select_sites(production, None, True) == [
        "infomaniak-geneva",
        "ovh-gravelines",
        "ovh-limburg",
        "ovh-warsaw",
    ]
    assert plan.select_sites(production, "waw", False) == ["ovh-warsaw"]
    assert plan.select_sites(production, "ovh-limburg", False) == ["ovh-limburg"]
    assert plan.select_sites(production, "Geneva area (CH)", False) == ["infomaniak-geneva"]
    assert plan.select_sites(production, "warsaw", False) == ["ovh-warsaw"]
    with pytest.raises(InputError, match="matches no site.*ovh-gravelines"):
        plan.select_sites(production, "atlantis", False)


def test_a_stack_name_is_looked_up_in_the_current_directory_only(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert plan.stack_file_for("production").resolve() == PRODUCTION
    assert plan.stack_file_for(str(SBG2021)) == SBG2021
    with pytest.raises(InputError, match=r"no stack file ./stacks/Pulumi.nosuchstack.yaml in the current directory"):
        plan.stack_file_for("nosuchstack")
    with pytest.raises(InputError, match="no such stack file"):
        plan.stack_file_for(str(tmp_path / "Pulumi.x.yaml"))
    with pytest.raises(InputError, match="not a stack name"):
        plan.stack_file_for("-rf")
    # elsewhere, the shipped stacks are not found by name (nothing is looked up in the package or a checkout)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        plan.stack_file_for("production")
    assert str(err.value).startswith(
        "production: no stack file ./stacks/Pulumi.production.yaml in the current directory"
    )
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.mine.yaml").write_text("config: {}\n")
    assert plan.stack_file_for("mine") == Path("stacks/Pulumi.mine.yaml")
    assert plan.stack_file_for("stacks/Pulumi.mine.yaml") == Path("stacks/Pulumi.mine.yaml")


def test_internet_subnet_is_in_the_benchmarking_range():
    net = plan.pick_internet_subnet()
    assert net.prefixlen == 24 and net.subnet_of(plan.INTERNET_POOL)


def test_internet_subnet_avoids_the_networks_in_use():
    pool = list(plan.INTERNET_POOL.subnets(new_prefix=24))
    free = pool[137]
    used = [n for n in pool if n != free] + [ipaddress.ip_network("fd00::/8")]
    assert plan.pick_internet_subnet(used=used) == free
    # a wider network in use covers its /24s
    assert plan.pick_internet_subnet(used=[ipaddress.ip_network("198.18.0.0/16")]).subnet_of(
        ipaddress.ip_network("198.19.0.0/16")
    )
    with pytest.raises(plan.DrillError, match="no free /24"):
        plan.pick_internet_subnet(used=[plan.INTERNET_POOL])


def test_addresses_follow_the_names_and_stop_when_the_network_is_full():
    a = plan.Addresses(NET, ["b", "a"])
    assert (a("a", 0), a("b", 0), a("c", 0), a("a", 0)) == (
        "198.18.42.10",
        "198.18.42.11",
        "198.18.42.12",
        "198.18.42.10",
    )
    small = plan.Addresses(ipaddress.ip_network("198.18.42.0/28"))
    assert [small(f"h{i}", 0) for i in range(5)][-1] == "198.18.42.14"  # .15 is the broadcast address
    with pytest.raises(plan.DrillError, match="is full"):
        small("h5", 0)
