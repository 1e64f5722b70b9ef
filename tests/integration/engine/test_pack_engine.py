"""The pack under the REAL Pulumi CLI (scripts/install-pulumi-engine.sh): `pulumi policy analyze --file` and
`pulumi preview --policy-pack`, each compared with `resilient-stack audit` on the same resources.

``pulumi`` is tests/integration/engine's fixture: the engine's environment with a temporary PULUMI_HOME, a dummy
clouds.yaml and a throwaway local backend."""

import json
import textwrap
from pathlib import Path

import pytest

from tests import builders as b
from tests.conftest import ROOT
from tests.policies import support as s

pytestmark = pytest.mark.engine
POLICIES = str(ROOT / "policies")


def events(stdout: str) -> list[dict]:
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{") and '"policyEvent"' in line:
            out.append(json.loads(line)["policyEvent"])
    return out


def mandatory(evts: list[dict]) -> set[str]:
    return {e["policyName"] for e in evts if e["enforcementLevel"] == "mandatory"}


def analyze(pulumi, doc: dict, tmp_path: Path, name: str, *extra: str) -> tuple[int, list[dict]]:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    r = pulumi("policy", "analyze", "--file", str(path), "--policy-pack", POLICIES, "--json", *extra)
    assert "error: loading policy packs" not in r.stderr, r.stderr
    return r.returncode, events(r.stdout)


def test_policy_analyze_file_agrees_with_audit(pulumi, tmp_path):
    for doc, verdict in ((b.spread_export().doc(), "pass"), (b.strasbourg_export().doc(), "fail")):
        rc, evts = analyze(pulumi, doc, tmp_path, f"{verdict}.json")
        report = s.audit(doc, tmp_path)
        assert report["verdict"] == verdict
        assert (rc != 0) == (verdict == "fail")
        assert mandatory(evts) == s.audit_blocking(report)
        assert not [e for e in evts if "can't run policy" in e["message"]]


def test_policy_analyze_config_file_strict(pulumi, tmp_path):
    cfg = tmp_path / "pack.json"
    cfg.write_text(json.dumps({"all": "mandatory", "single-site": {"min_sites": 2}}))
    doc = b.strasbourg_export().doc()
    rc, evts = analyze(pulumi, doc, tmp_path, "sbg.json", "--policy-pack-config", str(cfg))
    assert rc != 0 and "single-provider" in mandatory(evts)
    assert mandatory(evts) == s.audit_blocking(s.audit(doc, tmp_path, "--profile", "strict"))


def test_policy_analyze_of_the_production_stack_export(pulumi, tmp_path):
    mockrun = pytest.importorskip("resilient_stack.testing.mockrun")
    doc = mockrun.to_stack_export(mockrun.run_program(ROOT / "stacks" / "Pulumi.production.yaml"))
    # a real `pulumi stack export` names its secrets provider; without it the CLI refuses encrypted secrets
    doc["deployment"].setdefault(
        "secrets_providers",
        {
            "type": "passphrase",
            "state": {"salt": "v1:fozI5u6B030=:v1:F+6ZduKKd8G0/V7L:PGMFeIzwobWRKmEK/wBtQp+Ys8Y4qA=="},
        },
    )
    rc, evts = analyze(pulumi, doc, tmp_path, "production.json")
    report = s.audit(doc, tmp_path)
    assert rc == 0 and report["verdict"] == "pass" and mandatory(evts) == set() == s.audit_blocking(report)
    # decryptable secrets reach the pack in clear: the secrecy probe keeps the database user data quiet
    plain = mockrun.to_stack_export(mockrun.run_program(ROOT / "stacks" / "Pulumi.production.yaml"), show_secrets=True)
    rc, evts = analyze(pulumi, plain, tmp_path, "production-plain.json")
    assert rc == 0 and mandatory(evts) == set(), evts


PROGRAM = """
import pulumi
import pulumi_openstack as openstack

ovh = "https://auth.cloud.ovh.net/v3"
gra = openstack.Provider("gra", region="GRA11", auth_url=ovh)
waw = openstack.Provider("waw", region="WAW1", auth_url=ovh)
web = {"resilient-stack:role": "web"}
on = lambda p: pulumi.ResourceOptions(provider=p)
openstack.compute.Instance("web-gra", flavor_name="b3-8", image_name="Debian 12", metadata=web, opts=on(gra))
openstack.compute.Instance("web-waw", flavor_name="b3-8", image_name="Debian 12", metadata=web, opts=on(waw))
openstack.compute.Instance("web-default", flavor_name="b3-8", image_name="Debian 12", metadata=web)  # openstack:region
net = openstack.networking.Network("net", opts=on(gra))
openstack.compute.Instance("web-derived", flavor_name="b3-8", image_name="Debian 12", metadata=web,
                           region=net.region, opts=on(gra))  # unknown until the network exists
sg = openstack.networking.SecGroup("sg", opts=on(gra))
bastion = openstack.networking.SecGroup("bastion", opts=on(gra))
openstack.networking.SecGroupRule("ssh-from-bastion", direction="ingress", ethertype="IPv4", protocol="tcp",
    port_range_min=22, port_range_max=22, remote_group_id=bastion.id, security_group_id=sg.id, opts=on(gra))
openstack.networking.SecGroupRule("pg-world", direction="ingress", ethertype="IPv4", protocol="tcp",
    port_range_min=5432, port_range_max=5432, remote_ip_prefix="0.0.0.0/0", security_group_id=sg.id, opts=on(gra))
db = {"resilient-stack:role": "database"}
openstack.compute.Instance("db-secret-ud", flavor_name="b3-8", image_name="Debian 12", metadata=db,
    user_data=pulumi.Config().require_secret("userData"), opts=on(waw))
openstack.compute.Instance("db-plain-ud", flavor_name="b3-8", image_name="Debian 12", metadata=db,
    user_data="#!/bin/sh\\nexport PGPASSWORD=hunter2hunter2\\n", opts=on(gra))
"""


def test_preview_with_the_pack_agrees_with_audit_of_the_preview(pulumi, tmp_path):
    prog = tmp_path / "prog"
    prog.mkdir()
    (prog / "Pulumi.yaml").write_text(
        textwrap.dedent(f"""\
        name: packcheck
        runtime:
          name: python
          options:
            virtualenv: {ROOT / ".venv"}
        """)
    )
    (prog / "__main__.py").write_text(PROGRAM)
    r = pulumi("stack", "init", "dev", "--no-select", cwd=prog)
    assert r.returncode == 0, r.stderr
    for args in (
        ("config", "set", "openstack:region", "SBG5"),
        ("config", "set", "openstack:authUrl", "https://auth.cloud.ovh.net/v3"),
        ("config", "set", "--secret", "userData", "#cloud-config\npassword: hunter2hunter2\n"),
    ):
        r = pulumi(*args, "--stack", "dev", cwd=prog)
        assert r.returncode == 0, r.stderr
    r = pulumi(
        "preview",
        "--stack",
        "dev",
        "--json",
        "--policy-pack",
        POLICIES,
        cwd=prog,
        env={"PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true"},
    )
    evts = events(r.stdout)
    assert r.returncode != 0 and evts, (r.stdout[-2000:], r.stderr[-2000:])
    assert not [e for e in evts if "can't run policy" in e["message"]]  # no silent downgrade to advisory
    by_policy = {}
    for e in evts:
        by_policy.setdefault(e["policyName"], set()).add(e["resourceUrn"].rsplit("::", 1)[1])
    assert by_policy["unknown-placement"] == {"web-derived"}  # web-default is placed from openstack:region
    assert by_policy["database-open-to-world"] == {"pg-world"}
    assert "ssh-open-to-world" not in by_policy
    assert by_policy["plaintext-secret-in-user-data"] == {"db-plain-ud"}  # the secret one is not flagged
    # the auditor on the same program's `pulumi preview --json`, default provider from the stack file
    plain = pulumi("preview", "--stack", "dev", "--json", cwd=prog)
    preview = tmp_path / "preview.json"
    preview.write_text(plain.stdout)
    report = s.audit(
        json.loads(plain.stdout), tmp_path, "--stack-config", str(prog / "Pulumi.dev.yaml"), name="preview.json"
    )
    assert (
        mandatory(evts)
        == s.audit_blocking(report)
        == {"unknown-placement", "database-open-to-world", "plaintext-secret-in-user-data"}
    )
