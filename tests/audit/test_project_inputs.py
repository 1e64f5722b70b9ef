"""backup-shares-project on every input kind, through the real CLI: a design file, a stack export and a preview
(with and without the stack's config for its default provider), and the policy pack on the same export.

The same placements three ways: the backups in the members' project (a finding), in a project of their own (none),
and in a project the input does not tell (a finding that says so: never a silent pass).
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests import builders as b
from tests.policies.support import run_in_process

RULE = "backup-shares-project"


def design(backup_cloud: str | None, member_cloud: str | None = "ovh") -> dict:
    where = {"cloud": member_cloud} if member_cloud else {"auth_url": b.OVH_AUTH}
    return {
        "name": "shop",
        "quorum_roles": ["database"],
        "placements": [
            {"name": "gra", "region": "GRA11", "replicas": {"web": 1, "database": 1}, **where},
            {"name": "waw", "region": "WAW1", "replicas": {"web": 1, "database": 1}, **where},
            {"name": "ik", "region": "dc4-a", "auth_url": b.INFOMANIAK_AUTH, "replicas": {"web": 1, "database": 1}},
        ],
        "backups": [{"name": "bk", "protects": "database", "region": "DE1", "cloud": backup_cloud}],
    }


def export(backup_cloud: str | None, member_cloud: str | None = "ovh") -> b.Export:
    """The same placements as resources, each on an explicit provider naming its clouds.yaml entry (or none)."""
    e = b.Export()
    for name, region in (("gra", "GRA11"), ("waw", "WAW1")):
        prov = e.provider(name, region=region, auth_url=None if member_cloud else b.OVH_AUTH, cloud=member_cloud)
        e.resource(b.INSTANCE, f"web-{name}", prov, role="web")
        e.resource(b.INSTANCE, f"db-{name}", prov, role="database", quorum=True)
    ik = e.provider("ik", region="dc4-a", auth_url=b.INFOMANIAK_AUTH)
    e.resource(b.INSTANCE, "web-ik", ik, role="web")
    e.resource(b.INSTANCE, "db-ik", ik, role="database", quorum=True)
    bk = e.provider("bk", region="DE1", auth_url=None, cloud=backup_cloud)
    e.resource(b.CONTAINER, "backups", bk, role="backup", protects="database")
    return e


CASES = {  # backups' entry, members' entry -> the finding's message starts with (None: no finding)
    "shared": ("ovh", "ovh", "the only backup of `database` is in a project that also holds `database` replicas"),
    "own project": ("ovh-backups", "ovh", None),
    "members' project unknown": ("ovh-backups", None, "no backup of `database` is known to be in a project"),
}


def findings(doc: dict) -> list[dict]:
    return [f for f in doc["findings"] if f["rule"] == RULE]


def check(doc: dict, expected: str | None) -> None:
    assert doc["verdict"] == "pass"  # advisory by default: never the verdict
    got = findings(doc)
    if expected is None:
        assert got == []
    else:
        (f,) = got
        assert f["level"] == "advisory" and f["role"] == "database" and f["message"].startswith(expected), f


@pytest.mark.parametrize("case", sorted(CASES))
def test_design_file(case, cli, tmp_path):
    backup_cloud, member_cloud, expected = CASES[case]
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(design(backup_cloud, member_cloud)))
    r = cli("audit", str(path), "--format", "json")
    assert r.returncode == 0, r.stderr
    check(json.loads(r.stdout), expected)
    strict = cli("audit", str(path), "--format", "json", "--profile", "strict")
    assert strict.returncode == (0 if expected is None else 1)


@pytest.mark.parametrize("case", sorted(CASES))
def test_stack_export_and_the_policy_pack(case, cli, tmp_path):
    backup_cloud, member_cloud, expected = CASES[case]
    e = export(backup_cloud, member_cloud)
    r = cli("audit", str(e.write(tmp_path / "export.json")), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    check(doc, expected)
    pack = [d for d in run_in_process(e.doc()) if d.policy == RULE]
    assert [(d.level, d.message) for d in pack] == [("advisory", f["message"]) for f in findings(doc)]
    assert all(d.urn.endswith("::backups") for d in pack)  # on the backup container itself


@pytest.mark.parametrize("case", sorted(CASES))
def test_preview(case, cli, tmp_path):
    backup_cloud, member_cloud, expected = CASES[case]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(b.preview_of(export(backup_cloud, member_cloud))))
    r = cli("audit", str(path), "--format", "json")
    assert r.returncode == 0, r.stderr
    check(json.loads(r.stdout), expected)


def test_preview_default_provider_takes_its_project_from_the_stack_config(cli, tmp_path):
    """A preview does not record default providers: their project (like their region) comes from --stack-config."""
    e = export("ovh-backups")
    default = e.provider("default", default=True, auth_url=None)
    e.resource(b.INSTANCE, "db-uk", default, role="database", quorum=True)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(b.preview_of(e, drop_default_provider=True)))
    for cloud, expected in (
        ("ovh-backups", "the only backup of `database` is in a project that also holds"),
        ("ovh", None),
    ):
        stack = tmp_path / f"Pulumi.{cloud}.yaml"
        stack.write_text(yaml.safe_dump({"config": {"openstack:region": "UK1", "openstack:cloud": cloud}}))
        r = cli("audit", str(plan), "--stack-config", str(stack), "--format", "json")
        assert r.returncode == 0, r.stderr
        got = findings(json.loads(r.stdout))
        assert (
            (got[0]["message"].startswith(expected) and "db-uk (UK1)" in got[0]["message"]) if expected else got == []
        )
