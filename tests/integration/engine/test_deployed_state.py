"""A stack deployed before a change previews with no change after it.

``fixtures/production-state-7af5db8.json`` is the `pulumi stack export` of the shipped production stack as
deployed by the code of commit 7af5db8 (the last one before the package was reorganised into layers) with
the real engine against the local OpenStack clouds (scripts/local-openstack, docs/local-openstack.md): real
resource ids and addresses, its secrets encrypted with ``PASSPHRASE`` (``secrets_providers`` included).
Only each resource's ``sourcePosition``/``stackTrace`` were removed: they name files of the machine that
deployed it, and the engine never compares them.

The state is imported into a throwaway backend and the CURRENT code previews it with the dummy clouds.yaml
of the engine tests: a preview diffs the program's inputs against the state's, it contacts no cloud. The
second test makes sure the same harness sees a change when there is one (and that a routine one replaces
no database host).

To make a new fixture (e.g. after a deliberate change of what the stack deploys): deploy the stack with the
code to compare against on the local clouds (`local_openstack.py up`, then `ip netns exec rsos-local pulumi up`),
`pulumi stack export`, strip sourcePosition/stackTrace.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.engine.conftest import Pulumi, project_copy

pytestmark = pytest.mark.engine

FIXTURE = Path(__file__).parent / "fixtures" / "production-state-7af5db8.json"
PASSPHRASE = "resilient-stack-fixture-7af5db8"  # a test constant: the fixture's secrets are encrypted with it
STACK = "production"


@pytest.fixture
def imported(engine_env, tmp_path):
    """The fixture imported into a backend of its own; ``imported(ARGS)`` runs `pulumi ARGS` on that stack."""
    env = {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    (tmp_path / "state").mkdir()
    pulumi = Pulumi(engine_env, tmp_path / "state")
    project = project_copy(tmp_path / "resilient-stack")
    pulumi.ok("stack", "init", STACK, "--no-select", cwd=project, env=env)
    pulumi.ok("stack", "import", "--stack", STACK, "--file", str(FIXTURE), cwd=project, env=env)
    return lambda *args: pulumi(*args, "--stack", STACK, "--color", "never", cwd=project, env=env)


def test_the_fixture_is_a_real_deployment():
    state = json.loads(FIXTURE.read_text())["deployment"]
    assert state["secrets_providers"]["type"] == "passphrase"
    custom = [r for r in state["resources"] if r["custom"] and not r["type"].startswith("pulumi:providers:")]
    assert len(custom) == 63 and all(r.get("id") for r in custom)
    servers = [r for r in custom if r["type"] == "openstack:compute/instance:Instance"]
    assert len(servers) == 8 and all(r["outputs"]["accessIpV4"] for r in servers)


def test_the_current_code_previews_a_stack_deployed_by_7af5db8_with_no_change(imported):
    r = imported("preview", "--expect-no-changes", "--diff")
    assert r.returncode == 0, (r.stdout[-5000:], r.stderr[-3000:])
    assert "73 unchanged" in r.stdout


def test_the_same_harness_sees_a_routine_change_and_it_replaces_no_database_host(imported):
    assert imported("config", "set", "--path", "resilient-stack:web.title", "Shop (new title)").returncode == 0
    r = imported("preview", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    steps = json.loads(r.stdout)["steps"]
    replaced = {s["urn"].rsplit("::", 1)[1] for s in steps if s["op"] in ("replace", "create-replacement")}
    assert replaced == {"shop-gra-web-1", "shop-gra-web-2", "shop-waw-web-1", "shop-waw-web-2", "shop-ik-web-1"}
    assert not [s for s in steps if s["op"] not in ("same", "replace", "create-replacement", "delete-replaced")]
