"""The database tier under mocks, beyond the shipped stacks (tests/components/test_components.py): rotation of the
generated secrets in generations (``database.rotation``), what is refused at preview because Nova would refuse it at
``pulumi up`` (the hosts' user data and metadata budgets), and ``database.synchronous``."""

from __future__ import annotations

import pytest

from resilient_stack.components.stack_config import StackConfigError, load_stack_file
from resilient_stack.core.vocabulary import ROLE_KEY
from resilient_stack.hosts import cloudinit, secrets
from resilient_stack.testing.mockrun import RecordingMocks, run_program

from .conftest import INSTANCE, RANDOM_PASSWORD, bare_config, sealed_document, stack_file, user_data_file

DBTIER = "resilient-stack:database:DatabaseTier"
VOLUME = "openstack:blockstorage/volume:Volume"


def database(**changes) -> dict:
    """production's ``resilient-stack:database`` with ``changes``, as a config override."""
    return {"resilient-stack:database": {**bare_config("production").get("database", {}), **changes}}


def result(res, name: str) -> str:
    (p,) = [r for r in res if r.type == RANDOM_PASSWORD and r.name == name]
    assert p.options.get("protect") is True and "result" in p.secret_outputs, name
    return p.outputs["result"]


def hosts(res, role: str) -> list:
    return [r for r in res if r.type == INSTANCE and r.inputs["metadata"][ROLE_KEY] == role]


def outputs(res) -> dict:
    return next(r for r in res if r.type == "pulumi:pulumi:Stack").outputs


# --------------------------------------------------------------------------------------------------
# rotation: generations beside the earlier ones, delivered sealed, no host replaced
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rotated_app():
    return run_program(stack_file("production"), config_overrides=database(rotation={"app": 1}))


def test_rotating_the_app_password_adds_a_generation_beside_the_first_both_protected(runs, rotated_app):
    names = {r.name for r in rotated_app if r.type == RANDOM_PASSWORD}
    assert {"shop-db-app-password", "shop-db-app-password-1"} <= names
    assert "shop-db-app-password-2" not in names
    first, second = result(rotated_app, "shop-db-app-password"), result(rotated_app, "shop-db-app-password-1")
    assert first != second
    # the first generation is the one the stack already has: same resource, same value (no replacement)
    assert first == result(runs["production"], "shop-db-app-password")
    before = {r.name for r in runs["production"] if r.type == RANDOM_PASSWORD}
    # the release phase's password rotates with the application's (its role has one name: migrations only run at a
    # release, after the members took the new password)
    assert names - before == {"shop-db-app-password-1", "shop-db-migrate-password-1"}


def test_after_an_app_rotation_the_web_hosts_try_the_new_credential_first(rotated_app):
    first, second = result(rotated_app, "shop-db-app-password"), result(rotated_app, "shop-db-app-password-1")
    webs = hosts(rotated_app, "web")
    assert len(webs) == 5
    for web in webs:
        # the new password goes to the other login role; the previous one stays valid a while
        assert sealed_document(rotated_app, web)["app"]["credentials"] == [
            {"user": "shop_alt", "password": second},
            {"user": "shop", "password": first},
        ], web.name
    # the members check both, the new one current, as SCRAM verifiers only
    for member in hosts(rotated_app, "database"):
        roles = sealed_document(rotated_app, member)["roles"]
        assert set(roles) == {"shop", "shop_alt", "shop_migrate"}
        assert roles["shop_alt"]["current"] and not roles["shop"]["current"]
        assert secrets.scram_matches(
            roles["shop_migrate"]["verifier"], result(rotated_app, "shop-db-migrate-password-1")
        )
        assert secrets.scram_matches(roles["shop_alt"]["verifier"], second)
        assert secrets.scram_matches(roles["shop"]["verifier"], first)
        assert first not in str(roles) and second not in str(roles)
    # the users' own applications: the current login role
    assert outputs(rotated_app)["databaseUrl"].startswith("postgresql://shop_alt@")


