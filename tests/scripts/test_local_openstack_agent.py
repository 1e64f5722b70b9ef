"""The local clouds' compute agent (scripts/local-openstack/compute_agent.py, host_wiring.py), offline: how a server's host is wired
from what Nova and Neutron say. The live proof (a server `pulumi up` created boots, reads its user data from Nova's
metadata service, goes with the server) is tests/integration/openstack/test_local_clouds.py."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from resilient_stack.testing import podman
from tests.conftest import ROOT

DIR = ROOT / "scripts" / "local-openstack"

EXT_NET, PRIV_NET = "6a0c1f0e-0000-4000-8000-00000000e0e0", "11111111-2222-4333-8444-555555555555"
EXT_SUB, PRIV_SUB = "ext-subnet", "priv-subnet"
SUBNETS = {
    EXT_SUB: {"cidr": "198.18.13.0/24", "gateway_ip": "198.18.13.1"},
    PRIV_SUB: {"cidr": "10.99.0.0/24", "gateway_ip": "10.99.0.1"},
}


@pytest.fixture
def agent(monkeypatch):
    monkeypatch.syspath_prepend(str(DIR))  # its imports: its own directory
    return importlib.import_module("compute_agent")


@pytest.fixture
def wiring(monkeypatch):
    """What a host is made of (host_wiring.py, the agent's pure part)."""
    monkeypatch.syspath_prepend(str(DIR))
    return importlib.import_module("host_wiring")


def port(pid: str, mac: str, net: str, subnet: str, ip: str) -> dict:
    return {"id": pid, "mac_address": mac, "network_id": net, "fixed_ips": [{"subnet_id": subnet, "ip_address": ip}]}


def links(*macs: str) -> dict:
    return {"links": [{"id": f"tap{i}", "ethernet_mac_address": m} for i, m in enumerate(macs)]}


def test_interfaces_follow_novas_order_with_the_ports_macs_and_addresses(wiring):
    ports = [  # Neutron lists them in its own order
        port("p-priv", "fa:16:3e:00:00:02", PRIV_NET, PRIV_SUB, "10.99.0.7"),
        port("p-ext", "FA:16:3E:00:00:01", EXT_NET, EXT_SUB, "198.18.13.42"),
    ]
    nics = wiring.plan_nics(links("fa:16:3e:00:00:01", "fa:16:3e:00:00:02"), ports, SUBNETS, {EXT_NET})
    assert [(n.device, n.mac, n.port_id, n.addresses, n.external) for n in nics] == [
        ("eth0", "fa:16:3e:00:00:01", "p-ext", ("198.18.13.42/24",), True),
        ("eth1", "fa:16:3e:00:00:02", "p-priv", ("10.99.0.7/24",), False),
    ]
    # one default route: the first interface's gateway; the private subnet's gateway is not a route out
    assert [n.gateway for n in nics] == ["198.18.13.1", None]
    assert nics[0].gateway_cidr == "198.18.13.1/24"
    assert wiring.public_addresses(nics) == ["198.18.13.42"]


def test_a_host_on_a_private_network_only_has_no_public_address(wiring):
    ports = [port("p-priv", "fa:16:3e:00:00:02", PRIV_NET, PRIV_SUB, "10.99.0.7")]
    nics = wiring.plan_nics(links("fa:16:3e:00:00:02"), ports, SUBNETS, {EXT_NET})
    assert wiring.public_addresses(nics) == []  # the agent does not boot it: the metadata proxy could not know it


@pytest.mark.parametrize(
    "macs, ports, said",
    [
        (("fa:16:3e:00:00:01",), [], "1 links, Neutron 0 ports"),
        (("fa:16:3e:00:00:09",), [port("p", "fa:16:3e:00:00:01", EXT_NET, EXT_SUB, "198.18.13.4")], "no Neutron port"),
    ],
)
def test_nova_and_neutron_disagreeing_boots_nothing(wiring, macs, ports, said):
    with pytest.raises(wiring.AgentError, match=said):
        wiring.plan_nics(links(*macs), ports, SUBNETS, {EXT_NET})


def test_names_fit_linux_interface_names_and_are_the_ids(wiring):
    assert len(wiring.bridge_name(EXT_NET)) <= 15 and len(wiring.veth_name(PRIV_NET)) <= 15
    assert wiring.bridge_name(EXT_NET) == "b6a0c1f0e00004"
    assert wiring.netns_name("t42", PRIV_NET) == "rsos-t42-i111111112222"
    server = {"id": PRIV_NET, "name": "shop web/1"}
    assert wiring.container_name("t42", server) == "rsos-t42-shop-web-1-11111111"


def test_a_host_boots_as_an_openstack_instance_not_from_a_seed(wiring, tmp_path):
    server = {"id": PRIV_NET, "name": "shop-db-gra"}
    argv = wiring.run_args("t42", server, "GRA11", "rsos-t42-i1", tmp_path / "c", tmp_path / "d", tmp_path / "k", "img")
    joined = " ".join(argv)
    assert "-e product_name=OpenStack Nova" in joined  # cloud-init's OpenStack detection in a container
    assert f"{tmp_path / 'c'}:/etc/cloud/cloud.cfg.d/90-nocloud.cfg:ro" in argv  # over the image's NoCloud choice
    assert "--network ns:/run/netns/rsos-t42-i1" in joined and "--hostname shop-db-gra" in joined
    assert "/var/lib/cloud/seed" not in joined
    assert "resilient-stack.local-openstack=t42" in argv  # down() removes it with the clouds
    assert "datasource_list: [ OpenStack, None ]" in wiring.CLOUD_CFG


def test_a_host_trusts_the_local_ca_and_resolves_the_clouds_tls_names(wiring, tmp_path):
    import yaml  # cloud-init reads the file as YAML: the CA must come out as the PEM it went in

    pem = "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJ\nAAAA==\n-----END CERTIFICATE-----\n"
    cfg = yaml.safe_load(wiring.cloud_cfg(pem))
    assert cfg["ca_certs"]["trusted"] == [pem]  # cloud-init's ca_certs: the system store, before user data runs
    assert cfg["datasource_list"] == ["OpenStack", "None"] and cfg["network"] == {"config": "disabled"}
    with pytest.raises(wiring.AgentError, match="not a PEM certificate"):
        wiring.cloud_cfg("garbage")
    server = {"id": PRIV_NET, "name": "shop-db-gra"}
    argv = wiring.run_args(
        "t42",
        server,
        "GRA11",
        "ns",
        tmp_path / "c",
        tmp_path / "d",
        tmp_path / "k",
        "img",
        {"s3.de.cloud.ovh.net": "10.87.0.14"},
    )
    assert "--add-host=s3.de.cloud.ovh.net:10.87.0.14" in argv and argv[-1] == "img"


def test_the_backups_s3_endpoint_of_the_shipped_stacks_is_a_tls_name_of_the_local_clouds(monkeypatch):
    """The production and staging stacks' `backups.s3Endpoint` resolves, on the fabric, to the region of the backup
    container, which serves S3 on 443 with a certificate naming it."""
    import yaml

    monkeypatch.syspath_prepend(str(DIR))
    lo = importlib.import_module("local_openstack")
    topo = lo.topology()
    names = lo.tls_hosts(topo)
    by_region = {b["region"]: b for b in lo.backends(topo)}
    for stack in ("production", "staging"):
        backups = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"][
            "resilient-stack:backups"
        ]
        b = by_region[backups["region"]]
        assert b["s3"] == {"host": backups["s3Endpoint"], "location": backups["s3Region"]}, stack
        assert names[backups["s3Endpoint"]] == b["address"]


