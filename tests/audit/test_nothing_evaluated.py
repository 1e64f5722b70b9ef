"""No verdict over nothing (issue 26, point 6): an input on which no rule judged a resource is unusable input,
exit 2 with one line naming the file, what the auditor reads and what it found instead, on audit and drill alike."""

import json

import pytest

from tests import builders as b


def aws(e: b.Export, name: str) -> None:
    """An AWS instance: a cloud resource the auditor does not place (it carries an availability zone)."""
    prov = b.urn("pulumi:providers:aws", "default_6_0_0")
    e.resources.append(
        {"urn": prov, "type": "pulumi:providers:aws", "custom": True, "id": "p", "inputs": {"region": "eu-west-3"}}
    )
    e.resources.append(
        {
            "urn": b.urn("aws:ec2/instance:Instance", name),
            "type": "aws:ec2/instance:Instance",
            "custom": True,
            "id": f"i-{name}",
            "inputs": {"instanceType": "t3.micro"},
            "outputs": {"availabilityZone": "eu-west-3a"},
            "provider": f"{prov}::p",
        }
    )


def foreign_only() -> b.Export:
    e = b.Export()
    aws(e, "web")
    return e


def openstack_plumbing_only() -> b.Export:
    """A provider and a network: OpenStack, but nothing that holds a replica."""
    e = b.Export()
    gra = e.provider("gra", region="GRA11")
    e.resource(b.NETWORK, "net", gra)
    return e


@pytest.mark.parametrize("build", [foreign_only, openstack_plumbing_only])
@pytest.mark.parametrize("command", ["audit", "drill"])
def test_an_export_with_nothing_evaluated_is_unusable_input_not_a_pass(cli, tmp_path, build, command):
    path = build().write(tmp_path / "export.json")
    r = cli(command, str(path))
    assert r.returncode == 2, r.stdout
    assert r.stdout == b"" and b"PASS" not in r.stderr
    err = r.stderr.decode()
    assert err.count("\n") == 1 and err.startswith(f"resilient-stack: error: {path}: "), err
    assert "nothing can be proven" in err


def test_the_line_says_what_the_auditor_reads_and_what_it_found_instead(cli, tmp_path):
    r = cli("audit", str(foreign_only().write(tmp_path / "aws.json")), "--format", "json")
    err = r.stderr.decode()
    assert r.returncode == 2
    assert "0 evaluated" in err and "instances, volumes" in err
    assert "1 aws:ec2/instance:Instance" in err and "1 pulumi:providers:aws" in err


def test_a_preview_with_nothing_evaluated_is_unusable_input_too(cli, tmp_path):
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(b.preview_of(foreign_only())))
    r = cli("audit", str(path))
    assert r.returncode == 2 and "nothing can be proven" in r.stderr.decode(), r.stderr


def test_a_foreign_resource_beside_placed_replicas_is_listed_and_the_verdict_stands(cli, tmp_path):
    e = b.spread_export()
    aws(e, "legacy")
    r = cli("audit", str(e.write(tmp_path / "export.json")), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "pass" and sum(doc["coverage"]["evaluated"].values()) > 0
    assert "unclassified-resource" in {f["rule"] for f in doc["findings"]}


def test_every_path_is_judged_and_the_unusable_one_sets_exit_2(cli, tmp_path):
    good = b.spread_export().write(tmp_path / "good.json")
    empty = foreign_only().write(tmp_path / "aws.json")
    r = cli("audit", str(good), str(empty), "--format", "json")
    assert r.returncode == 2
    assert str(empty) in r.stderr.decode() and str(good) not in r.stderr.decode()
    assert json.loads(r.stdout)["verdict"] == "pass"  # the usable input's report is still written
