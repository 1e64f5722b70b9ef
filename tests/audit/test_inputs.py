"""The three input formats, read from hand-written documents."""

import json

import pytest

from resilient_stack.audit.inputs import (
    load_input,
    parse_document,
    read_preview,
    read_stack_export,
)
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.rules import evaluate
from resilient_stack.io.errors import InputError
from tests import builders as b

CAT = load_catalog()


def by_name(loaded):
    return {p.resource.rsplit("::", 1)[1]: p for p in loaded.placements}


def test_export_reads_region_from_provider_and_roles_from_metadata():
    loaded = read_stack_export(b.spread_export().doc(), "x.json", CAT)
    ps = by_name(loaded)
    assert ps["web-gra"].site == "ovh-gravelines" and ps["web-gra"].role == "web"
    assert ps["db-ik"].provider == "infomaniak" and ps["db-ik"].quorum
    assert ps["backups"].role == "backup" and ps["backups"].protects == "database" and ps["backups"].region == "DE1"
    assert "net-gra" not in ps  # networks are not replicas even when tagged
    assert evaluate(loaded.placements).verdict == "pass"


def test_export_strasbourg_replay_is_rejected():
    rep = evaluate(read_stack_export(b.strasbourg_export().doc(), "x.json", CAT).placements)
    assert rep.verdict == "fail"
    assert {"single-site", "backup-colocated", "site-majority"} <= {f.rule for f in rep.findings if f.blocking}


def test_resource_region_input_wins_over_provider():
    e = b.Export()
    p = e.provider("gra", region="GRA11")
    e.resource(b.INSTANCE, "w", p, role="web", region="WAW1")
    assert by_name(read_stack_export(e.doc(), "x", CAT))["w"].region == "WAW1"


def test_role_inferred_from_type_and_tags_style():
    e = b.Export()
    p = e.provider("gra", region="GRA11")
    e.resource(b.INSTANCE, "bare", p)
    e.resource(b.CONTAINER, "static", p)
    e.resource("openstack:loadbalancer/loadBalancer:LoadBalancer", "lb", p, role="load-balancer", tags_style=True)
    ps = by_name(read_stack_export(e.doc(), "x", CAT))
    assert ps["bare"].role == "compute" and ps["static"].role == "object-storage" and ps["lb"].role == "load-balancer"


def test_provider_reference_pointing_nowhere_is_unknown_placement():
    e = b.Export()
    e.resource(b.INSTANCE, "w", "urn:pulumi:dev::shop::pulumi:providers:openstack::gone::id", role="web")
    p = by_name(read_stack_export(e.doc(), "x", CAT))["w"]
    assert not p.resolved and "not in the file" in p.problem


def test_secret_region_is_unknown_placement_not_a_crash():
    e = b.Export()
    prov = e.provider("s", region={b.SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:abc"})
    e.resource(b.INSTANCE, "w", prov, role="web")
    p = by_name(read_stack_export(e.doc(), "x", CAT))["w"]
    assert not p.resolved and "secret" in p.problem


def test_provider_without_region_fails_closed():
    e = b.Export()
    prov = e.provider("env", region=None)
    e.resource(b.INSTANCE, "w", prov, role="web")
    assert "no region" in by_name(read_stack_export(e.doc(), "x", CAT))["w"].problem


def test_duplicate_urn_is_unusable_input():
    e = b.spread_export()
    e.resources.append(dict(e.resources[-1]))
    with pytest.raises(InputError, match="duplicate URN"):
        read_stack_export(e.doc(), "x.json", CAT)


def test_preview_matches_export_verdict():
    for builder in (b.spread_export, b.strasbourg_export):
        exp = builder()
        a = evaluate(read_stack_export(exp.doc(), "x", CAT).placements)
        p = evaluate(read_preview(b.preview_of(exp), "y", CAT).placements)
        assert a.verdict == p.verdict
        assert {f.rule for f in a.findings} == {f.rule for f in p.findings}


def test_preview_default_provider_fails_closed_unless_stack_config_given():
    e = b.Export()
    d = e.provider("default", region="GRA11", default=True)
    e.resource(b.INSTANCE, "w", d, role="web")
    doc = b.preview_of(e, drop_default_provider=True)
    p = by_name(read_preview(doc, "y", CAT))["w"]
    assert not p.resolved and "--stack-config" in p.problem
    p2 = by_name(read_preview(doc, "y", CAT, {"openstack:region": "GRA11", "openstack:authUrl": b.OVH_AUTH}))["w"]
    assert p2.resolved and p2.region == "GRA11"


def test_preview_unknown_region_value_is_unknown_placement():
    e = b.Export()
    prov = e.provider("gra", region="GRA11")
    e.resource(b.INSTANCE, "w", prov, role="web", region=b.UNKNOWN)
    p = by_name(read_preview(b.preview_of(e), "y", CAT))["w"]
    assert not p.resolved and "unknown" in p.problem


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\x00\x01\x02binary", "binary"),
        (b"\xff\xfe\xfa", "UTF-8"),
        (b'{"deployment": ', "invalid JSON"),
        (b"[1, 2]", "unrecognised format"),
        (b'{"hello": 1}', "unrecognised format"),
        (b"placements: [", "invalid YAML"),
        (b'{"deployment": {"resources": {}}}', "must be a list"),
        (b'{"deployment": {"resources": [{"urn": 3}]}}', "urn"),
        (b'{"steps": 3}', "steps"),
        (b"[" * 100000 + b"]" * 100000, "nesting too deep"),
    ],
)
def test_unusable_inputs_raise_one_clear_error(tmp_path, content, problem):
    f = tmp_path / "in.json"
    f.write_bytes(content)
    with pytest.raises(InputError) as exc:
        load_input(str(f), CAT)
    assert str(f) in str(exc.value) and problem in str(exc.value)


def test_yaml_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines.append("placements: *a8")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines))
    with pytest.raises(InputError, match="aliases|expands"):
        load_input(str(f), CAT)


def test_yaml_never_constructs_python_objects():
    with pytest.raises(InputError):
        parse_document(b"placements: !!python/object/apply:os.system ['true']", "evil.yaml")


def test_container_labels_in_header_safe_spelling():
    """Swift metadata travels as X-Container-Meta-* headers, where ':' is not allowed in names."""
    e = b.Export()
    p = e.provider("lim", region="DE1")
    e.resource(
        b.CONTAINER, "bk", p, metadata={"Resilient-Stack-Role": "backup", "resilient-stack-protects": "database"}
    )
    got = by_name(read_stack_export(e.doc(), "x", CAT))["bk"]
    assert got.role == "backup" and got.protects == "database"


def test_failed_preview_is_refused_not_audited(tmp_path):
    doc = b.preview_of(b.spread_export())
    doc["diagnostics"] = [{"message": "error: program failed\n", "severity": "error"}]
    f = tmp_path / "plan.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="preview failed"):
        load_input(str(f), CAT)
    with pytest.raises(InputError, match="preview failed"):
        read_preview(doc, "plan.json", CAT)