def test_a_rotation_replaces_no_host_and_changes_no_host_key(runs, rotated_app):
    """The new secrets reach the running hosts through their metadata (updated in place); user data is ignored on a
    running host (ignoreChanges) and the host keys stay."""
    before = {r.name: r for r in runs["production"] if r.type == INSTANCE}
    for host in [r for r in rotated_app if r.type == INSTANCE]:
        assert host.options == before[host.name].options and "userData" in host.options["ignoreChanges"]
        assert result(rotated_app, f"{host.name}-host-key") == result(runs["production"], f"{host.name}-host-key")
        # every host's sealed document changed (the web hosts' credentials, the members' role verifiers): in place;
        # a monitoring host's holds only the alerts' receivers, which no rotation touches
        changed = secrets.joined(host.inputs["metadata"]) != secrets.joined(before[host.name].inputs["metadata"])
        assert changed != host.inputs["name"].endswith("-mon"), host.name
        assert {k for k in host.inputs["metadata"]} == {k for k in before[host.name].inputs["metadata"]}, (
            "the same metadata items: the slots were reserved for two generations"
        )


def test_rotating_the_backup_passphrase_starts_a_new_repository_path_and_keeps_the_earlier_one():
    res = run_program(stack_file("production"), config_overrides=database(rotation={"backupPassphrase": 1}))
    first = result(res, "shop-db-backup-cipher-password")  # the first generation keeps its original name
    second = result(res, "shop-db-backup-cipher-password-1")
    members = hosts(res, "database")
    assert len(members) == 3
    for member in members:
        backup = sealed_document(res, member)["backup"]
        assert backup["path"] == "/pgbackrest-g1" and backup["cipher_pass"] == second, member.name
        assert "repo1-path" not in user_data_file(member, cloudinit.PGBACKREST_CONF)
    # every passphrase with its repository: a restore from an earlier backup needs the earlier one
    stack = next(r for r in res if r.type == "pulumi:pulumi:Stack")
    assert "backupRepositories" in stack.secret_outputs
    assert stack.outputs["backupRepositories"] == [
        {"generation": 0, "path": "/pgbackrest", "passphrase": first},
        {"generation": 1, "path": "/pgbackrest-g1", "passphrase": second},
    ]


def test_rotating_the_cluster_passwords_delivers_the_new_generations_to_every_member(runs):
    generations = {"replication": 1, "rewind": 2, "api": 1}
    res = run_program(
        stack_file("staging"),
        config_overrides={
            "resilient-stack:database": {
                **bare_config("staging").get("database", {}),
                "rotation": {**generations, "certificates": 1},
            }
        },
    )
    # the certificates' generation is the CA resource's input (a manual renewal: tests/components/test_pki.py)
    (ca,) = [r for r in res if r.type == "pulumi-python:dynamic/resilient-stack:ClusterPki"]
    assert ca.inputs["generation"] == 1 and not [r for r in res if "certificates" in r.name]
    for kind, current in generations.items():
        values = [result(res, f"rs-staging-db-{kind}-password" + (f"-{g}" if g else "")) for g in range(current + 1)]
        assert len(set(values)) == current + 1
        assert values[0] == result(runs["staging"], f"rs-staging-db-{kind}-password"), "the first stays as it was"
        for member in hosts(res, "database"):
            assert sealed_document(res, member)["passwords"][kind] == values[-1], (kind, member.name)
    # the etcd password is not rotated (docs/operations.md): one generation, the same
    assert not [r for r in res if r.type == RANDOM_PASSWORD and r.name.startswith("rs-staging-db-etcd-password-")]
    etcd = result(res, "rs-staging-db-etcd-password")
    assert etcd == result(runs["staging"], "rs-staging-db-etcd-password")
    assert {sealed_document(res, m)["passwords"]["etcd"] for m in hosts(res, "database")} == {etcd}


