"""resilient_stack.components.stack_config: the stack configuration, its one-line errors, and the design it becomes."""

from __future__ import annotations

import json

import pytest
import yaml
from pydantic import ValidationError

from resilient_stack.components.stack_config import (
    NAMESPACE,
    StackConfig,
    StackConfigError,
    check_design,
    decode_engine_values,
    default_name,
    load_stack_file,
    parse_stack_config,
    validate_stack,
)
from resilient_stack.core.rules import DesignRejected, evaluate

from .conftest import ROOT, bare_config, stack_file


def parse(raw: dict) -> StackConfig:
    return parse_stack_config(raw, "test", stack="test")


# --------------------------------------------------------------------------------------------------
# the shipped stacks
# --------------------------------------------------------------------------------------------------


def test_production_becomes_the_audited_design():
    cfg = load_stack_file(stack_file("production"))
    design = cfg.to_design()
    assert [(p.name, p.region) for p in design.placements] == [("gra", "GRA11"), ("waw", "WAW1"), ("ik", "dc4-a")]
    replicas = {p.name: p.replicas for p in design.placements}
    assert replicas["gra"] == {"web": 2, "database": 1}  # no object storage: the stack creates none of its own
    assert replicas["ik"] == {"web": 1, "database": 1, "monitoring": 1, "dns": 1}  # monitoring: WAW1 and dc4-a
    assert replicas["waw"] == {"web": 2, "database": 1, "monitoring": 1, "dns": 1}
    assert all(p.quorum == ("database",) for p in design.placements)
    assert [(b.protects, b.region, b.cloud) for b in design.backups] == [("database", "DE1", "ovh-backups")]
    assert {p.cloud for p in design.placements} == {"ovh", "infomaniak"}  # no member in the backups' project
    assert design.quorum_roles == ("database",)
    report = validate_stack(cfg)
    assert report.verdict == "pass" and not report.findings


def test_staging_passes_with_only_the_advisories_single_provider_and_backup_shares_project():
    report = validate_stack(load_stack_file(stack_file("staging")))
    assert report.verdict == "pass"
    assert {f.rule for f in report.findings} == {"single-provider", "backup-shares-project"}
    assert all(f.level == "advisory" for f in report.findings)
    (shared,) = [f for f in report.findings if f.rule == "backup-shares-project"]
    assert shared.resources == ("backups/backup/database",)
    assert shared.message.startswith(
        "the only backup of `database` is in a project that also holds `database` replicas: "
        "backups/backup/database (DE1) is in clouds.yaml entry `ovh`, which also holds gra/database/1 (GRA11), "
        "waw/database/1 (WAW1), uk/database/1 (UK1); "
    )


def test_strict_profile_turns_the_advisories_into_a_refusal():
    raw = bare_config("staging")
    raw["profile"] = "strict"
    with pytest.raises(DesignRejected) as err:
        validate_stack(parse(raw))
    assert err.value.rule_ids == ["backup-shares-project", "single-provider"]


def test_production_with_its_backups_in_the_members_project_gets_the_advisory():
    raw = bare_config("production")
    raw["backups"]["cloud"] = "ovh"
    report = validate_stack(parse(raw))
    assert report.verdict == "pass"
    assert [(f.rule, f.level) for f in report.findings] == [("backup-shares-project", "advisory")]
    assert "is in clouds.yaml entry `ovh`, which also holds gra/database/1 (GRA11), waw/database/1 (WAW1);" in (
        report.findings[0].message
    )  # not the Infomaniak member: another provider, another Keystone


def test_sbg2021_is_refused_naming_single_site_and_backup_colocated():
    with pytest.raises(DesignRejected) as err:
        validate_stack(load_stack_file(stack_file("sbg2021")))
    assert {"single-site", "backup-colocated"} <= set(err.value.rule_ids)
    text = str(err.value)
    assert "Strasbourg" in text and "[mandatory] single-site" in text and "[mandatory] backup-colocated" in text


def test_check_design_is_the_auditors_evaluation():
    cfg = load_stack_file(stack_file("sbg2021"))
    design = cfg.to_design()
    catalog = cfg.catalog()
    audited = evaluate(design.placements_for(catalog), cfg.rule_config(), catalog)
    with pytest.raises(DesignRejected) as err:
        check_design(design, cfg.rule_config(), catalog)
    assert [f for f in audited.findings if f.blocking] == err.value.findings


