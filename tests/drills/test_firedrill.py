"""The fire drill's plan under Pulumi mocks (no podman): hosts, exact user data, addresses passed the way
the components pass them, sites, failover order, the rules' escape hatch, drill-only hosts, CLI errors."""

from __future__ import annotations

import ipaddress
import re

import pytest
import yaml

from resilient_stack.core.rules import DesignRejected
from resilient_stack.drills import firedrill as fd
from resilient_stack.io.errors import InputError
from resilient_stack.testing.mockrun import RecordingMocks, run_program

from ..conftest import ROOT, run_cli

NET = ipaddress.ip_network("198.18.42.0/24")
PRODUCTION = ROOT / "stacks" / "Pulumi.production.yaml"
SBG2021 = ROOT / "stacks" / "Pulumi.sbg2021.yaml"


@pytest.fixture(scope="module")
def production() -> fd.Plan:
    return fd.build_plan(PRODUCTION, NET)


@pytest.fixture(scope="module")
def sbg2021() -> fd.Plan:
    return fd.build_plan(SBG2021, NET)


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
    }
    assert set(production.sites) == {"ovh-gravelines", "ovh-warsaw", "infomaniak-geneva", "ovh-limburg"}
    assert production.backup_site == "ovh-limburg" and production.sites["ovh-limburg"].placements == ("backups-lim",)
    assert production.rejected is None and production.primary == "gra"


def test_public_addresses_come_from_the_mock_cloud_and_reach_the_replicas_through_the_components(production):
    ips = [h.public_ip for h in production.hosts]
    assert len(set(ips)) == len(ips)
    assert all(ipaddress.ip_address(ip) in NET for ip in ips)
    assert production.entry_ip not in ips and production.s3_ip not in ips
    primary_ip = production.database_addresses["gra"]
    assert production.db_host("gra").public_ip == primary_ip
    for h in production.hosts:
        if h.role == "db-replica":
            # the replica's user data names the primary's address as the component rendered it
            assert f"PRIMARY_HOST={primary_ip}\n" in h.user_data
    assert sorted(production.entry_points) == sorted(h.public_ip for h in production.hosts if h.role == "web")


def test_the_public_network_is_admitted_like_an_operator_would_configure_it(production):
    primary = production.db_host("gra").user_data
    assert f"hostssl replication replicator {NET} scram-sha-256" in primary
    assert f"hostssl shop shop {NET} scram-sha-256" in primary


def test_the_user_data_is_exactly_what_the_components_render(production):
    names = [h.name for h in production.hosts]
    res = run_program(PRODUCTION, mocks=RecordingMocks(public_address=fd._Addresses(NET, names)), config_overrides={
        "resilient-stack:database": {"appDatabase": "shop", "appUser": "shop", "replicationCidrs": [str(NET)],
                                     "appCidrs": [str(NET)]},
    })
    rendered = {r.inputs["name"]: r.inputs["userData"] for r in res if r.type == fd.INSTANCE_TYPE}
    assert rendered == {h.name: h.user_data for h in production.hosts}
    for ud in rendered.values():
        assert ud.startswith("#cloud-config\n") and yaml.safe_load(ud)


def test_plans_are_reproducible(production):
    again = fd.build_plan(PRODUCTION, NET)
    assert [(h.name, h.public_ip, h.user_data) for h in again.hosts] == \
        [(h.name, h.public_ip, h.user_data) for h in production.hosts]
    assert production.db_host("gra").public_ip == "198.18.42.10"  # sorted names: shop-gra-db first


