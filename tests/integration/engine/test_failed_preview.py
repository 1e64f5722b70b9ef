"""A preview whose program FAILS half way still prints a well-formed `pulumi preview --json` (exit 1): the
steps planned before the failure, plus an ``error`` diagnostic. Seen with the engine (v3.274.1).

The auditor must not read such a plan as the whole stack: what the program would have created after the
failure is missing, so a "pass" proves nothing. resilient_stack.audit.inputs refuses a preview with an error
diagnostic (exit 2).
"""

from __future__ import annotations

import json

import pytest

from tests.integration.engine.conftest import audit, plain_project

pytestmark = pytest.mark.engine

PROGRAM = """\
import pulumi
import pulumi_openstack as openstack

for region in ("GRA11", "WAW1"):
    p = openstack.Provider(region.lower(), region=region, auth_url="https://auth.cloud.ovh.net/v3")
    openstack.compute.Instance(f"web-{region.lower()}", flavor_name="b3-8", image_name="Debian 12",
                               metadata={"resilient-stack:role": "web"}, opts=pulumi.ResourceOptions(provider=p))
raise RuntimeError("the program failed before creating the database (e.g. all of it on one site)")
"""


@pytest.fixture(scope="module")
def failed_plan(pulumi, tmp_path_factory):
    prog = plain_project(tmp_path_factory.mktemp("failing") / "shop", "shop", PROGRAM)
    pulumi.init("dev", prog)
    r = pulumi("preview", "--stack", "dev", "--json", cwd=prog)
    path = prog / "plan.json"
    path.write_text(r.stdout)
    return r.returncode, json.loads(r.stdout), path


def test_the_engine_prints_a_partial_plan_for_a_failed_program(failed_plan):
    rc, plan, _ = failed_plan
    assert rc != 0
    assert any(d["severity"] == "error" for d in plan["diagnostics"])
    assert {s["newState"]["type"] for s in plan["steps"]} >= {"openstack:compute/instance:Instance"}


def test_the_audit_refuses_the_plan_of_a_failed_preview(failed_plan):
    _, _, path = failed_plan
    a = audit(path)
    assert a.exit == 2 and "error" in a.stderr