def test_exemption_waives_a_finding_and_is_kept_in_the_report():
    raw = bare_config("sbg2021")
    for p in raw["placements"]:
        p["exempt"] = "lab replay, no real data"
    raw["backups"]["exempt"] = "lab replay, no real data"
    with pytest.raises(DesignRejected):  # the organisation's settings do not allow it
        validate_stack(parse(raw))
    raw["policy"] = {"exemptions": [{"reason": "lab replay, no real data", "owner": "drills", "expires": "2999-12-31"}]}
    report = validate_stack(parse(raw))
    assert report.verdict == "pass"
    assert {f.rule for f in report.findings} >= {"single-site", "backup-colocated"}
    assert all(f.exempted == "lab replay, no real data" for f in report.findings if f.level == "mandatory")


def test_policy_catalog_maps_a_custom_cloud_name():
    raw = bare_config("production")
    raw["placements"][0]["cloud"] = "my-ovh-project"
    with pytest.raises(DesignRejected) as err:
        validate_stack(parse(raw))
    assert "unknown-placement" in err.value.rule_ids
    raw["policy"] = {"catalog": {"providers": [{"id": "ovhcloud", "clouds": ["my-ovh-project"]}]}}
    assert validate_stack(parse(raw)).verdict == "pass"


def test_defaults():
    raw = bare_config("staging")
    cfg = parse_stack_config(raw, "test", stack="Staging.EU")
    assert cfg.name == "rs-staging-eu"
    p = cfg.placements[0]
    assert p.external_network == "Ext-Net" and p.effective_database_flavor == p.flavor
    assert not p.load_balancer and p.exempt is None
    assert cfg.backups.name == "backups" and cfg.backup_container == "rs-staging-eu-pgbackrest"
    assert cfg.backups.uri_style == "path" and cfg.backups.retain_on_delete is True
    assert cfg.database.app_user == "app" and cfg.database.password_length == 32
    assert cfg.web.title == "Resilient Stack" and cfg.web.https is False
    assert cfg.dns is None and cfg.ssh_public_key is None
    assert default_name(None) == "rs" and default_name("A very long stack name indeed") == "rs-a-very-long-stack-nam"


def test_models_are_frozen():
    cfg = load_stack_file(stack_file("production"))
    with pytest.raises(ValidationError, match="frozen"):
        cfg.name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# one-line errors naming the key
# --------------------------------------------------------------------------------------------------


def _set(path: str, value):
    def edit(raw: dict) -> None:
        node = raw
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        last = parts[-1]
        if value is _DELETE:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return edit


_DELETE = object()

