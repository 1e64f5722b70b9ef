"""Lifecycle state (issue 26, point 1): a resource counts as a surviving replica only if the state says it exists and
runs. Old copies awaiting deletion, resources deleted before their replacement exists, resources an interrupted
update was deleting, resources whose creation failed: none vouches for the spread, each is said, none is dropped."""

import copy
import json

import pytest
import yaml

from resilient_stack.audit.inputs import load_input
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.rules import RuleConfig, evaluate, reader_findings
from tests import builders as b

CAT = load_catalog()


def two_sites() -> b.Export:
    """Web on Gravelines and Warsaw: spread, as long as both replicas run."""
    e = b.Export()
    gra, waw = e.provider("gra", region="GRA11"), e.provider("waw", region="WAW1")
    e.resource(b.INSTANCE, "web-gra", gra, role="web")
    e.resource(b.INSTANCE, "web-waw", waw, role="web")
    return e


def find(e: b.Export, name: str) -> dict:
    return next(r for r in e.resources if r["urn"].endswith(f"::{name}"))


def blocking(path, fmt: str = "json") -> tuple[set, object]:
    loaded = load_input(str(path), CAT)
    rep = evaluate(loaded.placements, RuleConfig(), CAT)
    return {f.rule for f in rep.findings + reader_findings(loaded.issues) if f.blocking}, loaded


def write(e: b.Export, tmp_path, fmt: str = "json", deployment_extra: dict | None = None):
    doc = e.doc()
    doc["deployment"].update(deployment_extra or {})
    path = tmp_path / f"export.{fmt}"
    path.write_text(json.dumps(doc) if fmt == "json" else yaml.safe_dump(doc))
    return path


def test_the_baseline_is_spread(tmp_path):
    rules, loaded = blocking(write(two_sites(), tmp_path))
    assert not rules and len(loaded.placements) == 2


def gone_pending_delete(e):
    find(e, "web-waw")["delete"] = True


def gone_pending_replacement(e):
    find(e, "web-waw")["pendingReplacement"] = True


def gone_init_errors(e):
    find(e, "web-waw")["initErrors"] = ["instance web-waw entered the ERROR state"]


def gone_error_status(e):
    find(e, "web-waw")["outputs"]["status"] = "ERROR"


WAYS = {
    "delete": gone_pending_delete,
    "pendingReplacement": gone_pending_replacement,
    "initErrors": gone_init_errors,
    "status ERROR": gone_error_status,
}


@pytest.mark.parametrize("fmt", ["json", "yaml"])  # the streamed reader and the decoded one
@pytest.mark.parametrize("way", WAYS)
def test_a_replica_that_does_not_run_never_vouches_for_the_spread(tmp_path, way, fmt):
    e = two_sites()
    WAYS[way](e)
    rules, loaded = blocking(write(e, tmp_path, fmt))
    assert "single-site" in rules, (way, rules)
    assert [p.resource for p in loaded.placements] == [b.urn(b.INSTANCE, "web-gra")]
    cov = loaded.coverage
    assert cov["not_evaluated"]["not_running"] == {b.INSTANCE: 1}
    assert cov["not_running"][0]["resource"] == b.urn(b.INSTANCE, "web-waw")
    assert cov["resources"] == loaded.resources == len(e.resources)  # counted, said, not dropped


def test_an_old_copy_awaiting_deletion_beside_its_replacement_is_read_not_refused(tmp_path):
    e = two_sites()
    old = copy.deepcopy(find(e, "web-waw"))
    old.update(delete=True, id="id-web-waw-old")
    e.resources.append(old)  # create-before-delete: the old copy keeps the URN until it is deleted
    rules, loaded = blocking(write(e, tmp_path))
    assert not rules and len(loaded.placements) == 2
    assert loaded.coverage["not_running"] == [{"resource": old["urn"], "type": b.INSTANCE, "why": "pending deletion"}]


def test_two_live_copies_of_one_urn_are_still_refused(tmp_path):
    e = two_sites()
    e.resources.append(copy.deepcopy(find(e, "web-waw")))
    from resilient_stack.io.errors import InputError

    with pytest.raises(InputError, match="duplicate URN"):
        load_input(str(write(e, tmp_path)), CAT)