def test_the_paper_drill_and_the_failover_order(production, sbg2021):
    assert production.failover_order == ["waw", "ik"]
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
    assert fd.select_sites(production, None, False) == ["ovh-gravelines"]  # the primary's site
    assert fd.select_sites(production, None, True) == ["infomaniak-geneva", "ovh-gravelines", "ovh-limburg",
                                                        "ovh-warsaw"]
    assert fd.select_sites(production, "waw", False) == ["ovh-warsaw"]
    assert fd.select_sites(production, "ovh-limburg", False) == ["ovh-limburg"]
    assert fd.select_sites(production, "Geneva area (CH)", False) == ["infomaniak-geneva"]
    assert fd.select_sites(production, "warsaw", False) == ["ovh-warsaw"]
    with pytest.raises(InputError, match="matches no site.*ovh-gravelines"):
        fd.select_sites(production, "atlantis", False)


def test_stack_file_for(tmp_path):
    assert fd.stack_file_for("production").resolve() == PRODUCTION
    assert fd.stack_file_for(str(SBG2021)) == SBG2021
    with pytest.raises(InputError, match="no stack file"):
        fd.stack_file_for("nosuchstack")
    with pytest.raises(InputError):
        fd.stack_file_for(str(tmp_path / "Pulumi.x.yaml"))


def test_entry_point_user_data():
    ud = fd.entry_user_data([("shop-gra-web-1", "198.18.42.10"), ("shop-waw-web-1", "198.18.42.12")], https=True)
    doc = yaml.safe_load(ud)
    assert ud.startswith("#cloud-config\n")
    cfg = next(f["content"] for f in doc["write_files"] if f["path"] == "/etc/haproxy/haproxy.cfg")
    assert "option httpchk GET /healthz" in cfg and "http-check expect status 200" in cfg
    assert "server shop-gra-web-1 198.18.42.10:80 check" in cfg
    assert "server shop-waw-web-1 198.18.42.12:443 check port 80" in cfg
    assert "option redispatch" in cfg and "fall 2" in cfg
    writer = next(f for f in doc["write_files"] if f["path"] == fd.WRITER)
    assert writer["permissions"] == "0755" and "INSERT INTO firedrill_writes" in writer["content"]
    assert "timeout 3 psql" in writer["content"] and "max_seconds" in writer["content"]
    assert ["systemctl", "enable", "--now", "haproxy"] in doc["runcmd"]
    plain = yaml.safe_load(fd.entry_user_data([("w", "198.18.42.10")], https=False))
    assert ":443" not in plain["write_files"][0]["content"]


def test_s3_stand_in_user_data():
    doc = yaml.safe_load(fd.s3_user_data(port=443, bucket="shop-pgbackrest", path_style=True))
    unit = doc["write_files"][0]["content"]
    assert "S3_IGNORE_SUBDOMAIN_BUCKETNAME=true" in unit and "-H 127.0.0.1" in unit
    assert "listen 443 ssl" in doc["write_files"][1]["content"]
    assert ["curl", "-kfsS", "-o", "/dev/null", "-X", "PUT", "https://127.0.0.1:443/shop-pgbackrest"] in doc["runcmd"]
    host_style = yaml.safe_load(fd.s3_user_data(port=8443, bucket="b-1", path_style=False))
    assert "IGNORE_SUBDOMAIN" not in host_style["write_files"][0]["content"]


def test_internet_subnet_is_in_the_benchmarking_range():
    net = fd.pick_internet_subnet()
    assert net.prefixlen == 24 and net.subnet_of(fd.INTERNET_POOL)


def _one_line_error(proc) -> str:
    err = proc.stderr.decode()
    assert proc.stdout == b""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_cli_unknown_stack_is_one_line_exit_2():
    proc = run_cli("firedrill", "nosuchstack")
    assert proc.returncode == 2
    assert "nosuchstack: no stack file" in _one_line_error(proc)


def test_cli_unknown_site_is_one_line_exit_2():
    proc = run_cli("firedrill", "production", "--site", "atlantis", "--quiet")
    assert proc.returncode == 2
    assert re.search(r"--site 'atlantis' matches no site", _one_line_error(proc))


def test_cli_site_and_all_sites_exclude_each_other():
    proc = run_cli("firedrill", "production", "--site", "gra", "--all-sites")
    assert proc.returncode == 2 and b"not allowed with" in proc.stderr
