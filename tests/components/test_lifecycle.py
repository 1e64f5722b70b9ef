"""A routine change never replaces a database host, and the data outlives the host (issue 17, point 1).

What the components ask of the engine, under the mock runner: each member's data volume (protected, kept on
delete) attached by its own resource; instances that ignore changes of their boot configuration (replaced only on
purpose, `pulumi up --replace URN`); the runtime configuration in the instances' metadata. The real engine's
preview of a deployed stack is tests/integration/engine/test_routine_changes.py.
"""

from __future__ import annotations

import pytest

from resilient_stack.components.stack_config import StackConfigError, load_stack_file, parse_stack_config
from resilient_stack.core.vocabulary import STORAGE_OF_KEY
from resilient_stack.hosts import cloudinit
from resilient_stack.testing.mockrun import run_program

from .conftest import bare_config, stack_file, user_data

INSTANCE = "openstack:compute/instance:Instance"
VOLUME = "openstack:blockstorage/volume:Volume"
ATTACH = "openstack:compute/volumeAttach:VolumeAttach"
BOOT = ["imageName", "userData"]


def of(res, typ):
    return [r for r in res if r.type == typ]


def test_every_member_has_a_protected_data_volume_attached_to_it(runs):
    res = runs["production"]
    volumes = {r.inputs["name"]: r for r in of(res, VOLUME)}
    assert sorted(volumes) == ["shop-gra-db-data", "shop-ik-db-data", "shop-waw-db-data"]
    instances = {r.id: r for r in of(res, INSTANCE)}
    by_volume = {r.inputs["volumeId"]: instances[r.inputs["instanceId"]].inputs["name"] for r in of(res, ATTACH)}
    for name, volume in volumes.items():
        assert volume.options == {"protect": True, "retainOnDelete": True}, name
        assert volume.inputs["size"] == 20 and volume.inputs["metadata"] == {STORAGE_OF_KEY: "database"}
        assert volume.provider == next(r for r in of(res, INSTANCE) if r.inputs["name"] == name[:-5]).provider
        assert by_volume[volume.id] == name[: -len("-data")], "attached to its own host"
    for attach in of(res, ATTACH):
        assert attach.options == {"deleteBeforeReplace": True}


def test_the_host_looks_for_its_own_volume(runs):
    res = runs["production"]
    volumes = {r.inputs["name"][: -len("-data")]: r.id for r in of(res, VOLUME)}
    for host in of(res, INSTANCE):
        name = host.inputs["name"]
        if name.endswith("-db"):
            assert f"VOLUME_ID={volumes[name]}\n" in user_data(host)


@pytest.mark.parametrize("stack", ["production", "staging"])
def test_no_instance_is_replaced_by_a_change_of_its_boot_configuration(runs, stack):
    for host in of(runs[stack], INSTANCE):
        database = host.inputs["name"].endswith("-db")  # and a database host only once it is unprotected
        assert host.options == {
            "deleteBeforeReplace": True,
            "ignoreChanges": BOOT,
            **({"protect": True} if database else {}),
        }, host.name


def test_the_runtime_configuration_is_in_the_metadata(runs):
    res = runs["production"]
    web = sorted(r.outputs["accessIpV4"] for r in of(res, INSTANCE) if "-web-" in r.inputs["name"])
    for host in of(res, INSTANCE):
        if host.inputs["name"].endswith("-db"):
            doc = cloudinit.runtime_document_of(host.inputs["metadata"])
            for ip in web:  # the application's two login roles (they alternate on a rotation)
                assert f"hostssl shop shop,shop_alt,shop_migrate {ip}/32 scram-sha-256" in doc["pg_hba"]
            # Patroni's dynamic configuration too (applied to the cluster in place by the sync)
            synchronous = load_stack_file(stack_file("production")).database.synchronous
            assert doc["dcs"]["synchronous_mode"] is synchronous and doc["dcs"]["failsafe_mode"] is True
            assert doc["dcs"]["postgresql"]["parameters"]["max_slot_wal_keep_size"] == "5120MB"  # 20 GB / 4
            assert all(len(v) <= 255 for v in host.inputs["metadata"].values())


def test_volume_settings():
    raw = bare_config("production")
    res = run_program(
        stack_file("production"),
        config_overrides={
            "resilient-stack:database": {**raw.get("database", {}), "volumeSize": 50, "volumeType": "high-speed"}
        },
    )
    assert {(r.inputs["size"], r.inputs["volumeType"]) for r in of(res, VOLUME)} == {(50, "high-speed")}
    with pytest.raises(StackConfigError, match="volumeSize"):
        parse_stack_config({**raw, "database": {"volumeSize": 0}})


