"""resilient_stack.testing.mockrun: loud failures, isolation between runs, and the `pulumi stack export` shape."""

from __future__ import annotations

import json

import pulumi
import pytest
import yaml

from resilient_stack.components.stack_config import StackConfigError
from resilient_stack.core.vocabulary import SECRET_SIG
from resilient_stack.io.errors import InputError
from resilient_stack.testing.mockrun import (
    MockRunError,
    RecordingMocks,
    UnexpectedInvoke,
    UnmockedResource,
    engine_config,
    run_program,
    to_stack_export,
)
from tests.components.conftest import bare_config, stack_file


def test_an_invoke_fails_loudly():
    import pulumi_openstack as openstack

    def program():
        image = openstack.images.get_image(name="Debian 12")
        pulumi.export("image", image.id)

    mocks = RecordingMocks()
    with pytest.raises(UnexpectedInvoke, match="openstack:images/getImage:getImage"):
        run_program(stack_file("staging"), mocks=mocks, program=program)
    assert mocks.failures


def test_the_one_lookup_the_program_makes_is_answered():
    """An external network's ID by name (a port needs it): answered with a stable ID; any other argument fails."""
    import pulumi_openstack as openstack

    def program(**extra):
        def run():
            net = openstack.networking.get_network(name="Ext-Net", **extra)
            pulumi.export("net", net.id)

        return run

    mocks = RecordingMocks()
    run_program(stack_file("staging"), mocks=mocks, program=program())
    first = mocks.stack_outputs["net"]
    mocks = RecordingMocks()
    run_program(stack_file("staging"), mocks=mocks, program=program())
    assert mocks.stack_outputs["net"] == first and len(first) == 36
    with pytest.raises(UnexpectedInvoke, match="getNetwork"):
        run_program(stack_file("staging"), mocks=RecordingMocks(), program=program(external=True))


def test_an_unknown_resource_type_fails_loudly():
    import pulumi_openstack as openstack

    def program():
        provider = openstack.Provider("p", region="GRA11", cloud="ovh")
        openstack.compute.Keypair("k", opts=pulumi.ResourceOptions(provider=provider))

    with pytest.raises(UnmockedResource, match="openstack:compute/keypair:Keypair"):
        run_program(stack_file("staging"), program=program)


