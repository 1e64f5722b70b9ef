"""A program NOT built with resilient-stack's components, judged by the pack at `pulumi preview --policy-pack`.

Plain pulumi_openstack resources: instances and object-storage containers, one of each on an explicit
provider (region SBG5) and one of each on the DEFAULT provider, configured only through stack config
(``openstack:region`` + ``openstack:cloud``). The same program is previewed in two stacks that differ
ONLY in ``openstack:region``:

- ``onesite``: SBG7, the same Strasbourg campus as SBG5: blocked (exit 1), ``single-site`` mandatory;
- ``spread``:  GRA11 (Gravelines): let through (exit 0), only the advisory ``single-provider``.

So the pack reads the default provider's region from stack config (a preview gives the default provider
no step, tests/integration/engine/test_pack_engine.py covers the rest of that program shape), a violated rule is
reported ``mandatory`` in the streaming JSON events and the exit code, never downgraded, and
`resilient-stack audit` of the same `pulumi preview --json` (``--stack-config`` = the stack file) agrees.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.engine.conftest import (
    POLICIES,
    audit,
    by_level,
    downgraded,
    plain_project,
    policy_events,
    stream_events,
    summary,
)

pytestmark = pytest.mark.engine

PROGRAM = """\
import pulumi
import pulumi_openstack as openstack

sbg5 = openstack.Provider("sbg5", region="SBG5", cloud="ovh")
on_sbg5 = pulumi.ResourceOptions(provider=sbg5)
web = {"resilient-stack:role": "web"}
openstack.compute.Instance("web-a", flavor_name="b3-8", image_name="Debian 12", metadata=web, opts=on_sbg5)
openstack.compute.Instance("web-b", flavor_name="b3-8", image_name="Debian 12", metadata=web)  # default provider
openstack.objectstorage.Container("assets-a", opts=on_sbg5)   # role inferred: object-storage
openstack.objectstorage.Container("assets-b")                 # default provider
"""
STACKS = {"onesite": "SBG7", "spread": "GRA11"}
VIOLATED = {"single-site"}  # SBG5 + SBG7: two buildings, one site


@pytest.fixture(scope="module")
def project(pulumi, tmp_path_factory):
    prog = plain_project(tmp_path_factory.mktemp("foreign") / "shop", "shop", PROGRAM)
    for stack, region in STACKS.items():
        pulumi.init(stack, prog, {"openstack:region": region, "openstack:cloud": "ovh"})
    return prog


@pytest.fixture(scope="module")
def runs(pulumi, project, tmp_path_factory):
    out = tmp_path_factory.mktemp("foreign-plans")
    done = {}
    for stack in STACKS:
        streamed = pulumi(
            "preview",
            "--stack",
            stack,
            "--json",
            "--policy-pack",
            POLICIES,
            cwd=project,
            env={"PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true"},
        )
        plain = pulumi("preview", "--stack", stack, "--json", cwd=project)
        assert plain.returncode == 0, plain.stderr[-2000:]
        path = out / f"{stack}.json"
        path.write_text(plain.stdout)
        done[stack] = (streamed.returncode, stream_events(streamed.stdout), path)
    return done


def test_blocked_when_every_replica_sits_on_one_site(runs):
    rc, events, _ = runs["onesite"]
    pev = policy_events(events)
    assert rc == 1, pev
    assert summary(events)["result"] == "failed"
    assert by_level(pev) == {"mandatory": VIOLATED, "advisory": {"single-provider"}}
    roles = {e["message"].split("`")[1] for e in pev if e["policyName"] == "single-site"}
    assert roles == {"web", "object-storage"}  # the default-provider replicas were placed in SBG7
    assert all(e["resourceUrn"].endswith("::shop-onesite") for e in pev)  # stack-level findings


def test_let_through_when_spread(runs):
    rc, events, _ = runs["spread"]
    pev = policy_events(events)
    assert rc == 0 and summary(events)["result"] == "succeeded"
    assert by_level(pev) == {"advisory": {"single-provider"}}


def test_a_violated_rule_is_mandatory_in_events_and_exit_code_never_downgraded(runs):
    rc, events, _ = runs["onesite"]
    pev = policy_events(events)
    violated = [e for e in pev if e["policyName"] in VIOLATED]
    assert violated and all(e["enforcementLevel"] == "mandatory" for e in violated)
    assert not downgraded(pev)  # no "can't run policy ... during preview" (reported advisory, exit 0)
    assert rc != 0


def test_an_explicit_downgrade_is_visible_not_silent(pulumi, project, tmp_path):
    """The only way to let the one-site stack through is to say so in a pack config: the events then say advisory."""
    cfg = tmp_path / "pack-config.json"
    cfg.write_text(json.dumps({"single-site": "advisory"}))
    r = pulumi(
        "preview",
        "--stack",
        "onesite",
        "--json",
        "--policy-pack",
        POLICIES,
        "--policy-pack-config",
        str(cfg),
        cwd=project,
        env={"PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true"},
    )
    pev = policy_events(stream_events(r.stdout))
    assert r.returncode == 0
    assert by_level(pev) == {"advisory": {"single-site", "single-provider"}}


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_audit_of_the_json_preview_agrees_with_the_pack(runs, project, stack):
    rc, events, plan = runs[stack]
    a = audit(plan, "--stack-config", str(project / f"Pulumi.{stack}.yaml"))
    assert a.exit == (1 if rc else 0)
    assert a.levels == by_level(policy_events(events))


def test_audit_without_the_stack_file_fails_closed_on_the_default_provider(runs):
    """A preview gives the default provider no step: without --stack-config its region is unknown."""
    _, _, plan = runs["spread"]
    a = audit(plan)
    assert a.exit == 1 and "unknown-placement" in a.blocking
    assert any(
        "--stack-config" in f["message"] or "stack config" in f["message"]
        for f in a.report["findings"]
        if f["rule"] == "unknown-placement"
    ), a.report["findings"]
