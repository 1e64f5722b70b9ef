"""Property-based fuzzing of the parsers and the design model: any input gives a result or an
InputError, never another exception; a verdict is never 'pass' when a replica is unplaced."""

import json
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilient_stack.audit.inputs import (
    detect,
    load_input,
    parse_document,
    read_preview,
    read_stack_export,
)
from resilient_stack.audit.opentofu import STATE, TFSTATE, read_plan, read_state
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.design import parse_design
from resilient_stack.core.rules import evaluate
from resilient_stack.io.errors import InputError
from tests import builders as b

CAT = load_catalog()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["GRA11", "sbg5", " WAW1 ", "dc4-a", "EU-WEST-PAR", b.UNKNOWN, "[secret]", "", "urn:pulumi:x"]),
)
json_values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=12), kids, max_size=5)),
    max_leaves=30,
)


def _check_report(placements):
    rep = evaluate(placements, catalog=CAT)
    if any(not p.resolved for p in placements):
        assert rep.verdict == "fail"
    json.dumps(rep.as_dict())


@FUZZ
@given(json_values)
def test_design_model_never_crashes(raw):
    try:
        design = parse_design(raw, "fuzz.yaml")
    except InputError as exc:
        assert str(exc).startswith("fuzz.yaml: ")
        return
    _check_report(design.placements_for(CAT))


placement_st = st.fixed_dictionaries(
    {
        "name": st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
        "region": st.sampled_from(["GRA11", "SBG5", "SBG7", "WAW1", "DE1", "dc4-a", "eu-west-par", "Nowhere"]),
        "replicas": st.dictionaries(st.sampled_from(["web", "database", "cache"]), st.integers(0, 4), min_size=1),
    },
    optional={
        "cloud": st.sampled_from(["ovh", "infomaniak", "mystery"]),
        "availability_zone": st.sampled_from(["eu-west-par-a", "eu-west-par-b", "x"]),
    },
)


@FUZZ
@given(st.lists(placement_st, min_size=1, max_size=6, unique_by=lambda p: p["name"]))
def test_valid_designs_evaluate(placements):
    try:
        design = parse_design({"name": "fuzz", "placements": placements}, "fuzz.yaml")
    except InputError:
        return
    _check_report(design.placements_for(CAT))


resource_st = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "urn": st.sampled_from(
                [
                    "urn:pulumi:s::p::openstack:compute/instance:Instance::a",
                    "urn:pulumi:s::p::pulumi:providers:openstack::p1",
                    "bad",
                ]
            ),
            "type": st.sampled_from([b.INSTANCE, b.CONTAINER, "pulumi:providers:openstack", "aws:ec2:Instance", "x"]),
        },
        optional={
            "inputs": json_values,
            "outputs": json_values,
            "custom": st.booleans(),
            "provider": st.one_of(json_values, st.just("urn:pulumi:s::p::pulumi:providers:openstack::p1::id")),
        },
    ),
)


@FUZZ
@given(st.lists(resource_st, max_size=8))
def test_export_reader_never_crashes(resources):
    doc = {"version": 3, "deployment": {"resources": resources}}
    try:
        loaded = read_stack_export(doc, "fuzz.json", CAT)
    except InputError as exc:
        assert str(exc).startswith("fuzz.json: ")
        return
    _check_report(loaded.placements)


@FUZZ
@given(
    st.lists(
        st.fixed_dictionaries(
            {"op": st.sampled_from(["create", "same", "delete", 3])},
            optional={"newState": resource_st, "provider": json_values},
        ),
        max_size=8,
    )
)
def test_preview_reader_never_crashes(steps):
    try:
        loaded = read_preview({"steps": steps}, "fuzz.json", CAT)
    except InputError:
        return
    _check_report(loaded.placements)


@FUZZ
@given(st.binary(max_size=400))
def test_document_parser_never_crashes_on_bytes(data):
    try:
        detect(parse_document(data, "fuzz.bin"), "fuzz.bin")
    except InputError as exc:
        assert str(exc).startswith("fuzz.bin: ")


@FUZZ
@given(st.data())
def test_mutated_real_exports(data):
    doc = b.spread_export().doc()
    res = doc["deployment"]["resources"]
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(res) - 1))
        key = data.draw(st.sampled_from(["inputs", "outputs", "provider", "type", "urn", "custom"]))
        res[i][key] = data.draw(json_values)
    try:
        loaded = read_stack_export(doc, "m.json", CAT)
    except InputError:
        return
    _check_report(loaded.placements)


