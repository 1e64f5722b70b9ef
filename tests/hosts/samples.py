"""Sample inputs of the host renderers (shared by the tests of resilient_stack.hosts) and helpers to read the result.

The secrets are chosen to break naive quoting: a ':' and a '\\' (pgpass), quotes, '$(..)' and backquotes (shell),
'#' (INI comments). They reach the hosts sealed (resilient_stack.hosts.secrets): :func:`opened` reads them back.
"""

from __future__ import annotations

import datetime as dt
import json

import yaml

from resilient_stack.components.pki import issue
from resilient_stack.hosts import cloudinit as ci
from resilient_stack.hosts import paths, secrets
from resilient_stack.hosts.cloudinit import BackupTarget
from resilient_stack.hosts.web import SITE_VARIANTS

REPL_PW = "Repl:pass\\word-0123456789"
REWIND_PW = "Rewind: 'pw' #2 \\ 0123456"
API_PW = 'Api "pw" $(id) #3 0123'
APP_PW = 'App\'s "pw" $(id) `x` #1 0123'
S3_SECRET = "S3-secret-key/abcdefXYZ+0123"
CIPHER = "cipher-passphrase-0123456789"
CIDRS = ["10.20.0.0/24", "fd00:20::/64"]
MEMBERS = [
    ci.ClusterMember("db-gra", "203.0.113.10"),
    ci.ClusterMember("db-waw", "198.51.100.20"),
    ci.ClusterMember("db-ik", "2001:db8::30"),
]
WEB_IPS = ["203.0.113.40", "198.51.100.41"]
VOLUME_ID = "5b7c3b2e-8d1f-4c4e-9a57-0f1e2d3c4b5a"  # the host's data volume
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host"

BACKUP = BackupTarget(
    endpoint="s3.gra.io.cloud.ovh.net",
    bucket="rs-backups-waw",
    region="gra",
    key_id="AKIAEXAMPLE",
    key_secret=S3_SECRET,
    cipher_pass=CIPHER,
)
ETCD_PW = "Etcd pw ; & | 0123456789"
TOKEN = "write-token-0123456789abcdef"
MIGRATE_PW = "Migrate 'pw' $(id) #4 0123"
APP_SECRET = "sk_live 'quoted' $(id) #5"
APP_SPEC = ci.AppSpec(
    image="registry.example.com/shop/web:1.0.0",
    env={"APP_TITLE": "Shop"},
    migrate=("python3", "/app/app.py", "migrate"),
    secret_names=("STRIPE_KEY",),
)
HOST_KEY = "K" * 40 + "0123456789abcdefghijklmn"
CLUSTER_ID = "c1u5ter0id0sample"
SECRETS = (REPL_PW, REWIND_PW, API_PW, APP_PW, S3_SECRET, CIPHER, ETCD_PW, TOKEN, MIGRATE_PW, APP_SECRET)
APP_DB = ci.AppDatabase(hosts=("203.0.113.10", "198.51.100.20", "2001:db8::30"), dbname="shop", user="shop")
PKI = issue(
    {"scope": "shop", "members": {m.name: m.address for m in MEMBERS}},
    now=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    seed="tests/hosts",
)


def web_secrets(app: bool = True, **kw) -> dict:
    if not app:
        return {"v": secrets.VERSION}
    kw.setdefault("ca", PKI["caCert"])
    kw.setdefault("app_user", "shop")
    kw.setdefault("app_passwords", [APP_PW])
    kw.setdefault("write_token", TOKEN)
    kw.setdefault("migrate_password", MIGRATE_PW)
    kw.setdefault("app_secrets", {"STRIPE_KEY": APP_SECRET})
    return ci.web_secret_document(**kw)


def app_runtime(spec: ci.AppSpec = APP_SPEC, **kw) -> dict:
    """The application's part of a web host's runtime document (what the components give it)."""
    values = dict(
        spec=spec,
        version=ci.secrets_version({"STRIPE_KEY": APP_SECRET}, TOKEN),
        host="shop-gra-web-1",
        placement="gra",
        label="ovh/GRA/GRA11",
        placements=["gra", "waw"],
        members={m.address: m.name.removeprefix("db-") for m in MEMBERS},
        db_hosts=list(APP_DB.hosts),
        db_port=5432,
        dbname="shop",
    )
    values.update(kw)
    return ci.app_runtime_section(**values)


def web(**kw):
    kw.setdefault("placement_label", "ovh/GRA/GRA11")
    kw.setdefault("host_key", HOST_KEY)
    kw.setdefault("secrets_doc", web_secrets(app=kw.get("application") is not None))
    if kw.get("application") is not None:
        kw.setdefault("app_runtime", app_runtime(kw["application"]))
    return ci.render_web(**kw)


def web_app(**kw):
    kw.setdefault("database", APP_DB)
    kw.setdefault("application", APP_SPEC)
    return web(**kw)