BAD = [
    ("placements", _DELETE, "resilient-stack:placements: is required"),
    ("backups", _DELETE, "resilient-stack:backups: is required"),
    ("placements.1.privateCidr", "10.10.2.1/24", "resilient-stack:placements[1].privateCidr:"),
    ("placements.1.privateCidr", "8.8.8.0/24", "not a private"),
    ("placements.1.privateCidr", "10.10.1.128/25", "overlaps placements[0].privateCidr"),
    ("placements.0.webcount", 3, "resilient-stack:placements[0].webcount: unknown key"),
    ("adminCidr", ["10.0.0.0/8"], "resilient-stack:adminCidr: unknown key"),
    ("placements.0.databaseRole", "leader", "resilient-stack:placements[0].databaseRole:"),
    ("placements.1.databaseRole", "primary", "exactly one placement must have databaseRole: primary, found 2"),
    ("placements.0.databaseRole", "replica", "found 0"),
    ("placements.0.webCount", -1, "resilient-stack:placements[0].webCount:"),
    (
        "placements.2.name",
        "gra",
        "resilient-stack:placements[2].name: placement name 'gra' is already used by placements[0]",
    ),
    ("placements.0.name", "GRA", "resilient-stack:placements[0].name:"),
    (
        "placements.0.loadBalancer",
        True,
        "resilient-stack:placements[0].floatingNetworkId: is required when loadBalancer",
    ),
    ("placements.0.floatingNetworkId", "ext-net", "resilient-stack:placements[0].floatingNetworkId:"),
    ("adminCidrs", ["0.0.0.0/0"], "resilient-stack:adminCidrs: '0.0.0.0/0' would open SSH"),
    ("adminCidrs", ["bad"], "resilient-stack:adminCidrs:"),
    ("adminCidrs", ["::/0"], "resilient-stack:adminCidrs: '::/0' would open SSH to the whole Internet"),
    (
        "adminCidrs",
        ["10.0.0.0/8", "198.51.100.0/24"],
        "resilient-stack:adminCidrs: '198.51.100.0/24' is in or overlaps 198.51.100.0/24 (RFC 5737), a range reserved "
        "for documentation",
    ),
    ("adminCidrs", ["192.0.2.7/32"], "'192.0.2.7/32' is in or overlaps 192.0.2.0/24 (RFC 5737)"),
    ("adminCidrs", ["203.0.113.128/25"], "'203.0.113.128/25' is in or overlaps 203.0.113.0/24 (RFC 5737)"),
    ("adminCidrs", ["198.51.0.0/16"], "'198.51.0.0/16' is in or overlaps 198.51.100.0/24 (RFC 5737)"),
    ("adminCidrs", ["2001:db8:1::/48"], "'2001:db8:1::/48' is in or overlaps 2001:db8::/32 (RFC 3849)"),
    ("adminCidrs", ["2001::/16"], "'2001::/16' is in or overlaps 2001:db8::/32 (RFC 3849)"),
    ("adminCidrs", ["3fff:123::/32"], "'3fff:123::/32' is in or overlaps 3fff::/20 (RFC 9637)"),
    ("sshPublicKey", "not a key", "resilient-stack:sshPublicKey:"),
    ("backups.s3Endpoint", "https://s3.de.cloud.ovh.net", "resilient-stack:backups.s3Endpoint:"),
    (
        "backups.s3Endpoint",
        "s3.de.cloud.ovh.net:99999",
        "resilient-stack:backups: BackupRepository.endpoint has an invalid port",
    ),
    ("backups.name", "gra", "resilient-stack:backups.name: 'gra' is also a placement name"),
    (
        "backups.schedule",
        {"differential": "daily; reboot"},
        "resilient-stack:backups.schedule: BackupSchedule.diff must be a systemd OnCalendar expression",
    ),
    ("backups.schedule", {"incremental": "hourly"}, "resilient-stack:backups.schedule.incremental: unknown key"),
    ("backups.schedule.jitterMinutes", 721, "resilient-stack:backups.schedule.jitterMinutes:"),
    ("web", {"serverName": "bad name!"}, "resilient-stack:web:"),
    ("web", {"selfSigned": True}, "resilient-stack:web: selfSigned is true but https is not"),
    (
        "web",
        {"https": True, "serverName": "shop.example.org", "selfSigned": True},
        "resilient-stack:web: selfSigned is true but serverName 'shop.example.org' is a DNS name",
    ),
    ("dns", {"zoneId": "abc", "name": "www.example.com.", "placement": "nowhere"}, "resilient-stack:dns.placement:"),
    ("dns", {"zoneId": "abc", "name": "www.example.com"}, "resilient-stack:dns.name:"),
    ("database", {"replicationCidrs": ["0.0.0.0/0"]}, "resilient-stack:database.replicationCidrs:"),
    ("database", {"appUser": "replicator"}, "resilient-stack:database.replicationUser: must differ"),
    ("name", "Shop", "resilient-stack:name:"),
    ("profile", "lenient", "resilient-stack:profile:"),
    ("policy", {"min_sites": 0}, "resilient-stack:policy.min_sites:"),
]


@pytest.mark.parametrize("path,value,expected", BAD, ids=[f"{p}={v!r}"[:60] for p, v, _ in BAD])
def test_bad_config_is_one_line_naming_the_key(path, value, expected):
    raw = bare_config("production")
    _set(path, value)(raw)
    with pytest.raises(StackConfigError) as err:
        parse(raw)
    assert expected in str(err.value)
    assert "Value error" not in str(err.value)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("test: resilient-stack:")
    assert err.value.key.startswith(f"{NAMESPACE}:")


@pytest.mark.parametrize(
    "cidrs",
    [
        ["198.18.0.0/15"],  # RFC 2544 benchmarking: the tests' and the drill's addresses
        ["192.0.3.0/24", "198.51.101.0/24", "203.0.112.0/24"],  # the documentation ranges' neighbours
        ["10.0.0.0/8", "fd00:1::/48", "2001:db9::/32", "3fff:1234::/32"],
    ],
)
def test_admin_networks_next_to_the_documentation_ranges_are_accepted(cidrs):
    raw = bare_config("production")
    raw["adminCidrs"] = cidrs
    assert parse(raw).admin_cidrs == tuple(cidrs)


