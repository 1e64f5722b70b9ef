"""A routine change of a deployed stack replaces no host and no volume (issue 17, point 1), with the real engine.

The state: the shipped production stack as THIS code deploys it (:mod:`.deployed_state`: the engine's own preview
for the provider defaults, the mock runner for consistent ids, addresses and passwords, every output property of
the provider schemas), imported with `pulumi stack import`. The first test proves it realistic: the unchanged
program previews against it with no change at all. Then each routine change is previewed (`pulumi preview --json`)
and no database instance, data volume or attachment -- no host at all -- is replaced; what changes on a running
database host is its metadata (the runtime configuration), in place. Finally the explicit replacement of one host
(`--replace URN`) replaces that host and its attachment only, keeps its volume, and takes the current image.

The external networks' IDs are set in the stack (as docs/configuration.md says for an offline preview of a
deployed stack): otherwise the preview would look them up in the cloud.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import pytest

from resilient_stack.components.stack_config import read_stack_file
from resilient_stack.testing.mockrun import run_program
from tests.integration.engine.conftest import PASSPHRASE, Pulumi, project_copy
from tests.integration.engine.deployed_state import deployed_state, with_computed_outputs

pytestmark = pytest.mark.engine

STACK = "production"
NS = "resilient-stack:"
DB_HOSTS = {"shop-db-gra", "shop-db-waw", "shop-db-ik"}  # the DatabaseTier's instances (resource names)
REPLACING = {"replace", "create-replacement", "delete-replaced", "delete", "discard", "import-replacement"}
EXTERNAL = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"resilient-stack/test/ext-net/{i}")) for i in range(3)]


@pytest.fixture(scope="module")
def deployed(engine_env, tmp_path_factory):
    """A stack backend holding the deployed production stack; ``(run, stack_file_text)``."""
    base = tmp_path_factory.mktemp("routine")
    (base / "state").mkdir()
    pulumi = Pulumi(engine_env, base / "state")
    project = project_copy(base / "resilient-stack")

    def run(*args: str, timeout: int = 300):
        return pulumi(*args, "--stack", STACK, "--color", "never", cwd=project, timeout=timeout)

    pulumi.ok("stack", "init", STACK, "--no-select", cwd=project)
    for i, net in enumerate(EXTERNAL):
        assert run("config", "set", "--path", f"{NS}placements[{i}].externalNetworkId", net).returncode == 0
    preview = run("preview", "--json")
    assert preview.returncode == 0, preview.stderr[-3000:]
    config, _ = read_stack_file(project / "stacks" / f"Pulumi.{STACK}.yaml")
    recorded = run_program(
        project / "stacks" / f"Pulumi.{STACK}.yaml", config_overrides={f"{NS}placements": config[f"{NS}placements"]}
    )
    schemas = {}
    for pkg in ("openstack", "random"):
        r = pulumi("package", "get-schema", pkg, cwd=project)
        assert r.returncode == 0, r.stderr[-2000:]
        schemas[pkg] = json.loads(r.stdout)
    state = with_computed_outputs(deployed_state(recorded, json.loads(preview.stdout)["steps"]), schemas)
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    salt = re.search(r"encryptionsalt: (\S+)", stack_file.read_text()).group(1)
    state["deployment"]["secrets_providers"] = {"type": "passphrase", "state": {"salt": salt}}
    manifest = state["deployment"]["manifest"]
    manifest["magic"] = hashlib.sha256(manifest["version"].encode()).hexdigest()  # the engine's integrity check
    (base / "state.json").write_text(json.dumps(state))
    imported = run("stack", "import", "--file", str(base / "state.json"))
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert PASSPHRASE  # the engine tests' passphrase encrypts the imported secrets
    return run, stack_file, stack_file.read_text()


def preview_of(deployed, *config: tuple[str, str], extra: tuple[str, ...] = ()) -> tuple[dict[str, set[str]], list]:
    """``{op: {resource names}}`` of a preview after setting ``config`` (the stack file is restored afterwards), and
    its steps. The JSON lists the resources that change (and the stack itself), plus the summary's counts."""
    run, stack_file, text = deployed
    try:
        for key, value in config:
            r = run("config", "set", "--path", key, value)
            assert r.returncode == 0, r.stderr
        r = run("preview", "--json", *extra)
        assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
        preview = json.loads(r.stdout)
        steps = preview["steps"]
    finally:
        stack_file.write_text(text)
    ops: dict[str, set[str]] = {}
    for s in steps:
        ops.setdefault(s["op"], set()).add(s["urn"].rsplit("::", 1)[1])
    changed = sum(n for op, n in preview["changeSummary"].items() if op != "same")
    assert changed == sum(len(v) for k, v in ops.items() if k != "same"), preview["changeSummary"]
    return ops, steps


