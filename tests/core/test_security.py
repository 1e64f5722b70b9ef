"""resilient_stack/security.py (pure) and its place in `resilient-stack audit`."""

import base64
import json

import pytest

from resilient_stack.core.resources import ResourceView
from resilient_stack.core.rules import (
    RULE_DESCRIPTIONS,
    RULE_IDS,
    SECURITY_RULE_IDS,
    RuleConfig,
    default_level,
)
from resilient_stack.core.security import (
    INSTANCE_TYPE,
    SECGROUP_RULE_TYPE,
    check_resource,
    evaluate_security,
    exemption,
    secret_material,
)
from resilient_stack.core.vocabulary import SECRET_SIG, UNKNOWN
from resilient_stack.hosts import cloudinit
from tests import builders as b

SSH = {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22}


def rules_of(typ, props):
    return [i.rule for i in check_resource(typ, props)]


def test_registry_lists_security_rules_with_mandatory_defaults():
    assert set(SECURITY_RULE_IDS) <= set(RULE_IDS) and set(RULE_DESCRIPTIONS) == set(RULE_IDS)
    assert {default_level(r) for r in SECURITY_RULE_IDS} == {"mandatory"}
    assert RuleConfig(levels={"ssh-open-to-world": "advisory"}).level("ssh-open-to-world") == "advisory"


@pytest.mark.parametrize("extra, expected", [
    ({"remoteIpPrefix": "0.0.0.0/0"}, ["ssh-open-to-world"]),
    ({"remoteIpPrefix": "::/0"}, ["ssh-open-to-world"]),
    ({"remoteIpPrefix": "0.0.0.0/0", "portRangeMin": 0, "portRangeMax": 0}, ["ssh-open-to-world", "database-open-to-world"]),
    ({"protocol": None, "portRangeMin": None, "portRangeMax": None}, ["ssh-open-to-world", "database-open-to-world"]),
    ({"protocol": "6", "remoteIpPrefix": "0.0.0.0/0"}, ["ssh-open-to-world"]),
    ({"portRangeMin": 3000, "portRangeMax": 6000, "remoteIpPrefix": "0.0.0.0/0"}, ["database-open-to-world"]),
    ({"remoteIpPrefix": "10.0.0.0/8"}, []),
    ({"remoteGroupId": "sg-1"}, []),
    ({"remoteAddressGroupId": "ag-1"}, []),
    ({"remoteIpPrefix": {SECRET_SIG: "x", "ciphertext": "y"}}, []),
    ({"direction": "egress"}, []),
    ({"protocol": "icmp", "remoteIpPrefix": "0.0.0.0/0"}, []),
])
def test_secgroup_rules(extra, expected):
    assert rules_of(SECGROUP_RULE_TYPE, {**SSH, **extra}) == expected


@pytest.mark.parametrize("text", [
    "PGPASSWORD=hunter2hunter2 psql",
    "export MYSQL_PWD='s3cr3tpw'",
    "#cloud-config\nusers:\n  - name: app\n    plain_text_passwd: ubuntu123\n",
    "chpasswd:\n  users:\n    - {name: root, password: Tr0ub4dor, type: text}\n",
    '{"db": {"password": "hunter22"}}',
    "repo1-s3-key-secret=abcdEFGH1234",
    "DATABASE_URL=postgresql://app:pa55word@db:5432/app",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
    "api_key: 0123456789abcdef",
])
def test_secret_material_found(text):
    assert secret_material(text)


@pytest.mark.parametrize("text", [
    "PasswordAuthentication no\nPermitEmptyPasswords no\n",
    "password_encryption = 'scram-sha-256'",
    "ssh_pwauth: false\nlock_passwd: true\n",
    "users:\n  - passwd: $6$rounds=4096$saltsalt$hashhashhash\n",
    'PGPASSWORD="$(cat /etc/resilient-stack/secrets/app_password)" psql',
    "password: ${DB_PASSWORD}\ntoken: {{ vault_token }}\n",
    "password_file: /etc/secret\nSECRETS_DIR=/etc/resilient-stack/secrets\n",
    "cd $PWD && OLDPWD=/tmp\nPWD=/root\n",
    "url: https://example.org/path\nhttp://mirror.example:8080/debian\n",
    "password:\n  - nested\n",
])
def test_secret_material_not_found(text):
    assert secret_material(text) == []


