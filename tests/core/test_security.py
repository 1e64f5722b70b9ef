"""resilient_stack/security.py (pure) and its place in `resilient-stack audit`."""

import base64
import datetime as dt
import gzip
import json
from datetime import date

import pytest

from resilient_stack.core.resources import ResourceView
from resilient_stack.core.rules import (
    RULE_DESCRIPTIONS,
    RULE_IDS,
    SECURITY_RULE_IDS,
    Exemption,
    RuleConfig,
    default_level,
)
from resilient_stack.core.security import (
    INSTANCE_TYPE,
    SECGROUP_RULE_TYPE,
    check_resource,
    evaluate_security,
    exemption,
)
from resilient_stack.core.userdata import secret_material
from resilient_stack.core.vocabulary import SECRET_SIG, UNKNOWN
from resilient_stack.hosts import cloudinit, pki
from resilient_stack.hosts.document import pack_user_data
from tests import builders as b
from tests.core.test_userdata import gzip_bomb

SSH = {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22}


def rules_of(typ, props):
    return [i.rule for i in check_resource(typ, props)]


def test_registry_lists_security_rules_with_mandatory_defaults():
    assert set(SECURITY_RULE_IDS) <= set(RULE_IDS) and set(RULE_DESCRIPTIONS) == set(RULE_IDS)
    assert {r for r in SECURITY_RULE_IDS if default_level(r) != "mandatory"} == {"unknown-preview-security-rule"}
    assert RuleConfig(levels={"ssh-open-to-world": "advisory"}).level("ssh-open-to-world") == "advisory"


@pytest.mark.parametrize(
    "extra, expected",
    [
        ({"remoteIpPrefix": "0.0.0.0/0"}, ["ssh-open-to-world"]),
        ({"remoteIpPrefix": "::/0"}, ["ssh-open-to-world"]),
        (
            {"remoteIpPrefix": "0.0.0.0/0", "portRangeMin": 0, "portRangeMax": 0},
            ["ssh-open-to-world", "database-open-to-world"],
        ),
        (
            {"protocol": None, "portRangeMin": None, "portRangeMax": None},
            ["ssh-open-to-world", "database-open-to-world"],
        ),
        ({"protocol": "6", "remoteIpPrefix": "0.0.0.0/0"}, ["ssh-open-to-world"]),
        ({"portRangeMin": 3000, "portRangeMax": 6000, "remoteIpPrefix": "0.0.0.0/0"}, ["database-open-to-world"]),
        ({"remoteIpPrefix": "10.0.0.0/8"}, []),
        ({"remoteGroupId": "sg-1"}, []),
        ({"remoteAddressGroupId": "ag-1"}, []),
        ({"remoteIpPrefix": {SECRET_SIG: "x", "ciphertext": "y"}}, ["unknown-security-rule"]),
        ({"direction": "egress"}, []),
        ({"protocol": "icmp", "remoteIpPrefix": "0.0.0.0/0"}, []),
    ],
)
def test_secgroup_rules(extra, expected):
    assert rules_of(SECGROUP_RULE_TYPE, {**SSH, **extra}) == expected


@pytest.mark.parametrize(
    "text",
    [
        "PGPASSWORD=hunter2hunter2 psql",
        "export MYSQL_PWD='s3cr3tpw'",
        "#cloud-config\nusers:\n  - name: app\n    plain_text_passwd: ubuntu123\n",
        "chpasswd:\n  users:\n    - {name: root, password: Tr0ub4dor, type: text}\n",
        '{"db": {"password": "hunter22"}}',
        "repo1-s3-key-secret=abcdEFGH1234",
        "DATABASE_URL=postgresql://app:pa55word@db:5432/app",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
        "api_key: 0123456789abcdef",
    ],
)
def test_secret_material_found(text):
    assert secret_material(text)


@pytest.mark.parametrize(
    "text",
    [
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
    ],
)
def test_secret_material_not_found(text):
    assert secret_material(text) == []