tf_resource_st = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "address": st.sampled_from(
                ["openstack_compute_instance_v2.a", "module.m.openstack_compute_instance_v2.b[0]"]
            ),
            "type": st.sampled_from(["openstack_compute_instance_v2", "openstack_networking_secgroup_rule_v2", "x_y"]),
            "mode": st.sampled_from(["managed", "data", 3]),
        },
        optional={"values": json_values, "sensitive_values": json_values, "name": json_values},
    ),
)
tf_provider_st = st.fixed_dictionaries(
    {},
    optional={
        "expressions": st.one_of(
            json_values,
            st.dictionaries(
                st.sampled_from(["region", "auth_url", "cloud", "tenant_id"]),
                st.one_of(json_values, st.fixed_dictionaries({"constant_value": json_values})),
                max_size=4,
            ),
        )
    },
)


@FUZZ
@given(
    st.lists(tf_resource_st, max_size=6),
    st.one_of(json_values, st.dictionaries(st.sampled_from(["openstack", "openstack.a"]), tf_provider_st, max_size=2)),
    st.one_of(
        json_values, st.lists(st.fixed_dictionaries({"address": json_values, "change": json_values}), max_size=4)
    ),
    json_values,
)
def test_opentofu_plan_reader_never_crashes(resources, providers, changes, root_config):
    """OpenTofu plans (issue 24): any shape in the plan's sections is read or refused in one line, never a crash."""
    doc = {
        "format_version": "1.2",
        "planned_values": {"root_module": {"resources": resources, "child_modules": [{"resources": resources[:2]}]}},
        "resource_changes": changes,
        "configuration": {"provider_config": providers, "root_module": root_config},
    }
    try:
        estate, _ = read_plan(doc, "fuzz.json", CAT)
    except InputError as exc:
        assert str(exc).startswith("fuzz.json: ")
        whole = str(exc)
    else:
        _check_report(estate.finish())
        whole = None
    try:
        text = json.dumps(doc, allow_nan=False)
    except ValueError:
        return  # an infinity: no JSON file holds one
    with tempfile.NamedTemporaryFile("w", suffix=".json") as fh:  # read as it streams: the same answer
        fh.write(text)
        fh.flush()
        try:
            loaded = load_input(fh.name, CAT, source="fuzz.json")
        except InputError as exc:
            assert whole is not None, str(exc)
            return
    assert whole is None, whole
    assert sorted(map(repr, loaded.placements)) == sorted(map(repr, estate.finish()))


tf_instance_st = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "attributes": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {"region": st.one_of(json_values, st.sampled_from(["GRA11", "SBG5", "dc4-a"]))},
                    optional={"metadata": json_values, "remote_ip_prefix": json_values, "kube_id": json_values},
                ),
            ),
            "index_key": json_values,
            "status": st.one_of(json_values, st.just("tainted")),
            "deposed": json_values,
            "sensitive_attributes": json_values,
            "attributes_flat": json_values,
        },
    ),
)


@FUZZ
@given(
    st.lists(
        st.one_of(
            json_values,
            st.fixed_dictionaries(
                {
                    "mode": st.sampled_from(["managed", "data", 3]),
                    "type": st.sampled_from(
                        ["openstack_compute_instance_v2", "ovh_cloud_project_kube_nodepool", "ovh_cloud_project_kube"]
                    ),
                    "name": st.one_of(json_values, st.sampled_from(["a", "b"])),
                },
                optional={
                    "module": json_values,
                    "instances": st.one_of(json_values, st.lists(tf_instance_st, max_size=3)),
                },
            ),
        ),
        max_size=5,
    ),
    st.one_of(st.just(4), json_values),
    st.lists(tf_resource_st, max_size=4),
)
def test_opentofu_state_readers_never_crash(resources, version, shown):
    """OpenTofu states (issue 24): a raw state file and `tofu show -json` of a state, in any shape, are read or
    refused in one line, never a crash."""
    raw_doc = {"version": version, "terraform_version": "1.10.10", "lineage": "l", "resources": resources}
    shown_doc = {"format_version": "1.0", "values": {"root_module": {"resources": shown, "child_modules": [{}]}}}
    for kind, doc in ((TFSTATE, raw_doc), (STATE, shown_doc)):
        try:
            estate, _ = read_state(doc, kind, "fuzz.json", CAT)
        except InputError as exc:
            assert str(exc).startswith("fuzz.json: ")
            whole = str(exc)
        else:
            _check_report(estate.finish())
            whole = None
        # the same file read as it streams (what the CLI does): the same answer
        try:
            text = json.dumps(doc, allow_nan=False)
        except ValueError:
            continue  # an infinity: no JSON file holds one
        with tempfile.NamedTemporaryFile("w", suffix=".json") as fh:
            fh.write(text)
            fh.flush()
            try:
                loaded = load_input(fh.name, CAT, source="fuzz.json")
            except InputError as exc:
                assert whole is not None and str(exc).startswith("fuzz.json: "), (str(exc), whole)
                continue
        assert whole is None and loaded.kind == kind, whole
        _check_report(loaded.placements)