@pytest.mark.parametrize(
    "rotation, match",
    [
        ({"app": -1}, "rotation.app"),
        ({"app": 1001}, "rotation.app"),
        ({"etcd": 1}, "rotation.etcd"),
        ({"app": "one"}, "rotation.app"),
    ],
)
def test_bad_rotation_settings_are_refused_in_one_line(rotation, match):
    mocks = RecordingMocks()
    with pytest.raises(StackConfigError, match=match) as err:
        run_program(stack_file("production"), mocks=mocks, config_overrides=database(rotation=rotation))
    assert "\n" not in str(err.value)
    assert [r.type for r in mocks.resources] == ["pulumi:pulumi:Stack"]


# --------------------------------------------------------------------------------------------------
# budgets: what Nova would refuse at `pulumi up`, refused at preview, naming the host
# --------------------------------------------------------------------------------------------------


def test_many_app_networks_are_refused_at_preview_naming_the_host():
    cidrs = [f"10.{i // 256}.{i % 256}.0/24" for i in range(400)]
    mocks = RecordingMocks()
    with pytest.raises(ValueError) as err:
        run_program(stack_file("production"), mocks=mocks, config_overrides=database(appCidrs=cidrs))
    message = str(err.value)
    assert "\n" not in message and "the metadata of shop-gra-db" in message and "fewer web hosts or networks" in message
    assert not [r for r in mocks.resources if r.type in (INSTANCE, VOLUME)], "refused before any host or volume"


def _tier_program(*, clients: int = 0, cidrs: int = 0, keys: list[str] | None = None):
    """A database tier alone (three sites, backups in a fourth) with ``clients`` web hosts and ``cidrs`` networks."""
    import pulumi
    import pulumi_openstack as openstack

    from resilient_stack.components import database as db

    def program():
        regions = ("GRA11", "WAW1", "UK1")
        providers = {r: openstack.Provider(r.lower(), region=r, cloud="ovh") for r in (*regions, "DE1")}
        ports, nets = {}, {}
        for r in regions:
            on = pulumi.ResourceOptions(provider=providers[r])
            nets[r] = openstack.networking.Network(f"t-{r.lower()}-net", opts=on)
            subnet = openstack.networking.Subnet(
                f"t-{r.lower()}-subnet", network_id=nets[r].id, cidr="10.0.0.0/24", opts=on
            )
            ports[r] = openstack.networking.Port(
                f"t-{r.lower()}-db-public",
                network_id=nets[r].id,
                opts=pulumi.ResourceOptions(provider=providers[r], depends_on=[subnet]),
            )
        members = [
            db.DatabaseMember(
                placement=r[:3].lower(),
                role="primary" if r == "GRA11" else "replica",
                provider=providers[r],
                where=db.Where(region=r, cloud="ovh"),
                flavor="b3-8",
                image="Debian 12",
                public_port_id=ports[r].id,
                public_address=f"192.0.2.{10 + i}",
                network_id=nets[r].id,
                security_group_names=["db"],
                database_security_group_id="sg",
            )
            for i, r in enumerate(regions)
        ]
        backup = db.BackupStore(
            name="bk",
            provider=providers["DE1"],
            where=db.Where(region="DE1", cloud="ovh"),
            container="t-pgbackrest",
            s3_endpoint="s3.de.cloud.ovh.net",
            s3_region="de",
        )
        keys_ = db.BackupKeys(access_key=pulumi.Output.secret("k"), secret_key=pulumi.Output.secret("s"))
        app_clients = [
            db.AppClient(name=f"t-web-{i}", address=f"198.18.{i // 250}.{1 + i % 250}") for i in range(clients)
        ]
        db.DatabaseTier(
            "t-db",
            db.DatabaseTierArgs(
                members=members,
                backup=backup,
                prefix="t",
                backup_keys=keys_,
                app_clients=app_clients,
                app_cidrs=[f"10.{i // 256}.{i % 256}.0/24" for i in range(cidrs)],
                ssh_public_keys=keys or (),
            ),
        )

    return program


