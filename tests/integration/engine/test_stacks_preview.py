"""`pulumi preview --policy-pack policies` of every shipped stack (stacks/), offline, on a fresh local backend,
and `resilient-stack audit` of the same stacks' `pulumi preview --json`: the same verdict.

The project is copied to a temp dir (its stack files get the salt `pulumi stack init` writes), the
providers read a dummy clouds.yaml (tests/integration/engine/conftest.py). What the pack does with hand-made programs
(unknown regions, default providers, security rules) is in tests/integration/engine/test_pack_engine.py; a program
not built with our components is in test_foreign_program.py.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from resilient_stack.testing.mockrun import run_program
from tests.conftest import ROOT
from tests.integration.engine.conftest import (
    POLICIES,
    Pulumi,
    audit,
    by_level,
    downgraded,
    errors,
    policy_events,
    project_copy,
    stream_events,
    summary,
)
from tests.integration.engine.corpus import PLACEMENT_FAIL_2021

pytestmark = pytest.mark.engine

STACKS = ("production", "staging", "sbg2021")
# What the pack and the audit report on the stacks that pass: {level: rule ids}. The database security groups admit
# each peer database host's address (`<accessIpV4>/32`), unknown until that host exists: listed as
# unknown-preview-security-rule (advisory), judged once known (tests/integration/engine/test_corpus.py, exports).
PASSING = {
    "production": {"advisory": {"unknown-preview-security-rule"}},  # the backups in their own project
    # all OVHcloud, and all in one project (the clouds.yaml entry `ovh`), the backups too
    "staging": {"advisory": {"single-provider", "backup-shares-project", "unknown-preview-security-rule"}},
}
UNGUARDED_MAIN = '''\
"""TEST ONLY: the program with its own placement check off, so that the policy pack alone judges the design."""
from resilient_stack.components.stack import program

program(enforce_rules=False)
'''


@dataclass
class Preview:
    stack: str
    streamed_rc: int  # PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true pulumi preview --json --policy-pack policies
    events: list[dict]
    plain_rc: int  # pulumi preview --json (no pack): what `resilient-stack audit` reads
    plan_path: Path
    plan: dict
    stack_file: Path

    @property
    def policy(self) -> list[dict]:
        return policy_events(self.events)


def preview(pulumi: Pulumi, project: Path, stack: str, out: Path) -> Preview:
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
    assert "error: loading policy packs" not in streamed.stderr, streamed.stderr
    plain = pulumi("preview", "--stack", stack, "--json", cwd=project)
    plan_path = out / f"{stack}.preview.json"
    plan_path.write_text(plain.stdout)
    return Preview(
        stack,
        streamed.returncode,
        stream_events(streamed.stdout),
        plain.returncode,
        plan_path,
        json.loads(plain.stdout),
        project / "stacks" / f"Pulumi.{stack}.yaml",
    )


def cached(pulumi: Pulumi, project: Path, out: Path):
    seen: dict[str, Preview] = {}

    def get(stack: str) -> Preview:
        if stack not in seen:
            seen[stack] = preview(pulumi, project, stack, out)
        return seen[stack]

    return get


@pytest.fixture(scope="module")
def shipped(pulumi, tmp_path_factory):
    """Previews of the shipped program, one per stack, made once per module."""
    project = project_copy(tmp_path_factory.mktemp("shipped") / "resilient-stack")
    for stack in STACKS:
        pulumi.init(stack, project)
    return cached(pulumi, project, tmp_path_factory.mktemp("plans"))


@pytest.fixture(scope="module")
def unguarded(engine_env, tmp_path_factory):
    """The sbg2021 replay built by the program with its check off (own backend: same project, same stack name)."""
    pulumi = Pulumi(engine_env, tmp_path_factory.mktemp("pulumi-state-unguarded"))
    project = project_copy(tmp_path_factory.mktemp("unguarded") / "resilient-stack", main=UNGUARDED_MAIN)
    pulumi.init("sbg2021", project)
    return preview(pulumi, project, "sbg2021", tmp_path_factory.mktemp("plans-unguarded"))


def mocked(stack: str, enforce_rules: bool = True) -> collections.Counter:
    """(type, name) of every resource the program registers under mocks."""
    recorded = run_program(ROOT / "stacks" / f"Pulumi.{stack}.yaml", enforce_rules=enforce_rules)
    return collections.Counter((r.type, r.name) for r in recorded)


def planned(plan: dict) -> collections.Counter:
    return collections.Counter((s["newState"]["type"], s["urn"].rsplit("::", 1)[1]) for s in plan["steps"])


@pytest.mark.parametrize("stack", sorted(PASSING))
def test_shipped_stack_previews_clean_with_the_pack_and_its_full_resource_count(shipped, stack):
    p = shipped(stack)
    assert p.streamed_rc == 0 and p.plain_rc == 0, errors(p.events)
    assert not errors(p.events)
    s = summary(p.events)
    assert s["result"] == "succeeded" and any(k.startswith("resilient-stack") for k in s["PolicyPacks"]), s
    expected = mocked(stack)
    # The engine plans exactly what the program registers under mocks: same types, same names, same count.
    # (Not the same URNs: the SDK's MockMonitor.make_urn prefixes only the parent's own type, the root stack's
    # included; the engine prefixes every ancestor's type but the root stack's.)
    assert s["resourceChanges"] == {"create": sum(expected.values())}
    assert planned(p.plan) == expected
    assert not downgraded(p.policy), p.policy
    assert by_level(p.policy) == PASSING[stack]


def test_sbg2021_replay_is_refused_by_the_program_naming_single_site(shipped):
    p = shipped("sbg2021")
    assert p.streamed_rc != 0 and p.plain_rc != 0
    refusal = "\n".join(errors(p.events))
    assert "design rejected by the placement rules" in refusal
    for rule in PLACEMENT_FAIL_2021:
        assert f"[mandatory] {rule}:" in refusal, refusal
    assert "Strasbourg" in refusal
    s = summary(p.events)
    assert s["result"] == "failed" and s["resourceChanges"] == {"create": 1}  # the root stack only: nothing else
    assert [st["newState"]["type"] for st in p.plan["steps"]] == ["pulumi:pulumi:Stack"]


def test_the_pack_alone_blocks_the_2021_replay_when_the_program_does_not(unguarded):
    """Defence in depth: with the program's own check off, the policy pack stops the same design."""
    p = unguarded
    assert p.streamed_rc == 1 and p.plain_rc == 0  # the plain preview (no pack) plans it all
    assert not [m for m in errors(p.events) if "design rejected" in m]
    assert planned(p.plan) == mocked("sbg2021", enforce_rules=False)
    levels = by_level(p.policy)
    assert levels.get("mandatory") == set(PLACEMENT_FAIL_2021), levels
    # every violation of a rule that fails is reported mandatory, never downgraded
    for e in p.policy:
        if e["policyName"] in PLACEMENT_FAIL_2021:
            assert e["enforcementLevel"] == "mandatory", e
    assert not downgraded(p.policy)
    assert summary(p.events)["result"] == "failed"


@pytest.mark.parametrize("stack", sorted(PASSING))
def test_audit_of_the_json_preview_agrees_with_the_pack(shipped, stack):
    p = shipped(stack)
    for extra in ((), ("--stack-config", str(p.stack_file))):
        a = audit(p.plan_path, *extra)
        assert a.exit == 0 and a.report["verdict"] == "pass"
        assert a.levels == by_level(p.policy) == PASSING[stack]


def test_audit_of_the_refused_replays_json_preview_does_not_pass(shipped):
    """The refused preview is a failed one (an error diagnostic, only the root stack planned): the audit
    refuses to judge a partial plan (exit 2) and names the program's refusal."""
    p = shipped("sbg2021")
    a = audit(p.plan_path, "--stack-config", str(p.stack_file))
    assert a.exit == 2 and "preview failed" in a.stderr and "single-site" in a.stderr, a.stderr


def test_audit_of_the_unguarded_replays_json_preview_agrees_with_the_pack(unguarded):
    p = unguarded
    a = audit(p.plan_path, "--stack-config", str(p.stack_file))
    assert a.exit == 1
    assert a.blocking == by_level(p.policy)["mandatory"] == set(PLACEMENT_FAIL_2021)
    assert a.levels == by_level(p.policy)
