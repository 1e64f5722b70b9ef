"""Every declaration must match something (issue 26, point 4): a label outside its vocabulary, a backup of a role no
replica has, a quorum role that is a near miss: a finding with a did-you-mean, never a rule silently skipped."""

import json

import pytest

from resilient_stack.audit.inputs import load_input
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.rules import RuleConfig, evaluate, reader_findings
from resilient_stack.core.vocabulary import near_miss
from tests import builders as b
from tests.conftest import ROOT

CAT = load_catalog()


def audit(e: b.Export, tmp_path, config: RuleConfig | None = None) -> list:
    loaded = load_input(str(e.write(tmp_path / "export.json")), CAT)
    config = config or RuleConfig()
    rep = evaluate(loaded.placements, config, CAT)
    return [f for f in rep.findings + reader_findings(loaded.issues, config) if f.rule == "unmatched-declaration"]


def spread(**labels) -> b.Export:
    """Web and a voting database on three sites; ``labels`` go on the Warsaw database member."""
    e = b.Export()
    provs = {n: e.provider(n, region=r) for n, r in (("gra", "GRA11"), ("waw", "WAW1"), ("de", "DE1"))}
    for n in ("gra", "waw", "de"):
        e.resource(b.INSTANCE, f"web-{n}", provs[n], role="web")
        e.resource(b.INSTANCE, f"db-{n}", provs[n], role="database", quorum=True)
    for r in e.resources:
        if r["urn"].endswith("::db-waw"):
            r["inputs"]["metadata"].update(labels)
            r["outputs"] = dict(r["inputs"])
    return e


@pytest.mark.parametrize(
    "value, meant",
    [
        ("webs", "web"),
        ("Web", "web"),
        ("databases", "database"),
        ("Object_Storage", "object-storage"),
        ("databse", "database"),
        ("backups", "backup"),
    ],
)
def test_near_misses_of_known_roles_are_named(value, meant):
    assert near_miss(value, ("web", "database", "object-storage", "backup")) == meant


@pytest.mark.parametrize("value", ["web", "cache", "queue", "webapp", "db"])
def test_known_roles_and_an_applications_own_are_not_misses(value):
    assert near_miss(value, ("web", "database", "object-storage", "backup")) is None


def test_a_role_label_in_the_wrong_case_is_a_finding_with_what_was_meant(tmp_path):
    found = audit(spread(**{"resilient-stack:role": "Database"}), tmp_path)
    assert len(found) == 1 and found[0].level == "mandatory"
    assert "resilient-stack:role='Database'" in found[0].message and "did you mean `database`?" in found[0].message


def test_an_applications_own_role_is_not_a_finding(tmp_path):
    e = spread()
    e.resource(
        b.INSTANCE,
        "cache-1",
        next(r["urn"] + "::prov-gra" for r in e.resources if r["urn"].endswith("::gra")),
        role="cache",
    )
    assert audit(e, tmp_path) == []


@pytest.mark.parametrize(
    "value, read, meant",
    [
        ("yes", "read as NOT a voting member", "true"),
        ("True", "read as true", "true"),
        ("no", "read as NOT a voting member", "false"),
        ("1", "read as NOT a voting member", "true"),
    ],
)
def test_a_quorum_label_outside_true_false_is_a_finding(tmp_path, value, read, meant):
    found = audit(spread(**{"resilient-stack:quorum": value}), tmp_path)
    assert len(found) == 1, found
    assert read in found[0].message and f"did you mean `{meant}`?" in found[0].message


def with_backup(protects: str | None) -> b.Export:
    e = spread()
    lim = e.provider("lim", region="DE1")
    e.resource(b.CONTAINER, "backups", lim, role="backup", protects=protects)
    return e


def test_a_backup_of_a_role_no_replica_has_is_a_finding(tmp_path):
    found = audit(with_backup("databases"), tmp_path)
    assert len(found) == 2  # the label's spelling, and the role it protects matching no replica
    msg = next(f.message for f in found if "protects a role that no replica has" in f.message)
    assert "did you mean `database`?" in msg and "backup-colocated" in msg


