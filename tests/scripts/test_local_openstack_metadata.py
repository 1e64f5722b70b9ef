"""The local clouds' metadata path (scripts/local-openstack): what the signing proxy sends Nova's metadata API, offline.
The live proof (Nova serving the user data it received, refusing a forged signature and another project) is
tests/integration/openstack/test_local_clouds.py."""

from __future__ import annotations

import hashlib
import hmac
import importlib

import pytest

from tests.conftest import ROOT

DIR = ROOT / "scripts" / "local-openstack"


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.syspath_prepend(str(DIR))  # hub_client imports local_openstack from its own directory
    return importlib.import_module("hub_client")


def test_the_proxy_signs_the_instance_id_with_the_shared_secret_as_neutrons_does(hub):
    topo = hub.topology()
    secret = topo["metadata"]["proxy_secret"]
    url, headers = hub.metadata_request(
        topo, "10.87.0.13", "4f1c", "a1b2", "198.18.13.7", "/openstack/latest/user_data"
    )
    assert url == f"http://10.87.0.13:{topo['metadata']['port']}/openstack/latest/user_data"
    assert headers == {
        "X-Instance-ID": "4f1c",
        "X-Tenant-ID": "a1b2",
        "X-Instance-ID-Signature": hmac.new(secret.encode(), b"4f1c", hashlib.sha256).hexdigest(),
        "X-Forwarded-For": "198.18.13.7",
    }


def test_every_region_is_given_the_metadata_port_and_secret_its_nova_is_configured_with(hub):
    local_openstack = importlib.import_module("local_openstack")
    topo = hub.topology()
    backends = local_openstack.backends(topo)
    assert len(backends) == 5 and all(b["metadata"] == topo["metadata"] for b in backends)
    nova = (DIR / "image/rootfs/opt/rs-os/templates/etc/nova/nova.conf").read_text()
    assert "service_metadata_proxy = true\nmetadata_proxy_shared_secret = @@METADATA_SECRET@@\n" in nova
    render = (DIR / "image/rootfs/opt/rs-os/render.py").read_text()
    assert '"@@METADATA_SECRET@@": backend["metadata"]["proxy_secret"]' in render