def test_a_resource_an_interrupted_update_was_deleting_does_not_count(tmp_path):
    e = two_sites()
    ops = {
        "pending_operations": [
            {"type": "deleting", "resource": copy.deepcopy(find(e, "web-waw"))},
            {"type": "updating", "resource": copy.deepcopy(find(e, "web-gra"))},
        ]
    }
    for fmt in ("json", "yaml"):
        rules, loaded = blocking(write(e, tmp_path, fmt, ops))
        assert "single-site" in rules
        assert loaded.coverage["not_running"][0]["why"].startswith("being deleted by an interrupted update")
        assert loaded.coverage["resources"] == len(e.resources)


def test_a_creating_operation_vouches_for_nothing(tmp_path):
    e = two_sites()
    waw = find(e, "web-waw")
    e.resources.remove(waw)  # its creation was interrupted: only the pending operation knows of it
    rules, loaded = blocking(
        write(e, tmp_path, deployment_extra={"pending_operations": [{"type": "creating", "resource": waw}]})
    )
    assert "single-site" in rules and len(loaded.placements) == 1


@pytest.mark.parametrize("ops", [{"no": "list"}, [{"type": "deleting"}], ["deleting"], [{"resource": {"urn": "u"}}]])
def test_malformed_pending_operations_are_one_line_exit_2(cli, tmp_path, ops):
    r = cli("audit", str(write(two_sites(), tmp_path, deployment_extra={"pending_operations": ops})))
    assert r.returncode == 2 and r.stderr.decode().count("\n") == 1
    assert "pending_operations" in r.stderr.decode()


def test_a_managed_database_in_error_is_not_a_replica(tmp_path):
    e = two_sites()
    u = b.urn("ovh:CloudProject/database:Database", "pg")
    e.resources.append(
        {
            "urn": u,
            "type": "ovh:CloudProject/database:Database",
            "custom": True,
            "id": "pg",
            "inputs": {"engine": "postgresql", "nodes": [{"region": "GRA"}, {"region": "WAW"}]},
            "outputs": {"engine": "postgresql", "nodes": [{"region": "GRA"}, {"region": "WAW"}], "status": "ERROR"},
            "provider": b.urn("pulumi:providers:ovh", "default") + "::p",
        }
    )
    _, loaded = blocking(write(e, tmp_path))
    assert not [p for p in loaded.placements if p.resource.startswith(u)]
    assert loaded.coverage["not_running"][0] == {
        "resource": u,
        "type": "ovh:CloudProject/database:Database",
        "why": "status ERROR",
    }


def test_every_format_says_what_was_not_counted_and_why(cli, tmp_path):
    e = two_sites()
    gone_pending_delete(e)
    path = write(e, tmp_path)
    text = cli("audit", str(path)).stdout.decode()
    assert f"not counted: {b.urn(b.INSTANCE, 'web-waw')} (pending deletion)" in text
    assert "not running: going away, failed or not created" in text
    doc = json.loads(cli("audit", str(path), "--format", "json").stdout)
    assert doc["verdict"] == "fail" and doc["coverage"]["not_running"][0]["why"] == "pending deletion"
    sarif = json.loads(cli("audit", str(path), "--format", "sarif").stdout)["runs"][0]["properties"]["coverage"]
    assert sarif["notRunning"][0]["resource"] == b.urn(b.INSTANCE, "web-waw")
    assert "pending deletion" in cli("audit", str(path), "--format", "junit").stdout.decode()
    assert "pending deletion" in cli("audit", str(path), "--format", "markdown").stdout.decode()


def test_a_stack_whose_every_replica_is_going_away_has_nothing_to_prove(cli, tmp_path):
    e = two_sites()
    gone_pending_delete(e)
    find(e, "web-gra")["delete"] = True
    r = cli("audit", str(write(e, tmp_path)))
    assert r.returncode == 2 and "2 openstack:compute/instance:Instance not running" in r.stderr.decode()