def test_a_tier_within_its_budgets_is_built():
    res = run_program(stack_file("staging"), program=_tier_program(clients=150, cidrs=20))
    assert len([r for r in res if r.type == INSTANCE]) == 3


@pytest.mark.parametrize("changes", [{"clients": 450}, {"cidrs": 400}, {"clients": 200, "cidrs": 200}])
def test_many_web_hosts_or_networks_are_refused_before_any_host(changes):
    mocks = RecordingMocks()
    with pytest.raises(ValueError) as err:
        run_program(stack_file("staging"), mocks=mocks, program=_tier_program(**changes))
    message = str(err.value)
    assert "\n" not in message and message.startswith("the metadata of t-gra-db: ") and "fewer web hosts" in message
    assert not [r for r in mocks.resources if r.type in (INSTANCE, VOLUME)]


def test_user_data_over_novas_limit_once_packed_is_refused_naming_the_host():
    import base64
    import hashlib

    def key(i: int) -> str:  # incompressible: what gzip cannot shrink
        blob = b"".join(hashlib.sha512(f"{i}/{j}".encode()).digest() for j in range(8))
        return "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAACAQ" + base64.b64encode(blob).decode() + f" k{i}@example"

    mocks = RecordingMocks()
    with pytest.raises(ValueError) as err:
        run_program(stack_file("staging"), mocks=mocks, program=_tier_program(keys=[key(i) for i in range(120)]))
    message = str(err.value)
    assert "\n" not in message and message.startswith("the user data of t-gra-db is ")
    assert "over Nova's limit of 65535" in message
    assert not [r for r in mocks.resources if r.type in (INSTANCE, VOLUME)]


# --------------------------------------------------------------------------------------------------
# synchronous replication
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["production", "staging"])
def test_synchronous_mode_reaches_patronis_dynamic_configuration(runs, stack):
    synchronous = load_stack_file(stack_file(stack)).database.synchronous
    assert synchronous is (stack == "production"), "on in the production template (issue 22), off by default"
    members = hosts(runs[stack], "database")
    assert len(members) == 3
    for member in members:
        dcs = cloudinit.runtime_document_of(member.inputs["metadata"])["dcs"]
        assert dcs["synchronous_mode"] is synchronous and dcs["synchronous_node_count"] == 1, member.name
        assert dcs["synchronous_mode_strict"] is False, "with no standby left the primary goes on (and says so)"


def _five_members(synchronous: bool) -> dict:
    """production plus two database-only members: GRA9 (the Gravelines campus again, beside GRA11) and UK1. Two of
    five on one site keep the rules' site majority, so only synchronous mode can refuse it."""
    config = load_stack_file(stack_file("production")).model_dump(by_alias=True, exclude_none=True)
    placements = list(config["placements"])
    extra = {
        k: v for k, v in placements[0].items() if k not in ("webCount", "databaseRole", "name", "region", "privateCidr")
    }
    placements += [
        {
            **extra,
            "name": "gra9",
            "region": "GRA9",
            "webCount": 0,
            "databaseRole": "replica",
            "privateCidr": "10.10.4.0/24",
        },
        {
            **extra,
            "name": "uk",
            "region": "UK1",
            "webCount": 0,
            "databaseRole": "replica",
            "privateCidr": "10.10.5.0/24",
        },
    ]
    return {"resilient-stack:placements": placements, **database(synchronous=synchronous)}


def test_synchronous_mode_refuses_two_members_on_one_site():
    res = run_program(stack_file("production"), config_overrides=_five_members(False))
    assert len(hosts(res, "database")) == 5, "asynchronous, the design passes the rules"
    mocks = RecordingMocks()
    with pytest.raises(ValueError) as err:
        run_program(stack_file("production"), mocks=mocks, config_overrides=_five_members(True))
    message = str(err.value)
    assert "\n" not in message and message.startswith("synchronous: the database members in gra and gra9 share a site")
    assert "ovh-gravelines" in message
    assert not [r for r in mocks.resources if r.type in (INSTANCE, DBTIER)]