def test_https_without_a_dns_name_is_valid_config_and_self_signed_is_its_explicit_acceptance():
    """What `pulumi up` refuses (components.readiness) is not a configuration error: a preview renders it."""
    raw = bare_config("production")
    assert {k: v for k, v in raw["web"].items() if k != "app"} == {
        "title": "Shop",
        "https": True,
    }  # the shipped production stack: no DNS name yet
    web = parse(raw).web
    assert web.self_signed is False and web.dns_names is None
    assert "is not set and web.https is on" in web.certificate_problem()
    raw["web"]["selfSigned"] = True
    assert parse(raw).web.certificate_problem() is None
    raw["web"] = {"https": True, "serverName": "shop.example.org www.shop.example.org"}
    assert parse(raw).web.dns_names == ["shop.example.org", "www.shop.example.org"]
    assert parse(raw).web.certificate_problem() is None
    raw["web"] = {"https": True, "serverName": "203.0.113.5"}  # an address: nothing to certify
    assert "'203.0.113.5' holds no DNS name to certify" in parse(raw).web.certificate_problem("my-shop")
    assert "pulumi config set --path 'my-shop:web.serverName'" in parse(raw).web.certificate_problem("my-shop")
    raw["web"] = {"https": False}
    assert parse(raw).web.certificate_problem() is None


def test_no_shipped_stack_file_names_a_documentation_range():
    """The configuration refuses them in adminCidrs; nowhere else in a template would they mean anything either."""
    for f in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        for doc in ("192.0.2.", "198.51.100.", "203.0.113.", "2001:db8", "3fff:"):
            assert doc not in f.read_text(), (f.name, doc)


def test_several_problems_are_counted_not_listed():
    raw = bare_config("production")
    raw["placements"][0]["webCount"] = -1
    raw["placements"][1]["privateCidr"] = "nope"
    with pytest.raises(StackConfigError, match=r"\(and 1 more problem\)$"):
        parse(raw)


def test_not_a_mapping():
    with pytest.raises(StackConfigError, match="must be a mapping"):
        parse_stack_config(["placements"], "test")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# what the engine hands over, and stack files
# --------------------------------------------------------------------------------------------------


def test_engine_strings_are_decoded_by_key_kind():
    raw = bare_config("staging")
    strings = {k: json.dumps(v) for k, v in raw.items()}
    strings["sshPublicKey"] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample you@laptop"
    strings["name"] = "shop"
    decoded = decode_engine_values(strings)
    assert decoded["placements"] == raw["placements"]
    assert decoded["sshPublicKey"].startswith("ssh-ed25519 ")
    cfg = parse(decoded)
    assert cfg.name == "shop" and cfg.ssh_public_key is not None


def test_engine_string_that_is_not_structured_names_the_key():
    with pytest.raises(StackConfigError, match=r"resilient-stack:adminCidrs: is not structured config") as err:
        decode_engine_values({"adminCidrs": "10.0.0.0/8, 10.1.0.0/16"})
    assert "\n" not in str(err.value)


def test_encrypted_value_in_a_stack_file_is_refused(tmp_path):
    f = tmp_path / "Pulumi.x.yaml"
    f.write_text(yaml.safe_dump({"config": {"resilient-stack:sshPublicKey": {"secure": "v1:abc"}}}))
    with pytest.raises(StackConfigError, match="encrypted secret"):
        load_stack_file(f)


def test_shipped_stack_files_hold_no_secret_and_only_known_namespaces():
    for f in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        doc = yaml.safe_load(f.read_text())
        assert set(doc) <= {"config"}, f"{f.name}: no encryptionsalt/secretsprovider in a shipped template"
        for key, value in doc["config"].items():
            assert key.split(":", 1)[0] in {NAMESPACE, "openstack", "pulumi"}, key
            assert not (isinstance(value, dict) and "secure" in value), key
        text = f.read_text().lower()
        for word in ("password:", "secret:", "token:", "key_secret"):
            assert word not in text, f"{f.name} mentions {word}"


def test_template_uses_bare_keys_and_its_defaults_make_a_passing_stack():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == NAMESPACE
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert project["stackConfigDir"] == "stacks"
    template = project["template"]
    assert template["description"]
    assert all(":" not in key for key in template["config"])
    defaults = {k: v["default"] for k, v in template["config"].items() if "default" in v}
    cfg = parse(decode_engine_values(defaults))
    assert validate_stack(cfg).verdict == "pass"
