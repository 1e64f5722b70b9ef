"""Tests of resilient_stack.hosts.cloudinit, the hosts' public API: what every role's document has in common
(structure, secrets, determinism, sshd, fail-fast runcmd), and every sample document checked against
cloud-init's OWN schema (Debian bookworm's cloud-init 22.4).
The roles' own tests are in test_web.py and test_database.py; pgBackRest in test_backup.py.

The schema check runs cloud-init's ``cloudinit.config.schema`` from a copy extracted by
``scripts/fetch-cloud-init-schema.sh`` (``apt-get download`` + ``dpkg-deb -x``; nothing is installed). Its
Python needs PyYAML, jsonschema, configobj, jsonpatch and requests. When that copy is missing the schema
tests are skipped -- or FAIL when ``RESILIENT_STACK_REQUIRE_TOOLS=1`` (as in CI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from resilient_stack.hosts import cloudinit as ci
from resilient_stack.hosts import firewall, paths, secrets
from tests.hosts.samples import APP_PW, DOCS, SECRETS, files, load, opened, runcmd_text

REPO = Path(__file__).resolve().parents[2]
FETCH_SCRIPT = REPO / "scripts" / "fetch-cloud-init-schema.sh"
REQUIRE_TOOLS = os.environ.get("RESILIENT_STACK_REQUIRE_TOOLS") == "1"


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
    assert not {"apt", "snap"} & set(doc), "no extra apt sources or snaps"
    assert doc["bootcmd"] == firewall.bootcmd_guard(), "the one boot hook: the metadata service to root only"
    # etcd's client URL is the host's own loopback, the metadata service is the cloud's own (link-local), etcd's
    # metrics URL is where it listens: none is the internet
    text = (
        (runcmd_text(doc) + json.dumps([f["content"] for f in doc["write_files"]]))
        .replace("http://127.0.0.1:", "")
        .replace("http://0.0.0.0:", "")
        .replace(paths.METADATA_URL, "")
    )
    for bad in ("curl ", "wget ", "| sh", "|sh", "http://", "add-apt-repository"):
        if bad == "http://" and kind.startswith("web"):
            continue  # nginx config and the redirect mention URLs, fetch nothing
        assert bad not in text, bad


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_sshd_hardened(kind):
    f = files(load(DOCS[kind]()))[paths.SSHD_DROPIN]
    assert "PasswordAuthentication no" in f["content"]
    assert "PermitRootLogin no" in f["content"]


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_runcmd_fails_fast(kind):
    doc = load(DOCS[kind]())
    assert doc["runcmd"][0] == "set -eu"


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_no_secret_in_clear_only_the_host_key_and_the_sealed_document(kind):
    """No password, key or token appears in the user data in any spelling; the host's key and its sealed secret
    document are root's alone (0600), and the document unseals with that key to the secrets the role needs."""
    text = DOCS[kind]()
    doc = load(text)
    spellings = [(s, json.dumps(s)[1:-1], yaml.safe_dump(s).removesuffix("\n...\n").strip()) for s in SECRETS]
    assert not any(x in text for s in spellings for x in s), "a secret in clear in the user data"
    assert "PRIVATE KEY" not in text, "a TLS key in clear in the user data"
    written = files(doc)
    for path in (secrets.KEY_FILE, secrets.SEALED_FILE):
        assert written[path]["permissions"] == "0600" and written[path]["owner"] == "root:root", path
    opened_doc = opened(doc)
    if kind.startswith("member"):
        assert set(opened_doc) >= {"tls", "passwords", "roles"} and "PRIVATE KEY" in opened_doc["tls"]["key"]
        assert ("backup" in opened_doc) == ("nobackup" not in kind)
        # the application's password never reaches a database host: the roles' SCRAM verifiers do
        assert APP_PW not in json.dumps(opened_doc)
        assert all(r["verifier"].startswith("SCRAM-SHA-256$") for r in opened_doc["roles"].values())
    elif "app" in kind or "acme" in kind:
        assert opened_doc["app"]["credentials"][0]["password"] == APP_PW and opened_doc["tls"]["ca"]


def test_the_public_api_is_the_roles_and_the_paths():
    """Components, drill and tests import the renderers, validators, BackupTarget and the paths from here."""
    for name in ci.__all__:
        assert getattr(ci, name) is not None, name
    for name in (
        "render_web",
        "render_db_member",
        "validate_web",
        "validate_db_member",
        "AppDatabase",
        "ClusterMember",
        "connection_url",
        "BackupTarget",
        "BackupRepository",
        "CLUSTER_HELPER",
        "SECRETS_DIR",
    ):
        assert name in ci.__all__, name
    assert ci.CLUSTER_HELPER == paths.CLUSTER_HELPER == "/usr/local/sbin/resilient-stack-cluster"


@pytest.mark.parametrize("render", [ci.render_web, ci.render_db_member])
def test_functions_are_keyword_only(render):
    with pytest.raises(TypeError):
        render("ovh/GRA/GRA11")  # type: ignore[misc]


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
    root = (
        Path(base)
        if base
        else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "resilient-stack" / "cloud-init"
    )
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
        proc = subprocess.run(
            [sys.executable, "-c", _VALIDATOR, *paths], capture_output=True, text=True, timeout=120, env=env
        )
        if proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr:
            _missing(
                "cloud-init's schema code needs Python packages: pip install configobj jsonpatch requests "
                f"jsonschema PyYAML ({proc.stderr.strip().splitlines()[-1]})"
            )
        assert proc.returncode == 0, proc.stderr
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
        return {paths[k]: v for k, v in json.loads(line[len("RESULT") :]).items()}

    return run


def test_every_rendered_document_passes_cloud_init_schema(validate):
    # (the shipped stacks' hosts: tests/components/test_components.py)
    results = validate({k: f() for k, f in DOCS.items()})
    assert set(results) == set(DOCS)
    problems = {k: v for k, v in results.items() if v["errors"] or v["deprecations"]}
    assert not problems, json.dumps(problems, indent=1)


def test_schema_validator_rejects_a_broken_document(validate):
    good = DOCS["web"]()
    results = validate(
        {
            "typo": good.replace("content:", "contnt:", 1),
            "noheader": good.replace("#cloud-config\n", "", 1),
            "badtype": good.replace("ssh_pwauth: false", "ssh_pwauth: [1]", 1),
        }
    )
    for name, res in results.items():
        assert res["errors"], f"{name} should have been rejected"