def test_user_data_check_never_shows_the_secret_and_reads_base64():
    issues = check_resource(INSTANCE_TYPE, {"userData": "#!/bin/sh\nexport PGPASSWORD=hunter2hunter2\n"})
    assert [i.rule for i in issues] == ["plaintext-secret-in-user-data"]
    assert "hunter2" not in issues[0].message and "`PGPASSWORD=` (line 2)" in issues[0].message
    b64 = base64.b64encode(b"#!/bin/sh\nexport PGPASSWORD=hunter2hunter2\n").decode()
    assert "base64-decoded" in check_resource(INSTANCE_TYPE, {"userData": b64})[0].message
    for opaque in (
        UNKNOWN,
        "[secret]",
        {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:x"},
        None,
        3,
    ):
        assert check_resource(INSTANCE_TYPE, {"userData": opaque}) == []


def _own_user_data() -> dict[str, str]:
    """What the components hand Nova for a web host and a database member: packed (gzip + base64), holding the host's
    key and its sealed secret document, and no other secret in clear."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    ca = pki.new_ca("t", now=now, seed="tests/core")
    member = pki.issue_member(ca, "db1", ["192.0.2.1"], now=now, seed="tests/core")
    admin = pki.issue_client(ca, pki.ADMIN_CN, label="admin/db1", now=now, seed="tests/core")
    web_doc = cloudinit.web_secret_document(
        ca=ca.cert,
        app_user="app",
        app_passwords=["app-Secret-456"],
        write_token="token-Secret-345",
        migrate_password="migrate-Secret-901",
        app_secrets={"API_KEY": "user-Secret-234"},
    )
    spec = cloudinit.AppSpec(image="registry.example.com/shop/web:1.0.0", secret_names=("API_KEY",))
    app_part = cloudinit.app_runtime_section(
        spec=spec,
        version=cloudinit.secrets_version({"API_KEY": "user-Secret-234"}, "token-Secret-345"),
        host="web1",
        placement="gra",
        label="ovh/GRA11",
        placements=["gra"],
        members={"192.0.2.1": "gra"},
        db_hosts=["192.0.2.1"],
        db_port=5432,
        dbname="app",
    )
    db_doc = cloudinit.db_secret_document(
        cloudinit.DbSecrets(
            tls=cloudinit.MemberTls(
                ca=ca.cert, cert=member.cert, key=member.key, admin_cert=admin.cert, admin_key=admin.key
            ),
            replication_password="repl-Secret-123",
            rewind_password="rewind-Secret-789",
            api_password="api-Secret-012",
            etcd_password="etcd-Secret-678",
            app_passwords=("app-Secret-456",),
        ),
        app_user="app",
    )
    web = cloudinit.render_web(
        placement_label="ovh/GRA11",
        https=True,
        host_key=HOST_KEY,
        secrets_doc=web_doc,
        database=cloudinit.AppDatabase(hosts=("192.0.2.1",), dbname="app", user="app"),
        application=spec,
        app_runtime=app_part,
    )
    db = cloudinit.render_db_member(
        name="db1",
        members=[cloudinit.ClusterMember("db1", "192.0.2.1")],
        bootstrap=True,
        scope="t",
        cluster_id="c1u5ter0id0sample",
        host_key=HOST_KEY,
        secrets_doc=db_doc,
        backup=None,
        data_volume_id="5b7c3b2e-8d1f-4c4e-9a57-0f1e2d3c4b5a",
    )
    for text in (web, db):
        assert not [v for v in OWN_SECRETS if v in text], "secrets travel sealed, never in clear"
        assert "PRIVATE KEY" not in text
    return {"web": pack_user_data(web), "db": pack_user_data(db)}


HOST_KEY = "K" * 40 + "0123456789abcdefghijklmn"
OWN_SECRETS = (
    "repl-Secret-123",
    "rewind-Secret-789",
    "api-Secret-012",
    "etcd-Secret-678",
    "app-Secret-456",
    "token-Secret-345",
    "migrate-Secret-901",
    "user-Secret-234",
)


@pytest.mark.parametrize("role", ["web", "db"])
def test_the_projects_own_user_data_passes_as_the_components_pass_it_and_needs_its_secret(role):
    packed = _own_user_data()[role]
    assert not packed.startswith("#") and len(packed) < 65535
    # as the components pass it (a Pulumi secret), or unknown at preview, or redacted: nothing to report
    for opaque in ({SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:x"}, UNKNOWN, "[secret]"):
        assert check_resource(INSTANCE_TYPE, {"userData": opaque}) == []
    # in clear it would give away the host's key, which unseals the host's secrets in its metadata: read through
    # the gzip + base64, and named without the key
    (issue,) = check_resource(INSTANCE_TYPE, {"userData": packed})
    assert issue.rule == "plaintext-secret-in-user-data"
    assert "the secret file `/etc/resilient-stack/host.key`" in issue.message
    assert "of the gzip+base64-unpacked text" in issue.message
    assert HOST_KEY not in issue.message and "\n" not in issue.message


@pytest.mark.parametrize(
    "user_data",
    [
        '#cloud-config\nchpasswd: {list: "debian:Hunter2-pw-0123"}\n',
        "#cloud-config\nchpasswd:\n  list: |\n    root:RANDOM\n    debian:Hunter2-pw-0123\n",
        "#cloud-config\nchpasswd:\n  list:\n    - debian:Hunter2-pw-0123\n",
        "#cloud-config\nwrite_files:\n- path: /srv/app/.pgpass\n  content: |\n    db:5432:app:app:Hunter2-pw-0123\n",
        "#!/bin/sh\necho 'db:5432:app:app:Hunter2-pw-0123' > /root/.pgpass\n",
        "*:*:*:replicator:Hunter2-pw-0123\n",
    ],
)
@pytest.mark.parametrize("packing", ["plain", "base64", "gzip+base64", "gzip+base64 in lines"])
def test_the_reviews_missed_shapes_are_found_however_packed(user_data, packing):
    """Review finding L8: chpasswd lists, .pgpass lines and gzip+base64 user data went through unflagged."""
    packed = {
        "plain": user_data,
        "base64": base64.b64encode(user_data.encode()).decode(),
        "gzip+base64": pack_user_data(user_data),
        "gzip+base64 in lines": "\n".join(
            pack_user_data(user_data)[i : i + 76] for i in range(0, len(pack_user_data(user_data)), 76)
        ),
    }[packing]
    (issue,) = check_resource(INSTANCE_TYPE, {"userData": packed})
    assert issue.rule == "plaintext-secret-in-user-data" and "Hunter2" not in issue.message
    assert (
        ("`chpasswd` list entry" in issue.message)
        or (".pgpass line" in issue.message)
        or ("secret file" in issue.message)
    ), issue.message
    if packing.startswith("gzip"):
        assert "gzip+base64-unpacked" in issue.message


@pytest.mark.parametrize(
    "packed, why",
    [
        (base64.b64encode(gzip.compress(b"#cloud-config\n" + b" " * (2 << 20))).decode(), "more than 1048576 bytes"),
        (gzip_bomb(64 << 20), "more than 1048576 bytes"),  # 64 MiB of zeros in 64 KiB
        (base64.b64encode(b"\x1f\x8b" + b"\x00" * 64).decode(), "cannot be unpacked"),
        (
            base64.b64encode(gzip.compress(b"#cloud-config\npackages: [nginx]\n" * 50)[:-9]).decode(),
            "cannot be unpacked",
        ),
    ],
)
def test_packed_user_data_that_cannot_be_read_is_a_finding_never_a_pass(packed, why):
    (issue,) = check_resource(INSTANCE_TYPE, {"userData": packed})
    assert issue.rule == "plaintext-secret-in-user-data"
    assert "could not be read" in issue.message and why in issue.message and "\n" not in issue.message


@pytest.mark.parametrize(
    "user_data",
    [
        "#cloud-config\npackages: [nginx]\n",
        "#cloud-config\nchpasswd: {list: 'root:RANDOM'}\n",
        "#cloud-config\nwrite_files:\n- path: /etc/resilient-stack/secrets.sealed\n  content: " + "Ab-_" * 40 + "\n",
    ],
)
def test_clean_user_data_packed_or_not_is_quiet(user_data):
    for packed in (user_data, base64.b64encode(user_data.encode()).decode(), pack_user_data(user_data)):
        assert check_resource(INSTANCE_TYPE, {"userData": packed}) == []


def test_odd_shapes_never_crash():
    for props in (
        None,
        [],
        {"direction": ["ingress"]},
        {"direction": "ingress", "portRangeMin": "x"},
        {"direction": "ingress", "remoteIpPrefix": 7},
        {"userData": {"a": 1}},
    ):
        check_resource(SECGROUP_RULE_TYPE, props)
        check_resource(INSTANCE_TYPE, props)


def test_evaluate_security_levels_and_exemptions():
    rule = ResourceView(b.urn(SECGROUP_RULE_TYPE, "ssh"), SECGROUP_RULE_TYPE, {**SSH, "remoteIpPrefix": "0.0.0.0/0"})
    bastion = ResourceView(
        b.urn(SECGROUP_RULE_TYPE, "b"),
        SECGROUP_RULE_TYPE,
        {**SSH, "description": "bastion; resilient-stack:exempt=public bastion (RISK-7)"},
    )
    allow = RuleConfig(exemptions=(Exemption("public bastion (RISK-7)", "sec-team", date(2999, 1, 1)),))
    (f, g) = evaluate_security([rule, bastion], allow)
    assert f.blocking and f.resources == (rule.urn,) and f.message.startswith("`ssh` (networking/secGroupRule): ")
    assert g.exempted == "public bastion (RISK-7)" and not g.blocking
    assert all(x.blocking for x in evaluate_security([rule, bastion]))  # no organisation settings: not honoured
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


# ---- the union of a security group's rules (issue 18, point 6) ---------------------------------------------


def _rule(name, prefix, group="sg-1", **extra):
    props = {**SSH, "securityGroupId": group, **extra}
    if prefix is not None:
        props["remoteIpPrefix"] = prefix
    return ResourceView(b.urn(SECGROUP_RULE_TYPE, name), SECGROUP_RULE_TYPE, props)


def test_two_halves_of_the_internet_and_two_slash_8s_are_world_open_together():
    (f,) = evaluate_security([_rule("a", "0.0.0.0/1"), _rule("b", "128.0.0.0/1")])
    assert (
        f.rule == "ssh-open-to-world"
        and f.blocking
        and set(f.resources) == {_rule("a", None).urn, _rule("b", None).urn}
    )
    (g,) = evaluate_security([_rule("a", "11.0.0.0/8"), _rule("b", "12.0.0.0/8")])
    assert "together open TCP 22 (SSH) to 11.0.0.0/8, 12.0.0.0/8" in g.message and len(g.resources) == 2
    assert evaluate_security([_rule("a", "11.0.0.0/8"), _rule("b", "12.0.0.0/8", group="sg-2")]) == ()
    private = [_rule(n, p) for n, p in (("a", "10.0.0.0/8"), ("b", "172.16.0.0/12"), ("c", "192.168.0.0/16"))]
    assert evaluate_security(private) == ()
    # only the rules that admit public addresses are named; a restricted one is not
    (h,) = evaluate_security([_rule("a", "0.0.0.0/1"), _rule("b", "128.0.0.0/1"), _rule("c", "10.1.0.0/16")])
    assert len(h.resources) == 2


def test_a_rule_of_a_group_created_in_the_same_run_is_grouped_by_its_dependency():
    g = b.urn("openstack:networking/secGroup:SecGroup", "web")
    views = [
        v._replace(inputs={**v.inputs, "securityGroupId": UNKNOWN}, deps={"securityGroupId": [g]})
        for v in (_rule("a", "11.0.0.0/8"), _rule("b", "12.0.0.0/8"))
    ]
    assert [f.rule for f in evaluate_security(views)] == ["ssh-open-to-world"]


@pytest.mark.parametrize(
    "extra, unknown",
    [
        ({"remoteIpPrefix": {SECRET_SIG: "x", "ciphertext": "y"}}, "remoteIpPrefix is a secret"),
        ({"remoteIpPrefix": "[secret]"}, "remoteIpPrefix is a redacted secret"),
        ({"remoteIpPrefix": "any"}, "remoteIpPrefix 'any' is not a network"),
        ({"remoteIpPrefix": "0.0.0.0/0", "protocol": {SECRET_SIG: "x"}}, "protocol is a secret"),
    ],
)
def test_unreadable_values_on_a_rule_that_may_open_a_sensitive_port_fail_closed(extra, unknown):
    (f,) = evaluate_security([ResourceView(b.urn(SECGROUP_RULE_TYPE, "r"), SECGROUP_RULE_TYPE, {**SSH, **extra})])
    assert f.rule == "unknown-security-rule" and f.blocking and unknown in f.message, f.message


@pytest.mark.parametrize(
    "extra, unknown",
    [
        ({"remoteIpPrefix": UNKNOWN}, "remoteIpPrefix is unknown until the resource is created"),
        ({"remoteIpPrefix": "0.0.0.0/0", "portRangeMin": UNKNOWN, "portRangeMax": UNKNOWN}, "portRangeMin is unknown"),
        ({"remoteIpPrefix": "0.0.0.0/0", "direction": UNKNOWN}, "direction is unknown"),
    ],
)
def test_values_unknown_at_preview_are_listed_and_decided_once_known(extra, unknown):
    (f,) = evaluate_security([ResourceView(b.urn(SECGROUP_RULE_TYPE, "r"), SECGROUP_RULE_TYPE, {**SSH, **extra})])
    assert f.rule == "unknown-preview-security-rule" and f.level == "advisory" and unknown in f.message, f.message
    (g,) = evaluate_security(
        [ResourceView(b.urn(SECGROUP_RULE_TYPE, "r"), SECGROUP_RULE_TYPE, {**SSH, **extra})],
        RuleConfig(profile="strict"),
    )
    assert g.blocking


def test_unknowns_that_cannot_open_a_sensitive_port_are_quiet():
    for extra in (
        {"remoteIpPrefix": UNKNOWN, "portRangeMin": 443, "portRangeMax": 443},
        {"remoteIpPrefix": UNKNOWN, "protocol": "udp"},
        {"remoteIpPrefix": UNKNOWN, "direction": "egress"},
        {"remoteGroupId": UNKNOWN},
        {"remoteIpPrefix": "10.0.0.0/8", "portRangeMin": UNKNOWN},
    ):
        assert rules_of(SECGROUP_RULE_TYPE, {**SSH, **extra}) == [], extra


def test_a_restricted_rule_with_unknown_ports_is_named_when_it_would_make_the_union_world_open():
    views = [_rule("a", "11.0.0.0/8"), _rule("b", "12.0.0.0/8", portRangeMin=UNKNOWN, portRangeMax=UNKNOWN)]
    (f,) = evaluate_security(views)
    assert f.rule == "unknown-preview-security-rule" and f.resources == (views[1].urn,)


def test_port_security_disabled_on_ports_and_networks(cli, tmp_path):
    assert rules_of("openstack:networking/port:Port", {"portSecurityEnabled": False}) == ["port-security-disabled"]
    assert rules_of("openstack:networking/network:Network", {"portSecurityEnabled": False}) == [
        "port-security-disabled"
    ]
    assert rules_of("openstack:networking/port:Port", {"portSecurityEnabled": True}) == []
    e = b.spread_export()
    gra = e.resources[1]["urn"] + "::" + e.resources[1]["id"]
    e.resource("openstack:networking/port:Port", "vrrp", gra, portSecurityEnabled=False)
    e.resource(SECGROUP_RULE_TYPE, "ssh-a", gra, **SSH, remoteIpPrefix="0.0.0.0/1", securityGroupId="sg")
    e.resource(SECGROUP_RULE_TYPE, "ssh-b", gra, **SSH, remoteIpPrefix="128.0.0.0/1", securityGroupId="sg")
    r = cli("audit", str(e.write(tmp_path / "export.json")), "--format", "json")
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and {f["rule"] for f in doc["findings"]} == {"port-security-disabled", "ssh-open-to-world"}
    ssh = next(f for f in doc["findings"] if f["rule"] == "ssh-open-to-world")
    assert len(ssh["resources"]) == 2
