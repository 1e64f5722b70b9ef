"""``resilient-stack:monitoring`` and the receivers' secrets (issue 23, point 2): one-line errors naming the key, the
``monitoring`` role judged by the placement rules like any other, and the program's monitoring hosts."""

from __future__ import annotations

import pytest

from resilient_stack.components.stack_config import (
    StackConfigError,
    load_stack_file,
    parse_stack_config,
    validate_stack,
)
from resilient_stack.core.rules import DesignRejected
from resilient_stack.hosts import secrets
from resilient_stack.testing.mockrun import run_program

from .conftest import bare_config, stack_file

INSTANCE = "openstack:compute/instance:Instance"


def parse(**changes):
    raw = {**bare_config("production"), **changes}
    return parse_stack_config(raw, "test", stack="test")


def test_production_watches_itself_from_two_sites_and_two_providers():
    cfg = load_stack_file(stack_file("production"))
    assert cfg.monitoring is not None and cfg.monitoring.placements == ("waw", "ik")
    assert {cfg.placement(p).cloud for p in cfg.monitoring.placements} == {"ovh", "infomaniak"}
    assert cfg.primary.name not in cfg.monitoring.placements  # a fire at the primary's is seen from elsewhere


def test_monitoring_on_one_site_is_refused_by_the_placement_rules():
    with pytest.raises(DesignRejected) as exc:
        validate_stack(parse(monitoring={"placements": ["gra"]}))
    assert "single-site" in exc.value.rule_ids
    assert "monitoring" in str(exc.value)


@pytest.mark.parametrize(
    ("changes", "key", "problem"),
    [
        ({"monitoring": {"placements": ["gra", "nowhere"]}}, "monitoring.placements[1]", "not a placement name"),
        ({"monitoring": {"placements": ["gra", "gra"]}}, "monitoring.placements", "each placement once"),
        ({"monitoring": {"placements": []}}, "monitoring.placements", "at least 1"),
        ({"monitoring": None, "alertWebhook": "https://x.example/hook"}, "alertWebhook", "monitoring is not"),
        ({"monitoring": {"placements": ["gra", "waw"]}, "alertWebhook": "ftp://x"}, "alertWebhook", "http://"),
        (
            {
                "monitoring": {
                    "placements": ["gra", "waw"],
                    "email": {
                        "to": ["a@x.example"],
                        "from": "b@x.example",
                        "smarthost": "smtp.x.example:587",
                        "username": "u",
                    },
                }
            },
            "alertSmtpPassword",
            "go together",
        ),
        (
            {
                "monitoring": {
                    "placements": ["gra", "waw"],
                    "email": {"to": ["not an address"], "from": "b@x.example", "smarthost": "smtp.x.example:587"},
                }
            },
            "monitoring.email.to",
            "not an e-mail address",
        ),
        (
            {"monitoring": {"placements": ["gra", "waw"], "thresholds": {"diskPercent": 100}}},
            "monitoring.thresholds.diskPercent",
            "less than or equal to 99",
        ),
    ],
)
def test_bad_monitoring_settings_are_one_line_naming_the_key(changes, key, problem):
    with pytest.raises(StackConfigError) as exc:
        parse(**changes)
    message = str(exc.value)
    assert f"resilient-stack:{key}" in message and problem in message and "\n" not in message


def test_the_receivers_are_secrets_never_in_clear_in_a_stack_file(tmp_path):
    f = tmp_path / "Pulumi.x.yaml"
    text = stack_file("production").read_text() + "  resilient-stack:alertWebhook: https://hooks.example.com/T0KEN\n"
    f.write_text(text)
    with pytest.raises(StackConfigError, match="in clear"):
        load_stack_file(f)
    f.write_text(stack_file("production").read_text() + "  resilient-stack:alertWebhook:\n    secure: v1:AAAA\n")
    assert load_stack_file(f).alert_webhook is None  # encrypted for the engine: this reader needs it not


def test_the_program_seals_the_receivers_to_each_monitoring_host():
    hook = "https://hooks.example.com/T0KEN"
    res = run_program(stack_file("production"), config_overrides={"resilient-stack:alertWebhook": hook})
    hosts = [r for r in res if r.type == INSTANCE and r.inputs["name"].endswith("-mon")]
    assert sorted(h.inputs["name"] for h in hosts) == ["shop-ik-mon", "shop-waw-mon"]
    for h in hosts:
        assert hook not in str(h.inputs["metadata"])  # sealed: ciphertext only
        assert "userData" in h.secret_inputs
    keys = {r.name: r.outputs["result"] for r in res if r.name.endswith("-host-key") and "-mon-" in r.name}
    for h in hosts:
        key = keys[f"{h.name}-host-key"]
        assert hook in secrets.unseal(secrets.joined(h.inputs["metadata"]), key)["alertmanager"]
