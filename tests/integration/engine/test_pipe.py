"""`pulumi stack export | resilient-stack audit -` on REAL state made by the engine, offline.

`pulumi up` works offline for pulumi_random (a local provider) but not for OpenStack resources (the
provider fails on DNS). So each stack here is made by a real `pulumi up` of a pulumi_random program (real
manifest, real passphrase secrets provider, a real encrypted RandomPassword); for the OpenStack part its
export gets a corpus design's resources added (tests/integration/engine/corpus.py ``merge_into``), goes back with
`pulumi stack import`, and comes out again with `pulumi stack export`, piped into the auditor. The live
state is also checked by the pack: `pulumi policy analyze --stack`.
"""

from __future__ import annotations

import json

import pytest

from tests import builders as b
from tests.conftest import ROOT
from tests.integration.engine import corpus as c
from tests.integration.engine.conftest import (
    POLICIES,
    by_level,
    plain_project,
    policy_events,
    stream_events,
)

pytestmark = pytest.mark.engine

RS = ROOT / ".venv" / "bin" / "resilient-stack"
PROGRAM = """\
import pulumi
import pulumi_random as random

password = random.RandomPassword("db-password", length=24)
pet = random.RandomPet("name")
pulumi.export("name", pet.id)
pulumi.export("password", password.result)
"""


@pytest.fixture(scope="module")
def project(pulumi, tmp_path_factory):
    prog = plain_project(tmp_path_factory.mktemp("random") / "shop", "shop", PROGRAM)
    for stack in ("random-only", "strasbourg", "spread"):
        pulumi.init(stack, prog)
        r = pulumi.ok("up", "--stack", stack, "--yes", "--skip-preview", cwd=prog)
        assert "3 created" in r.stdout, r.stdout
    return prog


def piped(pulumi, project, stack: str, *args: str):
    """`pulumi stack export --stack STACK | resilient-stack audit - ARGS` in a shell: (export rc, audit rc, out, err)."""
    script = (
        f'pulumi stack export --stack {stack} | "{RS}" audit - {" ".join(args)}; '
        'echo "PIPESTATUS=${PIPESTATUS[0]},${PIPESTATUS[1]}" >&2'
    )
    r = pulumi.shell(script, cwd=project)
    status = [line for line in r.stderr.splitlines() if line.startswith("PIPESTATUS=")][-1]
    export_rc, audit_rc = (int(x) for x in status.removeprefix("PIPESTATUS=").split(","))
    return export_rc, audit_rc, r.stdout, r.stderr


def import_design(pulumi, project, tmp_path, stack: str, design: dict) -> dict:
    real = json.loads(pulumi.ok("stack", "export", "--stack", stack, cwd=project).stdout)
    assert real["deployment"]["secrets_providers"]["type"] == "passphrase"
    merged = c.merge_into(real, design)
    path = tmp_path / f"{stack}.import.json"
    path.write_text(json.dumps(merged))
    pulumi.ok("stack", "import", "--stack", stack, "--file", str(path), cwd=project)
    return merged


def test_a_random_only_stack_has_nothing_to_prove(pulumi, project):
    export_rc, audit_rc, out, err = piped(pulumi, project, "random-only")
    assert export_rc == 0
    assert audit_rc == 2 and "<stdin>" in err and "no replica to check" in err, err


def test_imported_strasbourg_state_is_rejected_through_the_pipe(pulumi, project, tmp_path):
    import_design(pulumi, project, tmp_path, "strasbourg", b.strasbourg_export().doc())
    export_rc, audit_rc, out, err = piped(pulumi, project, "strasbourg", "--format", "json")
    assert export_rc == 0 and audit_rc == 1, err
    report = json.loads(out)
    blocking = {f["rule"] for f in report["findings"] if f["level"] == "mandatory"}
    assert report["verdict"] == "fail" and blocking == set(c.PLACEMENT_FAIL_2021)
    # the text report names the rule and the campus
    _, rc, text, _ = piped(pulumi, project, "strasbourg")
    assert rc == 1 and "single-site" in text and "Strasbourg" in text
    # the pack on the same live state (no file): the same mandatory rules
    r = pulumi("policy", "analyze", "--stack", "strasbourg", "--policy-pack", POLICIES, "--json", cwd=project)
    assert r.returncode != 0
    assert by_level(policy_events(stream_events(r.stdout)))["mandatory"] == blocking


def test_imported_spread_state_passes_through_the_pipe(pulumi, project, tmp_path):
    merged = import_design(pulumi, project, tmp_path, "spread", b.spread_export().doc())
    export_rc, audit_rc, out, err = piped(pulumi, project, "spread", "--format", "json")
    assert export_rc == 0 and audit_rc == 0, err
    report = json.loads(out)
    assert report["verdict"] == "pass"
    # the real export round-tripped: the engine's RandomPassword secret is still encrypted in what was piped
    exported = json.loads(pulumi.ok("stack", "export", "--stack", "spread", cwd=project).stdout)
    pw = next(
        r for r in exported["deployment"]["resources"] if r["type"] == "random:index/randomPassword:RandomPassword"
    )
    assert c.SECRET_SIG in pw["outputs"]["result"] and "ciphertext" in pw["outputs"]["result"]
    assert len(exported["deployment"]["resources"]) == len(merged["deployment"]["resources"])