def test_the_state_is_what_the_engine_deployed(deployed):
    run, _, _ = deployed
    r = run("preview", "--expect-no-changes", "--diff")
    assert r.returncode == 0, (r.stdout[-5000:], r.stderr[-3000:])
    assert (
        "167 unchanged" in r.stdout
    )  # production: 167 resources, the stack, the 2 monitoring hosts and their DNS rules included (SSH closed: no SSH rule)


# What each change touches on a running stack: the boot configuration (the image name: the hosts keep theirs)
# nothing at all; the runtime configuration (SSH keys, the title, a release of the application, the database's
# settings) the hosts' metadata, in place.
CHANGES = {
    "adminCidrs": [(f"{NS}adminCidrs[0]", "198.18.7.0/24")],  # the shipped stack's list is empty: SSH opened
    "web title": [(f"{NS}web.title", "Shop (new title)")],
    "database setting": [(f"{NS}database.appCidrs[0]", "203.0.113.0/24")],
    "renamed image": [(f"{NS}placements[{i}].image", "Debian 12 (2026-12-01)") for i in range(3)],
    "ssh key": [
        (f"{NS}sshPublicKey", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINewKeyNewKeyNewKeyNewKeyNewKeyNewKeyNew x@y")
    ],
    "one more web host": [(f"{NS}placements[1].webCount", "3")],
    "a release": [(f"{NS}web.app.image", "registry.example.com/shop/web:1.1.0")],
}


BOOT_ONLY = {"renamed image"}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_routine_change_replaces_no_host_and_no_volume(deployed, change):
    ops, steps = preview_of(deployed, *CHANGES[change])
    assert not set(ops) & REPLACING, {op: sorted(ops[op]) for op in set(ops) & REPLACING}
    touched = set().union(*(v for k, v in ops.items() if k != "same"))
    assert not {n for n in touched if n.endswith(("-data", "-data-attach"))}, "volumes and attachments untouched"
    if change in BOOT_ONLY:
        assert touched <= {"resilient-stack-production"}, sorted(touched)  # only the stack's outputs, if anything
    else:
        assert touched, "the change is seen"  # the same harness sees a change when there is one
    # every host the change reaches (database and web instances) is updated in place, its metadata only
    for step in steps:
        if "openstack:compute/instance:Instance::" in step["urn"] and step["op"] not in ("same", "create"):
            host = step["urn"].rsplit("::", 1)[1]
            assert step["op"] == "update" and step.get("diffReasons") == ["metadata"], (
                host,
                step["op"],
                step.get("diffReasons"),
            )


def test_a_change_the_hosts_pg_hba_needs_reaches_them_in_place(deployed):
    ops, steps = preview_of(deployed, *CHANGES["database setting"])
    assert DB_HOSTS <= ops["update"]
    ops, _ = preview_of(deployed, *CHANGES["one more web host"])
    assert DB_HOSTS <= ops["update"] and "shop-waw-web-3" in ops["create"]


def test_a_change_that_would_replace_the_database_hosts_is_refused_until_one_is_unprotected(deployed):
    """An input that forces a new instance (here: an availability zone on every placement) would replace the
    hosts of every site in one `pulumi up`: the database hosts are protected, so the preview fails and names them."""
    run, stack_file, text = deployed
    try:
        for i in range(3):
            assert run("config", "set", "--path", f"{NS}placements[{i}].availabilityZone", "zone-b").returncode == 0
        r = run("preview", "--diff")
    finally:
        stack_file.write_text(text)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-4000:]
    assert "marked for protection" in out and any(f"::{h}" in out for h in DB_HOSTS), out[-3000:]


def test_replacing_a_host_is_explicit_takes_the_current_image_and_keeps_its_volume(deployed):
    run, _, _ = deployed
    urn = next(
        line
        for line in run("stack", "--show-urns").stdout.split()
        if line.startswith("urn:") and line.endswith("::shop-db-waw")
    )
    # protected: even the explicit --replace is refused until the operator unprotects that one host
    refused = run("preview", "--replace", urn)
    assert refused.returncode != 0 and "marked for protection" in refused.stdout + refused.stderr
    assert run("state", "unprotect", urn, "--yes").returncode == 0
    try:
        ops, steps = preview_of(deployed, *CHANGES["renamed image"], extra=("--replace", urn))
    finally:
        assert run("state", "protect", urn, "--yes").returncode == 0  # the module's other tests share the state
    replaced = set().union(*(v for k, v in ops.items() if k in REPLACING))
    assert replaced == {"shop-db-waw", "shop-db-waw-data-attach"}
    step = next(s for s in steps if s["urn"] == urn)
    assert step["newState"]["inputs"]["imageName"] == "Debian 12 (2026-12-01)"
    assert step["newState"].get("protect") is True  # the new host is protected again
    touched = set().union(*(v for k, v in ops.items() if k != "same"))
    assert "shop-db-waw-data" not in touched