def test_a_backup_that_protects_no_role_is_a_finding(tmp_path):
    found = audit(with_backup(None), tmp_path)
    assert len(found) == 1 and "protect no role" in found[0].message and "database, web" in found[0].message


def test_a_backup_of_a_real_role_is_no_finding(tmp_path):
    assert audit(with_backup("database"), tmp_path) == []


def test_a_quorum_role_that_is_a_near_miss_is_a_finding_and_one_like_no_role_is_not(tmp_path):
    near = audit(spread(), tmp_path, RuleConfig(quorum_roles=frozenset({"databases"})))
    assert (
        len(near) == 1
        and "the quorum role `databases` matches no replica (did you mean `database`?)" in near[0].message
    )
    assert audit(spread(), tmp_path, RuleConfig(quorum_roles=frozenset({"queue"}))) == []


def test_storage_of_outside_the_vocabulary_is_a_finding(tmp_path):
    e = spread()
    gra = next(r["urn"] + "::prov-gra" for r in e.resources if r["urn"].endswith("::gra"))
    e.resource(
        "openstack:blockstorage/volume:Volume", "data-gra", gra, **{"metadata": {"resilient-stack:storage-of": "DB"}}
    )
    found = audit(e, tmp_path)
    assert len(found) == 1 and "storage-of='DB'" in found[0].message


def test_a_design_whose_backup_protects_a_typo_is_refused_on_every_path(cli, tmp_path):
    """A design file is the auditor's own schema: there the typo is unusable input (exit 2), not a finding."""
    design = (ROOT / "examples/production.design.yaml").read_text().replace("protects: database", "protects: databases")
    assert "protects: databases" in design
    path = tmp_path / "design.yaml"
    path.write_text(design)
    for command in ("audit", "drill"):
        r = cli(command, str(path))
        assert r.returncode == 2 and "backup protects role 'databases', which no placement runs" in r.stderr.decode()


SECRET = {b.SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:c2VjcmV0"}


def hide(e: b.Export, name: str, how: str) -> None:
    r = next(r for r in e.resources if r["urn"].endswith(f"::{name}"))
    if how == "label":
        r["inputs"]["metadata"]["resilient-stack:role"] = SECRET
    else:  # the whole metadata
        r["inputs"]["metadata"] = SECRET
    r["outputs"] = {"metadata": SECRET}


@pytest.mark.parametrize("how", ["label", "whole metadata"])
def test_a_role_hidden_in_a_secret_is_a_mandatory_finding_not_a_quieter_verdict(tmp_path, how):
    """Two database members in Strasbourg whose role is hidden would count as `compute` beside spread web hosts:
    the database's single site would never be judged."""
    e = spread()
    sbg = e.provider("sbg", region="SBG5")
    for n in ("1", "2"):
        e.resource(b.INSTANCE, f"db-sbg-{n}", sbg, role="database")
        hide(e, f"db-sbg-{n}", how)
    found = audit(e, tmp_path)
    assert len(found) == 2 and all(f.level == "mandatory" for f in found)
    assert all("is a secret, so its role, quorum and protects cannot be read" in f.message for f in found)


def test_labels_readable_in_the_inputs_are_not_hidden_by_secret_outputs(tmp_path):
    e = spread()
    r = next(r for r in e.resources if r["urn"].endswith("::db-waw"))
    r["outputs"] = {"metadata": SECRET}  # the engine marks an output secret when any of its inputs was
    assert audit(e, tmp_path) == []


def test_a_label_unknown_at_preview_is_judged_once_known_not_hidden(tmp_path):
    e = spread()
    r = next(r for r in e.resources if r["urn"].endswith("::db-waw"))
    r["inputs"]["metadata"] = b.UNKNOWN
    r["outputs"] = {}
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(b.preview_of(e)))
    loaded = load_input(str(path), CAT)
    assert not [i for i in loaded.issues if i[0] == "unmatched-declaration"]
