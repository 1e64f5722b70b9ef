"""Unit tests of resilient_stack.hosts.cloudinit: structure, secrets, determinism, validation errors, and every
rendered document checked against cloud-init's OWN schema (Debian bookworm's cloud-init 22.4).

The schema check runs cloud-init's ``cloudinit.config.schema`` from a copy extracted by
``scripts/fetch-cloud-init-schema.sh`` (``apt-get download`` + ``dpkg-deb -x``; nothing is installed). Its
Python needs PyYAML, jsonschema, configobj, jsonpatch and requests. When that copy is missing the schema
tests are skipped -- or FAIL when ``RESILIENT_STACK_REQUIRE_TOOLS=1`` (as in CI).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from resilient_stack.hosts import cloudinit as ci
from resilient_stack.hosts.cloudinit import BackupTarget

REPO = Path(__file__).resolve().parents[2]
FETCH_SCRIPT = REPO / "scripts" / "fetch-cloud-init-schema.sh"
REQUIRE_TOOLS = os.environ.get("RESILIENT_STACK_REQUIRE_TOOLS") == "1"

REPL_PW = "Repl:pass\\word-0123456789"
APP_PW = "App's \"pw\" $(id) `x` #1 0123"
S3_SECRET = "S3-secret-key/abcdefXYZ+0123"
CIPHER = "cipher-passphrase-0123456789"
CIDRS = ["10.20.0.0/24", "fd00:20::/64"]

BACKUP = BackupTarget(
    endpoint="s3.gra.io.cloud.ovh.net",
    bucket="rs-backups-waw",
    region="gra",
    key_id="AKIAEXAMPLE",
    key_secret=S3_SECRET,
    cipher_pass=CIPHER,
)
SECRETS = (REPL_PW, APP_PW, S3_SECRET, CIPHER)


def web(**kw):
    kw.setdefault("placement_label", "ovh/GRA/GRA11")
    return ci.render_web(**kw)


def primary(**kw):
    kw.setdefault("replication_password", REPL_PW)
    kw.setdefault("app_password", APP_PW)
    kw.setdefault("allowed_cidrs", CIDRS)
    kw.setdefault("backup", BACKUP)
    return ci.render_db_primary(**kw)


def replica(**kw):
    kw.setdefault("primary_host", "10.20.0.5")
    kw.setdefault("replication_password", REPL_PW)
    kw.setdefault("allowed_cidrs", CIDRS)
    kw.setdefault("backup", BACKUP)
    return ci.render_db_replica(**kw)


DOCS = {
    "web": lambda: web(),
    "web-https": lambda: web(https=True, app_title="Shop <&>", hostname="web-gra-1",
                             ssh_authorized_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host"]),
    "primary-backup": lambda: primary(),
    "primary-nobackup": lambda: primary(backup=None, app_cidrs=[]),
    "replica-backup": lambda: replica(),
    "replica-nobackup": lambda: replica(backup=None, primary_host="db-primary.internal", wait_attempts=3),
}


def load(text: str) -> dict:
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def files(doc: dict) -> dict[str, dict]:
    return {f["path"]: f for f in doc["write_files"]}


def runcmd_text(doc: dict) -> str:
    return json.dumps(doc.get("runcmd", []))


# --------------------------------------------------------------------------------------------------
# common properties
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_header_yaml_and_determinism(kind):
    a, b = DOCS[kind](), DOCS[kind]()
    assert a == b
    doc = load(a)
    assert doc["ssh_pwauth"] is False and doc["disable_root"] is True
    assert doc["package_update"] is True and doc["package_upgrade"] is False


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_nothing_fetched_beyond_debian_apt(kind):
    doc = load(DOCS[kind]())
    assert not {"apt", "snap", "bootcmd"} & set(doc), "no extra apt sources, snaps or boot hooks"
    text = runcmd_text(doc) + json.dumps([f["content"] for f in doc["write_files"]])
    for bad in ("curl ", "wget ", "| sh", "|sh", "http://", "add-apt-repository"):
        if bad == "http://" and kind.startswith("web"):
            continue  # nginx config and the redirect mention URLs, fetch nothing
        assert bad not in text, bad


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_sshd_hardened(kind):
    f = files(load(DOCS[kind]()))[ci.SSHD_DROPIN]
    assert "PasswordAuthentication no" in f["content"]
    assert "PermitRootLogin no" in f["content"]


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_runcmd_fails_fast(kind):
    doc = load(DOCS[kind]())
    assert doc["runcmd"][0] == "set -eu"


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_secrets_only_in_private_files(kind):
    text = DOCS[kind]()
    doc = load(text)
    assert not any(s in runcmd_text(doc) for s in SECRETS)
    allowed = {
        ci.REPLICATION_PASSWORD_FILE, ci.APP_PASSWORD_FILE, ci.PGPASS_FILE, ci.PGBACKREST_CONF,
    }
    for f in doc["write_files"]:
        carried = [s for s in SECRETS if s in f["content"] or s.replace("\\", "\\\\").replace(":", "\\:") in f["content"]]
        if carried:
            assert f["path"] in allowed, f["path"]
            assert f["permissions"] in ("0600", "0640"), f
            assert f["owner"] == "postgres:postgres", f
    # the scripts reference the secret files, not their content
    for f in doc["write_files"]:
        if f["content"].startswith("#!"):
            assert not any(s in f["content"] for s in SECRETS)


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_shell_scripts_parse(kind, tmp_path):
    if shutil.which("bash") is None:  # pragma: no cover
        pytest.skip("bash not found")
    for f in load(DOCS[kind]()).get("write_files", []):
        if f["content"].startswith("#!/bin/bash"):
            p = tmp_path / Path(f["path"]).name
            p.write_text(f["content"])
            proc = subprocess.run(["bash", "-n", str(p)], capture_output=True, text=True)
            assert proc.returncode == 0, f"{f['path']}: {proc.stderr}"
            assert f["permissions"] == "0755"


# --------------------------------------------------------------------------------------------------
# web
# --------------------------------------------------------------------------------------------------


def test_web_installs_nginx_and_serves_page_and_healthz():
    doc = load(web(placement_label="ovh/SBG/<SBG5> & co"))
    assert "nginx" in doc["packages"]
    fs = files(doc)
    index = fs[f"{ci.WEB_ROOT}/index.html"]["content"]
    assert "ovh/SBG/&lt;SBG5&gt; &amp; co" in index and "<SBG5>" not in index
    site = fs[ci.NGINX_SITE]
    assert site.get("defer") is True
    assert "location = /healthz" in site["content"] and 'return 200 "ok\\n"' in site["content"]
    assert ["systemctl", "enable", "nginx"] in doc["runcmd"]
    assert ["systemctl", "restart", "nginx"] in doc["runcmd"]
    assert ["rm", "-f", "/etc/nginx/sites-enabled/default"] in doc["runcmd"]
    assert "listen 443" not in site["content"]


def test_web_https_uses_snakeoil_and_keeps_healthz_on_80():
    doc = load(web(https=True))
    assert "ssl-cert" in doc["packages"]
    site = files(doc)[ci.NGINX_SITE]["content"]
    assert "listen 443 ssl" in site and "ssl-cert-snakeoil" in site
    http_block = site.split("listen 443")[0]
    assert "/healthz" in http_block and "return 301 https://" in http_block


def test_web_optional_hostname_and_keys():
    doc = load(DOCS["web-https"]())
    assert doc["hostname"] == "web-gra-1"
    assert doc["ssh_authorized_keys"][0].startswith("ssh-ed25519 ")
    assert "hostname" not in load(web())


# --------------------------------------------------------------------------------------------------
# database primary
# --------------------------------------------------------------------------------------------------


def test_primary_postgres_config_and_hba():
    doc = load(primary())
    assert doc["packages"] == ["postgresql-15", "ssl-cert", "pgbackrest"]
    fs = files(doc)
    conf = fs["/etc/postgresql/15/main/conf.d/50-resilient-stack.conf"]
    assert conf["defer"] is True and conf["owner"] == "postgres:postgres"
    for line in ("wal_level = replica", "ssl = on", "listen_addresses = '*'", "archive_mode = on",
                 "archive_command = 'pgbackrest --stanza=main archive-push %p'"):
        assert line in conf["content"]
    hba = fs["/etc/postgresql/15/main/pg_hba.conf"]
    assert hba["append"] is True and hba["defer"] is True
    rules = [line for line in hba["content"].splitlines() if line and not line.startswith("#")]
    assert rules == [
        "hostssl replication replicator 10.20.0.0/24 scram-sha-256",
        "hostssl replication replicator fd00:20::/64 scram-sha-256",
        "hostssl app app 10.20.0.0/24 scram-sha-256",
        "hostssl app app fd00:20::/64 scram-sha-256",
    ]


def test_primary_secret_files_and_init():
    doc = load(primary(backup=None, app_cidrs=[]))
    fs = files(doc)
    for path, pw in ((ci.REPLICATION_PASSWORD_FILE, REPL_PW), (ci.APP_PASSWORD_FILE, APP_PW)):
        f = fs[path]
        assert f["content"] == pw
        assert (f["permissions"], f["owner"], f.get("defer")) == ("0600", "postgres:postgres", True)
    sql = fs[ci.DB_INIT_SQL]["content"]
    assert f"`cat {ci.REPLICATION_PASSWORD_FILE}`" in sql
    assert "PASSWORD :'repl_password'" in sql and "CREATE DATABASE app OWNER app" in sql
    assert [ci.DB_INIT_SCRIPT] in doc["runcmd"]
    assert ["systemctl", "restart", "postgresql@15-main"] in doc["runcmd"]
    assert "archive_mode = off" in fs["/etc/postgresql/15/main/conf.d/50-resilient-stack.conf"]["content"]
    assert ci.PGBACKREST_CONF not in fs and "pgbackrest" not in doc["packages"]
    rules = [line for line in fs["/etc/postgresql/15/main/pg_hba.conf"]["content"].splitlines() if line.startswith("host")]
    assert all(" replication " in r for r in rules), "app_cidrs=[] opens no app access"


def test_primary_backup_config():
    doc = load(primary())
    fs = files(doc)
    conf = fs[ci.PGBACKREST_CONF]
    assert (conf["permissions"], conf["owner"], conf["defer"]) == ("0640", "postgres:postgres", True)
    c = conf["content"]
    for line in ("repo1-type=s3", "repo1-s3-endpoint=s3.gra.io.cloud.ovh.net", "repo1-s3-bucket=rs-backups-waw",
                 "repo1-s3-region=gra", "repo1-s3-key=AKIAEXAMPLE", f"repo1-s3-key-secret={S3_SECRET}",
                 "repo1-cipher-type=aes-256-cbc", "[main]", "pg1-path=/var/lib/postgresql/15/main"):
        assert line in c.splitlines(), line
    assert "resilient-stack-backup-full.timer" in runcmd_text(doc)
    assert [ci.BACKUP_INIT_SCRIPT] in doc["runcmd"]
    assert "/etc/systemd/system/resilient-stack-backup@.service" in fs


def test_backup_endpoint_port_and_repr_hides_secrets():
    b = dataclasses.replace(BACKUP, endpoint="minio.internal:9000", uri_style="path", verify_tls=False)
    c = files(load(primary(backup=b)))[ci.PGBACKREST_CONF]["content"].splitlines()
    assert "repo1-s3-endpoint=minio.internal" in c and "repo1-storage-port=9000" in c
    assert "repo1-s3-uri-style=path" in c and "repo1-storage-verify-tls=n" in c
    assert S3_SECRET not in repr(BACKUP) and CIPHER not in repr(BACKUP)
    with pytest.raises(dataclasses.FrozenInstanceError):
        BACKUP.bucket = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# database replica
# --------------------------------------------------------------------------------------------------


def test_replica_clones_primary_and_ships_promote_helper():
    doc = load(replica(primary_host="db-primary.internal", wait_attempts=7, wait_interval_s=3))
    fs = files(doc)
    script = fs[ci.REPLICA_INIT_SCRIPT]["content"]
    assert "PRIMARY_HOST=db-primary.internal" in script
    assert "ATTEMPTS=7" in script and "INTERVAL=3" in script
    assert "pg_basebackup" in script and " -R " in script and "sslmode=require" in script
    assert [ci.REPLICA_INIT_SCRIPT] in doc["runcmd"]
    promote = fs[ci.PROMOTE_HELPER]
    assert promote["permissions"] == "0755"
    assert "pg_ctlcluster \"$VERSION\" \"$CLUSTER\" promote" in promote["content"]
    assert "VERSION=15" in promote["content"]
    # same server config as the primary, so a promoted replica is a full primary
    assert "wal_level = replica" in fs["/etc/postgresql/15/main/conf.d/50-resilient-stack.conf"]["content"]
    assert ci.REPLICATION_PASSWORD_FILE not in fs and ci.APP_PASSWORD_FILE not in fs


def test_replica_pgpass_escapes_and_is_private():
    f = files(load(replica()))[ci.PGPASS_FILE]
    assert f["content"] == "*:*:replication:replicator:Repl\\:pass\\\\word-0123456789\n"
    assert (f["permissions"], f["owner"]) == ("0600", "postgres:postgres")


def test_primary_host_only_through_parameter():
    a, b = replica(primary_host="10.9.9.9"), replica(primary_host="10.9.9.10")
    assert a != b and "10.9.9.9" in a and "10.9.9.10" not in a


# --------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: replica(primary_host=""), "primary_host must be a non-empty"),
        (lambda: replica(primary_host="   "), "primary_host must be a non-empty"),
        (lambda: replica(primary_host="db1; rm -rf /"), "primary_host is not a valid host name"),
        (lambda: replica(primary_port=0), "primary_port"),
        (lambda: primary(allowed_cidrs=["10.0.0.300/24"]), "'10.0.0.300/24' is not a valid CIDR"),
        (lambda: primary(allowed_cidrs=["10.0.0.1/24"]), "is not a valid CIDR"),
        (lambda: primary(allowed_cidrs=["10.0.0.1"]), "has no prefix length"),
        (lambda: primary(allowed_cidrs=["0.0.0.0/0"]), "whole Internet"),
        (lambda: primary(allowed_cidrs=[]), "at least one CIDR"),
        (lambda: primary(allowed_cidrs="10.0.0.0/8"), "must be a list of CIDR"),
        (lambda: primary(replication_password="short"), "replication_password must be at least 12"),
        (lambda: primary(app_password="a-long-password\nx"), "app_password must not contain control"),
        (lambda: primary(app_password=REPL_PW), "must differ"),
        (lambda: primary(app_user="App-User"), "app_user must be a lower-case SQL identifier"),
        (lambda: primary(backup="s3://bucket"), "backup must be a BackupTarget"),
        (lambda: web(placement_label=""), "placement_label must not be empty"),
        (lambda: web(placement_label="a\nb"), "placement_label must not contain control"),
        (lambda: web(server_name="x; evil"), "server_name"),
        (lambda: web(hostname="bad_host"), "hostname must be a single DNS label"),
        (lambda: web(ssh_authorized_keys="ssh-ed25519 AAAA"), "ssh_authorized_keys must be a list"),
        (lambda: dataclasses.replace(BACKUP, endpoint="https://s3.example"), "without scheme"),
        (lambda: dataclasses.replace(BACKUP, bucket="B"), "not a valid S3 bucket name"),
        (lambda: dataclasses.replace(BACKUP, key_secret=""), "key_secret must not be empty"),
        (lambda: dataclasses.replace(BACKUP, uri_style="virtual"), "uri_style"),
    ],
)
def test_bad_input_raises_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_functions_are_keyword_only():
    with pytest.raises(TypeError):
        ci.render_web("ovh/GRA/GRA11")  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# cloud-init's own schema
# --------------------------------------------------------------------------------------------------

_VALIDATOR = textwrap.dedent(
    """
    import json, sys
    from cloudinit.config.schema import (SchemaValidationError, get_schema,
        validate_cloudconfig_file, validate_cloudconfig_schema)
    from cloudinit import safeyaml
    schema = get_schema()
    out = {}
    for path in sys.argv[1:]:
        res = {"errors": [], "deprecations": []}
        try:
            validate_cloudconfig_file(path, schema)  # header + YAML + strict schema
            with open(path) as fh:
                validate_cloudconfig_schema(safeyaml.load(fh.read()), schema, strict=True)
        except SchemaValidationError as e:
            res["errors"] = [list(p) for p in (e.schema_errors or ())]
            res["deprecations"] = [list(p) for p in (e.schema_deprecations or ())]
        out[path] = res
    print("RESULT" + json.dumps(out))
    """
)


def _cloud_init_site() -> Path:
    base = os.environ.get("RESILIENT_STACK_CLOUD_INIT_DIR")
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "resilient-stack" / "cloud-init"
    return root / "usr" / "lib" / "python3" / "dist-packages"


def _missing(msg: str) -> None:
    if REQUIRE_TOOLS:
        pytest.fail(f"{msg} (RESILIENT_STACK_REQUIRE_TOOLS=1)", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def validate(tmp_path_factory):
    site = _cloud_init_site()
    if not (site / "cloudinit" / "config" / "schemas" / "schema-cloud-config-v1.json").is_file():
        _missing(f"cloud-init's schema is missing under {site.parents[3]}: run {FETCH_SCRIPT}")
    tmp = tmp_path_factory.mktemp("cloud-config")

    def run(texts: dict[str, str]) -> dict[str, dict]:
        paths = {}
        for name, text in texts.items():
            p = tmp / f"{name}.yaml"
            p.write_text(text)
            paths[str(p)] = name
        # cloud-init's code (from Debian's package, unpacked in the cache) is found through PYTHONPATH
        env = {**os.environ, "PYTHONPATH": str(site)}
        proc = subprocess.run([sys.executable, "-c", _VALIDATOR, *paths],
                              capture_output=True, text=True, timeout=120, env=env)
        if proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr:
            _missing("cloud-init's schema code needs Python packages: pip install configobj jsonpatch requests "
                     f"jsonschema PyYAML ({proc.stderr.strip().splitlines()[-1]})")
        assert proc.returncode == 0, proc.stderr
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
        return {paths[k]: v for k, v in json.loads(line[len("RESULT"):]).items()}

    return run


def test_every_rendered_document_passes_cloud_init_schema(validate):
    results = validate({k: f() for k, f in DOCS.items()})
    assert set(results) == set(DOCS)
    problems = {k: v for k, v in results.items() if v["errors"] or v["deprecations"]}
    assert not problems, json.dumps(problems, indent=1)


def test_schema_validator_rejects_a_broken_document(validate):
    good = DOCS["web"]()
    results = validate({
        "typo": good.replace("content:", "contnt:", 1),
        "noheader": good.replace("#cloud-config\n", "", 1),
        "badtype": good.replace("ssh_pwauth: false", "ssh_pwauth: [1]", 1),
    })
    for name, res in results.items():
        assert res["errors"], f"{name} should have been rejected"