def db_secrets(name: str = "db-gra", *, backup: BackupTarget | None = BACKUP, app_passwords=(APP_PW,), **kw) -> dict:
    tls = ci.MemberTls(
        ca=PKI["caCert"],
        cert=PKI["certs"][name],
        key=PKI["keys"][name],
        admin_cert=PKI["adminCerts"][name],
        admin_key=PKI["adminKeys"][name],
    )
    values = dict(
        tls=tls,
        replication_password=REPL_PW,
        rewind_password=REWIND_PW,
        api_password=API_PW,
        etcd_password=ETCD_PW,
        app_passwords=tuple(app_passwords),
        backup=backup,
        migrate_password=MIGRATE_PW,
    )
    values.update(kw)
    return ci.db_secret_document(ci.DbSecrets(**values), app_user="shop")


def member(**kw):
    """The bootstrap member (db-gra) unless told otherwise."""
    kw.setdefault("name", "db-gra")
    kw.setdefault("members", MEMBERS)
    kw.setdefault("bootstrap", kw["name"] == "db-gra")
    kw.setdefault("scope", "shop")
    kw.setdefault("cluster_id", CLUSTER_ID)
    kw.setdefault("host_key", HOST_KEY)
    kw.setdefault("backup", BACKUP)
    kw.setdefault("app_user", "shop")
    kw.setdefault(
        "secrets_doc",
        db_secrets(
            kw["name"] if kw["name"] in PKI["certs"] else "db-gra",
            backup=kw["backup"] if isinstance(kw["backup"], BackupTarget) else None if kw["backup"] is None else BACKUP,
        ),
    )
    kw.setdefault("app_cidrs", [f"{ip}/32" for ip in WEB_IPS])
    kw.setdefault("data_volume_id", VOLUME_ID)
    return ci.render_db_member(**kw)


def opened(doc: dict) -> dict:
    """The secret document a host gets, unsealed with its key (what root's sync does)."""
    return secrets.unseal(files(doc)[secrets.SEALED_FILE]["content"].strip(), HOST_KEY)


DOCS = {
    "web": lambda: web(),
    "web-https": lambda: web(https=True, app_title="Shop <&>", hostname="web-gra-1", ssh_authorized_keys=[KEY]),
    "web-app": lambda: web_app(),
    "web-app-https": lambda: web_app(https=True, ssh_authorized_keys=[KEY]),
    "web-acme": lambda: web_app(
        https=True, server_name="www.shop.example shop.example", acme_peers=WEB_IPS[1:], admin_cidrs=["198.51.100.0/24"]
    ),
    "member-bootstrap": lambda: member(),
    "member-nobackup": lambda: member(backup=None, app_cidrs=[]),
    "member-join": lambda: member(name="db-waw"),
    "member-restore": lambda: member(bootstrap_from="backup"),
    "member-join-nobackup": lambda: member(name="db-ik", backup=None, replication_cidrs=["192.0.2.0/24"]),
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


def rendered_module(tmp_path, name: str, text: str):
    """A rendered host script imported as the module ``name`` from ``tmp_path`` (its functions are what runs on the
    host), a fresh import each time."""
    import importlib.util
    import sys

    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(name, None)
    spec.loader.exec_module(module)
    return module


def sync_module(tmp_path, text: str):
    """The rendered sync script ``text``, imported as a module."""
    return rendered_module(tmp_path, "resilient_stack_sync", text)


def sync_of(doc: dict, tmp_path):
    """The host's rendered sync script, imported as a module (its functions are what runs on the host), with the
    user data's site variants and page template where it reads them (``tmp_path``)."""
    fs = files(doc)
    module = sync_module(tmp_path, fs[paths.SYNC_SCRIPT]["content"])
    if module.SITE_DIR:
        (tmp_path / "site").mkdir(exist_ok=True)
        for variant in SITE_VARIANTS:
            (tmp_path / "site" / f"{variant}.conf").write_text(fs[f"{module.SITE_DIR}/{variant}.conf"]["content"])
        (tmp_path / "index.html.in").write_text(fs[module.INDEX_TEMPLATE]["content"])
        module.SITE_DIR, module.INDEX_TEMPLATE = str(tmp_path / "site"), str(tmp_path / "index.html.in")
    return module


def served(doc: dict, tmp_path, site: dict | None = None) -> dict[str, str]:
    """What a web host rendered as ``doc`` serves once root's sync applied its runtime configuration (the first boot's,
    or ``site``): nginx's site, its server name (the include) and the index page."""
    module = sync_of(doc, tmp_path)
    if site is None:
        site = json.loads(files(doc)[paths.RUNTIME_CONFIG]["content"])["site"]
    module.check_site(site)
    nginx, page = module.site_files(site)
    return {"site": nginx[paths.NGINX_SITE], "server_name": nginx[paths.SERVER_NAME_CONF], "page": page}