def test_the_hosts_registry_is_served_in_the_hub_under_the_lifecycle_tests_registry_name(monkeypatch):
    """The registry's names resolve to the hub (where registry.py runs it) and its certificate names them; its
    configuration serves TLS on 443 with the local CA's server certificate."""
    import json

    monkeypatch.syspath_prepend(str(DIR))
    lo = importlib.import_module("local_openstack")
    reg = importlib.import_module("registry")
    topo = lo.topology()
    names = lo.tls_hosts(topo)
    assert names["registry.shop.internal"] == topo["hub"].split("/")[0]
    cfg = json.loads(reg.config())
    assert cfg["http"]["addr"] == ":443" and cfg["http"]["tls"]["certificate"].startswith(reg.TLS)
    assert reg.start("t42", Path("/nonexistent"), {"clouds": {}}) == []  # no names: nothing runs


def test_the_agent_boots_the_image_the_drill_boots(wiring, monkeypatch):
    assert wiring.HOST_IMAGE == podman.DEFAULT_IMAGE


def test_a_volume_is_found_by_the_serial_a_virtio_disk_carries(wiring, tmp_path):
    vid = "3dbf1de8-db89-4fc9-a1b2-0123456789ab"
    assert wiring.disk_link(vid) == "/dev/disk/by-id/virtio-3dbf1de8-db89-4fc9-a"  # 20 characters
    # the database hosts' data-volume script looks for the same serial
    script = (ROOT / "resilient_stack/hosts/payloads/shell/data-volume.sh").read_text()
    assert "serial=${VOLUME_ID:0:20}" in script
    assert wiring.volume_file(tmp_path, "t42", vid) == tmp_path / "volumes" / f"rsos-t42-{vid}.img"
    server = {"os-extended-volumes:volumes_attached": [{"id": vid}, {"id": "other", "delete_on_termination": False}]}
    assert wiring.attached_volumes(server) == [vid, "other"]
    assert wiring.attached_volumes({}) == []
    wiring.volume_file(tmp_path, "t42", vid).parent.mkdir()
    for kept in (wiring.volume_file(tmp_path, "t42", vid), wiring.volume_file(tmp_path, "t4", "other")):
        kept.write_bytes(b"")
    assert wiring.volume_files(tmp_path, "t42") == {vid: wiring.volume_file(tmp_path, "t42", vid)}  # not t4's


def test_the_inotify_limit_is_raised_for_the_hosts_systemd_and_never_lowered(agent, tmp_path):
    limit = tmp_path / "max_user_instances"
    limit.write_text("128\n")
    assert "raised from 128 to 1024" in agent.ensure_inotify_instances(limit, 1024)
    assert limit.read_text() == "1024\n"
    limit.write_text("8192\n")
    assert agent.ensure_inotify_instances(limit, 1024) is None and limit.read_text() == "8192\n"