def test_user_data_check_never_shows_the_secret_and_reads_base64():
    issues = check_resource(INSTANCE_TYPE, {"userData": "#!/bin/sh\nexport PGPASSWORD=hunter2hunter2\n"})
    assert [i.rule for i in issues] == ["plaintext-secret-in-user-data"]
    assert "hunter2" not in issues[0].message and "`PGPASSWORD=` (line 2)" in issues[0].message
    b64 = base64.b64encode(b"#!/bin/sh\nexport PGPASSWORD=hunter2hunter2\n").decode()
    assert "base64-decoded" in check_resource(INSTANCE_TYPE, {"userData": b64})[0].message
    for opaque in (UNKNOWN, "[secret]", {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:x"}, None, 3):
        assert check_resource(INSTANCE_TYPE, {"userData": opaque}) == []


def test_the_projects_own_web_user_data_is_clean_and_db_user_data_needs_a_secret():
    assert check_resource(INSTANCE_TYPE, {"userData": cloudinit.render_web(placement_label="ovh/GRA11", https=True)}) == []
    db = cloudinit.render_db_member(
        name="db1", members=[cloudinit.ClusterMember("db1", "192.0.2.1")], bootstrap=True, scope="t",
        replication_password="repl-Secret-123", rewind_password="rewind-Secret-789", api_password="api-Secret-012",
        app_password="app-Secret-456", backup=None)
    assert "repl-Secret-123" in db  # cloud-init must carry it: so the component wraps it in a Pulumi secret
    secret = {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:x"}
    assert check_resource(INSTANCE_TYPE, {"userData": secret}) == []


def test_odd_shapes_never_crash():
    for props in (None, [], {"direction": ["ingress"]}, {"direction": "ingress", "portRangeMin": "x"},
                  {"direction": "ingress", "remoteIpPrefix": 7}, {"userData": {"a": 1}}):
        check_resource(SECGROUP_RULE_TYPE, props)
        check_resource(INSTANCE_TYPE, props)


def test_evaluate_security_levels_and_exemptions():
    rule = ResourceView(b.urn(SECGROUP_RULE_TYPE, "ssh"), SECGROUP_RULE_TYPE, {**SSH, "remoteIpPrefix": "0.0.0.0/0"})
    bastion = ResourceView(b.urn(SECGROUP_RULE_TYPE, "b"), SECGROUP_RULE_TYPE,
                           {**SSH, "description": "bastion; resilient-stack:exempt=public bastion (RISK-7)"})
    (f, g) = evaluate_security([rule, bastion])
    assert f.blocking and f.resources == (rule.urn,) and f.message.startswith("`ssh` (networking/secGroupRule): ")
    assert g.exempted == "public bastion (RISK-7)" and not g.blocking
    assert exemption(bastion) == "public bastion (RISK-7)"
    assert evaluate_security([rule], RuleConfig(levels={"ssh-open-to-world": "disabled"})) == ()
    assert evaluate_security([rule], RuleConfig(levels={"ssh-open-to-world": "advisory"}))[0].level == "advisory"


def _export_with_security():
    e = b.spread_export()
    gra = e.resources[1]["urn"] + "::" + e.resources[1]["id"]
    e.resource(SECGROUP_RULE_TYPE, "ssh-world", gra, **SSH, remoteIpPrefix="0.0.0.0/0")
    e.resource(b.INSTANCE, "db-x", gra, role="database", userData="PGPASSWORD=hunter2hunter2")
    return e


def test_audit_reports_security_findings_on_exports_and_previews(cli, tmp_path):
    e = _export_with_security()
    export = e.write(tmp_path / "export.json")
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps(b.preview_of(e)))
    for path in (export, preview):
        r = cli("audit", str(path), "--format", "json")
        assert r.returncode == 1, r.stderr
        doc = json.loads(r.stdout)
        assert doc["verdict"] == "fail"
        assert {f["rule"] for f in doc["findings"]} == {"ssh-open-to-world", "plaintext-secret-in-user-data"}
        assert all(f["role"] is None and len(f["resources"]) == 1 for f in doc["findings"])
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("levels: {ssh-open-to-world: advisory, plaintext-secret-in-user-data: disabled}\n")
    r = cli("audit", str(export), "--config", str(cfg), "--format", "json")
    assert r.returncode == 0 and [f["rule"] for f in json.loads(r.stdout)["findings"]] == ["ssh-open-to-world"]


def test_security_findings_in_sarif_junit_and_text(cli, tmp_path):
    export = _export_with_security().write(tmp_path / "export.json")
    sarif = json.loads(cli("audit", str(export), "--format", "sarif").stdout)
    driver_rules = [r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]]
    assert driver_rules == list(RULE_IDS)
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"ssh-open-to-world", "plaintext-secret-in-user-data"}
    assert b'name="ssh-open-to-world"' in cli("audit", str(export), "--format", "junit").stdout
    text = cli("audit", str(export)).stdout.decode()
    assert "ssh-open-to-world" in text and "FAIL" in text