def test_an_unknown_component_type_fails_loudly():
    class Other(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__("acme:index:Thing", name, None, None)
            self.register_outputs({})

    with pytest.raises(UnmockedResource, match="component type acme:index:Thing"):
        run_program(stack_file("staging"), program=lambda: Other("x"))


def test_reading_an_existing_resource_fails_loudly():
    import pulumi_openstack as openstack

    def program():
        provider = openstack.Provider("p", region="GRA11", cloud="ovh")
        openstack.compute.Instance.get("i", "1234", opts=pulumi.ResourceOptions(provider=provider))

    with pytest.raises(UnmockedResource, match="existing"):
        run_program(stack_file("staging"), program=program)


def test_config_errors_come_out_unwrapped(tmp_path):
    raw = bare_config("staging")
    raw["placements"][0]["webCount"] = "many"
    f = tmp_path / "Pulumi.broken.yaml"
    f.write_text(yaml.safe_dump({"config": {f"resilient-stack:{k}": v for k, v in raw.items()}}))
    with pytest.raises(StackConfigError, match=r"^stack broken: resilient-stack:placements\[0\]\.webCount: "):
        run_program(f)


def test_a_project_made_with_pulumi_new_reads_its_own_namespace(tmp_path):
    raw = bare_config("staging")
    f = tmp_path / "Pulumi.dev.yaml"
    f.write_text(yaml.safe_dump({"config": {f"shop:{k}": v for k, v in raw.items()}}))
    res = run_program(f, project="shop")
    assert res[0].urn.startswith("urn:pulumi:dev::shop::")
    assert any(r.name == "rs-dev-gra" for r in res)
    raw["placements"][0]["privateCidr"] = "10.20.2.0/24"
    f.write_text(yaml.safe_dump({"config": {f"shop:{k}": v for k, v in raw.items()}}))
    with pytest.raises(StackConfigError, match=r"shop:placements\[1\]\.privateCidr: .* overlaps"):
        run_program(f, project="shop")


def test_runs_are_isolated_and_reproducible():
    a = to_stack_export(run_program(stack_file("production")))
    settings_after = (pulumi.get_project(), pulumi.get_stack(), pulumi.runtime.get_config("resilient-stack:name"))
    b = to_stack_export(run_program(stack_file("production")))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert settings_after[2] is None, "config must not leak out of a run"
    assert settings_after[:2] == (pulumi.get_project(), pulumi.get_stack())
    staging = to_stack_export(run_program(stack_file("staging")))
    assert not any("production" in r["urn"] for r in staging["deployment"]["resources"])


def test_export_shape(runs):
    export = to_stack_export(runs["production"])
    assert export["version"] == 3
    resources = export["deployment"]["resources"]
    assert resources[0]["type"] == "pulumi:pulumi:Stack" and resources[0]["custom"] is False
    seen: set[str] = set()
    by_urn = {r["urn"]: r for r in resources}
    for r in resources:
        assert r["urn"].startswith("urn:pulumi:production::resilient-stack::")
        assert {"urn", "type", "custom", "inputs", "outputs"} <= set(r)
        if r.get("parent"):
            assert r["parent"] in seen, "parents come first"
        if r["custom"]:
            assert r["id"]
            if not r["type"].startswith("pulumi:providers:"):
                purn, pid = r["provider"].rsplit("::", 1)
                assert purn in seen and by_urn[purn]["id"] == pid, "providers come first, as URN::ID"
        else:
            assert "id" not in r and "provider" not in r
        seen.add(r["urn"])
    providers = [r for r in resources if r["type"] == "pulumi:providers:openstack"]
    assert sorted(p["inputs"]["region"] for p in providers) == ["DE1", "GRA11", "WAW1", "dc4-a"]
    (default_random,) = [r for r in resources if r["type"] == "pulumi:providers:random"]
    assert default_random["urn"].endswith("::default_4_19_1")
    passwords = [r for r in resources if r["type"] == "random:index/randomPassword:RandomPassword"]
    assert all(p["provider"].startswith(default_random["urn"] + "::") for p in passwords)
    assert all(set(p["outputs"]["result"]) == {SECRET_SIG, "ciphertext"} for p in passwords)
    assert all(isinstance(p["inputs"]["length"], int) for p in passwords)


def test_show_secrets_gives_json_plaintext(runs):
    export = to_stack_export(runs["production"], show_secrets=True)
    (password, *_) = [
        r for r in export["deployment"]["resources"] if r["type"].startswith("random:index/randomPassword")
    ]
    envelope = password["outputs"]["result"]
    assert envelope[SECRET_SIG] == "1b47061264138c4ac30d75fd1eb44270"
    value = json.loads(envelope["plaintext"])
    assert isinstance(value, str) and len(value) == 32 and value.isalnum()


def test_engine_config_is_what_the_engine_hands_over():
    assert engine_config({"a:s": "x", "a:b": True, "a:n": 3, "a:o": {"k": [1]}}) == {
        "a:s": "x",
        "a:b": "true",
        "a:n": "3",
        "a:o": '{"k": [1]}',
    }
    with pytest.raises(InputError, match="encrypted secret"):
        engine_config({"a:p": {"secure": "v1:xyz"}})


def test_to_stack_export_needs_resources():
    with pytest.raises(ValueError):
        to_stack_export([])


def test_mock_run_error_is_a_runtime_error():
    assert issubclass(UnexpectedInvoke, MockRunError) and issubclass(MockRunError, RuntimeError)


def test_a_run_leaves_no_event_loop_open(monkeypatch):
    """pulumi's mock monitor makes an event loop per executor thread and never closes it; left to the garbage
    collector at interpreter exit, one can print a traceback on stderr (seen once from `resilient-stack
    firedrill`). A run closes every loop made while it ran."""
    import asyncio

    made = []
    original = asyncio.new_event_loop

    def recording():
        loop = original()
        made.append(loop)
        return loop

    monkeypatch.setattr(asyncio, "new_event_loop", recording)
    monkeypatch.setattr(asyncio.events, "new_event_loop", recording)
    resources = run_program(stack_file("production"))
    assert resources and len(made) > 1  # the run's own loop and the executor threads'
    assert [loop for loop in made if not loop.is_closed()] == []


def test_urns_chain_every_ancestor_type_as_the_engine_does(runs):
    """The engine qualifies a child's type with its parent's whole type chain (root stack left out): a mocked
    export must carry the URNs a real deployment of the same program gets."""
    res = {r.urn: r for r in runs["production"]}
    web = next(
        r for r in res.values() if r.type == "openstack:compute/instance:Instance" and r.name == "shop-gra-web-1"
    )
    assert web.urn == (
        "urn:pulumi:production::resilient-stack::resilient-stack:stack:ResilientWebStack"
        "$resilient-stack:regional:RegionalWebStack$openstack:compute/instance:Instance::shop-gra-web-1"
    )
    for r in res.values():
        if r.parent and res[r.parent].type != "pulumi:pulumi:Stack":
            assert r.urn.split("::")[2] == f"{res[r.parent].urn.split('::')[2]}${r.type}"


def test_ports_on_an_external_network_get_public_addresses_from_the_allocator():
    """A port on a network the program did not make is public: its IPv4 address comes from ``public_address``
    (called with the port's name), listed after an IPv6 one as OVHcloud's Ext-Net does; an instance attached to
    it reports that address. A port on a network the program made gets an address of its subnet."""
    import pulumi_openstack as openstack

    calls = []

    def allocate(name: str, nic: int) -> str:
        calls.append((name, nic))
        return "198.18.7.9"

    def program():
        provider = openstack.Provider("p", region="GRA11", cloud="ovh")
        opts = pulumi.ResourceOptions(provider=provider)
        net = openstack.networking.Network("n", name="n", opts=opts)
        subnet = openstack.networking.Subnet("s", network_id=net.id, cidr="10.1.0.0/24", opts=opts)
        public = openstack.networking.Port("pub", name="host-1", network_id="external-id", opts=opts)
        private = openstack.networking.Port(
            "priv",
            name="host-1-private",
            network_id=net.id,
            opts=pulumi.ResourceOptions(provider=provider, depends_on=[subnet]),
        )
        host = openstack.compute.Instance(
            "h",
            name="host-1",
            flavor_name="f",
            image_name="i",
            networks=[openstack.compute.InstanceNetworkArgs(port=public.id, access_network=True)],
            opts=opts,
        )
        pulumi.export("public", public.all_fixed_ips)
        pulumi.export("private", private.all_fixed_ips)
        pulumi.export("access", host.access_ip_v4)

    mocks = RecordingMocks(public_address=allocate)
    run_program(stack_file("staging"), mocks=mocks, program=program)
    out = mocks.stack_outputs
    assert calls == [("host-1", 0)]
    assert out["public"][-1] == "198.18.7.9" and ":" in out["public"][0]
    assert out["access"] == "198.18.7.9"
    assert out["private"][0].startswith("10.1.0.")