@pytest.mark.parametrize("admin", [[], ["198.18.7.0/24", "fd00:7::/48"]])
def test_every_host_gets_its_firewall_sets_in_its_metadata(runs, admin):
    # the shipped stack closes SSH (adminCidrs: []); an operator's networks reach every host's firewall
    res = (
        runs["production"]
        if not admin
        else run_program(stack_file("production"), config_overrides={"resilient-stack:adminCidrs": admin})
    )
    members = sorted(f"{r.outputs['accessIpV4']}/32" for r in of(res, INSTANCE) if r.inputs["name"].endswith("-db"))
    monitors = sorted(f"{r.outputs['accessIpV4']}/32" for r in of(res, INSTANCE) if r.inputs["name"].endswith("-mon"))
    assert len(monitors) == 2
    for host in of(res, INSTANCE):
        doc = cloudinit.runtime_document_of(host.inputs["metadata"])
        assert doc["firewall"]["admin4"] == admin[:1], host.name
        assert doc["firewall"]["admin6"] == admin[1:], host.name
        own = f"{host.outputs['accessIpV4']}/32"
        if host.inputs["name"].endswith("-db"):
            assert sorted(doc["firewall"]["members4"]) == members
            assert sorted(doc["firewall"]["monitoring4"]) == monitors
        elif host.inputs["name"].endswith("-mon"):  # the other monitoring host: the Alertmanagers' cluster
            assert set(doc["firewall"]) == {"admin4", "admin6", "monitoring4", "monitoring6"}
            assert doc["firewall"]["monitoring4"] == [m for m in monitors if m != own]
        else:  # a web host: its node exporter to the monitoring hosts
            assert set(doc["firewall"]) == {"admin4", "admin6", "monitoring4", "monitoring6"}
            assert sorted(doc["firewall"]["monitoring4"]) == monitors


@pytest.mark.parametrize("server_name", ["www.shop.example", "_"])
def test_each_web_host_knows_the_others_for_acme(server_name):
    """Whatever its first server name: a DNS name may come later, in place."""
    raw = bare_config("production")
    res = run_program(
        stack_file("production"),
        config_overrides={"resilient-stack:web": {**raw["web"], "https": True, "serverName": server_name}},
    )
    web = {r.inputs["name"]: r for r in of(res, INSTANCE) if "-web-" in r.inputs["name"]}
    addresses = {name: r.outputs["accessIpV4"] for name, r in web.items()}
    for name, host in web.items():
        doc = cloudinit.runtime_document_of(host.inputs["metadata"])
        assert sorted(doc["acme_peers"]) == sorted(a for n, a in addresses.items() if n != name)
        assert "certbot" in user_data(host) and "resilient-stack-acme-peers.conf" in user_data(host)


KEYS = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFirstKeyFirstKeyFirstKeyFirstKeyFirstKey0 ops@laptop",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC" + "S" * 340 + " new@laptop",
]


def test_the_day_two_settings_reach_every_host_through_its_metadata():
    """SSH keys (every host), the server name, https and the title (the web hosts) are runtime configuration: a
    change shows in each instance's metadata, which the cloud updates in place; the user data (ignored on a running
    host) only carries the first boot's copy."""
    raw = bare_config("production")
    docs = {}
    for key, web in (
        (KEYS[0], {"title": "Shop", "https": True, "serverName": "shop.example"}),
        (KEYS[1], {"title": "Shop <sale>", "https": False, "serverName": "www.shop.example shop.example"}),
    ):
        res = run_program(
            stack_file("production"),
            config_overrides={
                "resilient-stack:sshPublicKey": key,
                "resilient-stack:web": {**raw["web"], "selfSigned": False, **web},
            },
        )
        docs[key] = {
            r.inputs["name"]: (cloudinit.runtime_document_of(r.inputs["metadata"]), r) for r in of(res, INSTANCE)
        }
        for name, (doc, host) in docs[key].items():
            assert doc["ssh_keys"] == [key], name
            assert all(len(v) <= 255 for v in host.inputs["metadata"].values())
            if "-web-" in name:
                assert doc["site"] == {
                    "server_name": web["serverName"],
                    "https": web["https"],
                    "title": web["title"],
                    "certify": web["serverName"].split() if web["https"] else None,
                }, name
            else:
                assert "site" not in doc, name
    first, second = docs.values()
    assert set(first) == set(second) and len(first) == 10  # 5 web hosts, 3 members, 2 monitoring hosts
    for name in first:
        assert first[name][1].options == second[name][1].options  # ignoreChanges: the user data, the image


def test_the_backup_schedule_reaches_every_member_through_its_metadata(runs):
    """``backups.schedule`` is runtime configuration: the members' metadata carries it (root's sync writes the
    timers' drop-ins), production's the default; a schedule of minutes changes the metadata, not the hosts'
    options (no replacement); the user data only carries the first boot's copy."""
    raw = bare_config("production")
    shipped = {r.inputs["name"]: r for r in of(runs["production"], INSTANCE)}
    res = run_program(
        stack_file("production"),
        config_overrides={
            "resilient-stack:backups": {**raw["backups"], "schedule": {"differential": "*:0/2", "jitterMinutes": 0}}
        },
    )
    members = [r for r in of(res, INSTANCE) if r.inputs["name"].endswith("-db")]
    assert len(members) == 3
    for host in members:
        before = cloudinit.runtime_document_of(shipped[host.inputs["name"]].inputs["metadata"])["backup_schedule"]
        assert before == {"full": "Sun *-*-* 02:00:00", "diff": "Mon..Sat *-*-* 02:00:00", "jitter_s": 900}
        doc = cloudinit.runtime_document_of(host.inputs["metadata"])
        assert doc["backup_schedule"] == {"full": "Sun *-*-* 02:00:00", "diff": "*:0/2", "jitter_s": 0}
        assert host.options == shipped[host.inputs["name"]].options
    assert not any(
        "backup_schedule" in cloudinit.runtime_document_of(r.inputs["metadata"])
        for r in of(res, INSTANCE)
        if not r.inputs["name"].endswith("-db")
    )
