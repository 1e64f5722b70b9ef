"""policies/resilient_policies/config.py: one settings model for `audit --config` and the pack."""

import json
import subprocess
import sys

import jsonschema
import pytest

import resilient_policies
from resilient_policies.config import (
    CONFIG_SCHEMA,
    SCHEMA_PROPERTIES,
    PolicyConfigError,
    default_enforcement,
    pack_config,
    settings_from,
)
from resilient_stack.core.policy import PolicyConfig, load_policy_config
from resilient_stack.core.rules import RULE_IDS, default_level
from tests.policies.support import POLICIES_DIR, ROOT, configured_levels


def cli_schema() -> dict:
    """The object schema the Pulumi CLI validates a policy's config with (convertSchema + enforcementLevel)."""
    props = dict(CONFIG_SCHEMA.properties)
    props["enforcementLevel"] = {"type": "string", "enum": ["advisory", "mandatory", "remediate", "disabled"]}
    return {"type": "object", "properties": props}


def test_schema_lists_exactly_the_settings_model_fields_with_its_defaults():
    assert set(SCHEMA_PROPERTIES) == set(PolicyConfig.model_fields)
    defaults = PolicyConfig()
    for key, schema in SCHEMA_PROPERTIES.items():
        if "default" in schema:
            assert schema["default"] == getattr(defaults, key)
    assert set(SCHEMA_PROPERTIES["levels"]["properties"]) == set(RULE_IDS)
    jsonschema.Draft4Validator.check_schema(cli_schema())


@pytest.mark.parametrize(
    "good",
    [
        {},
        {"min_sites": 3, "enforcementLevel": "mandatory"},
        {"levels": {"single-provider": "disabled"}, "quorum_roles": ["database"]},
        {"profile": "strict", "catalog": {"providers": []}},
    ],
)
def test_the_cli_schema_and_the_model_accept_the_same_good_configs(good):
    jsonschema.validate(good, cli_schema())
    settings_from(good, "single-site")


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"min_sites": "x"}, "min_sites"),
        ({"min_sites": 0}, "min_sites"),
        ({"profile": "lax"}, "profile"),
        ({"levels": {"nope": "disabled"}}, "levels"),
        ({"quorum_roles": "database"}, "quorum_roles"),
    ],
)
def test_the_cli_schema_and_the_model_reject_the_same_bad_configs(bad, where):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, cli_schema())
    with pytest.raises(PolicyConfigError, match=rf"config of policy 'single-site': invalid config at {where}"):
        settings_from(bad, "single-site")


def test_model_only_errors_name_the_policy_and_the_setting():
    with pytest.raises(PolicyConfigError, match=r"'site-majority'.*catalog\.providers\.0\.id"):
        settings_from({"catalog": {"providers": [{"id": "Not An Id"}]}}, "site-majority")
    with pytest.raises(PolicyConfigError, match="unknown_key"):
        settings_from({"unknown_key": 1}, "site-majority")  # the CLI schema allows extra keys: the model does not


def test_protobuf_numbers_and_enforcement_level_are_accepted_and_settings_are_cached():
    a = settings_from({"min_buildings": 3.0, "enforcementLevel": "advisory"}, "single-building")
    assert a.rules.min_buildings == 3
    assert settings_from({"min_buildings": 3.0}, "single-site") is a


def test_default_levels_come_from_the_rules_registry():
    for p in resilient_policies.RULE_POLICIES:
        assert p.enforcement_level == default_enforcement(p.name)
        assert p.enforcement_level.value == default_level(p.name)
    assert {p.name: p.enforcement_level.value for p in resilient_policies.RULE_POLICIES}[
        "single-provider"
    ] == "advisory"


def test_pack_config_reproduces_audit_levels():
    strict = pack_config(PolicyConfig(profile="strict"))
    assert {v["enforcementLevel"] for k, v in strict.items() if k in RULE_IDS} == {"mandatory"}
    assert "enforcementLevel" not in strict["exempted-findings"]  # the helper keeps its own level (advisory)
    default = pack_config(PolicyConfig(min_sites=3, levels={"ssh-open-to-world": "disabled"}))
    assert default["single-provider"]["enforcementLevel"] == "advisory"
    assert default["ssh-open-to-world"]["enforcementLevel"] == "disabled"
    assert all(v["min_sites"] == 3 for v in default.values())
    for name, (_, props) in configured_levels(resilient_policies.RULE_POLICIES, default).items():
        jsonschema.validate(props, cli_schema())
        assert settings_from(props, name).rules.min_sites == 3


def test_make_pack_config_script(tmp_path):
    cfg = tmp_path / "org.yaml"
    cfg.write_text(
        "profile: default\nmin_providers: 3\nlevels: {single-provider: mandatory}\nquorum_roles: [database]\n"
    )
    r = subprocess.run(
        [sys.executable, str(POLICIES_DIR / "make_pack_config.py"), str(cfg)], capture_output=True, cwd=ROOT, timeout=60
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == set(RULE_IDS) | {"exempted-findings"}
    assert doc["single-provider"] == {
        "enforcementLevel": "mandatory",
        "min_providers": 3,
        "levels": {"single-provider": "mandatory"},
        "quorum_roles": ["database"],
    }
    assert load_policy_config(str(cfg)) == PolicyConfig.model_validate(
        {k: v for k, v in doc["single-site"].items() if k != "enforcementLevel"}
    )
    cfg.write_text("min_sites: lots\n")
    r = subprocess.run(
        [sys.executable, str(POLICIES_DIR / "make_pack_config.py"), str(cfg)], capture_output=True, cwd=ROOT, timeout=60
    )
    assert r.returncode == 2 and b"Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1
