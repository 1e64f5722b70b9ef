"""Sample inputs of the host renderers (shared by the tests of resilient_stack.hosts) and helpers to read the result.

The secrets are chosen to break naive quoting: a ':' and a '\\' (pgpass), quotes, '$(..)' and backquotes (shell),
'#' (INI comments).
"""

from __future__ import annotations

import json

import yaml

from resilient_stack.hosts import cloudinit as ci
from resilient_stack.hosts.cloudinit import BackupTarget

REPL_PW = "Repl:pass\\word-0123456789"
REWIND_PW = "Rewind: 'pw' #2 \\ 0123456"
API_PW = "Api \"pw\" $(id) #3 0123"
APP_PW = "App's \"pw\" $(id) `x` #1 0123"
S3_SECRET = "S3-secret-key/abcdefXYZ+0123"
CIPHER = "cipher-passphrase-0123456789"
CIDRS = ["10.20.0.0/24", "fd00:20::/64"]
MEMBERS = [ci.ClusterMember("db-gra", "203.0.113.10"), ci.ClusterMember("db-waw", "198.51.100.20"),
           ci.ClusterMember("db-ik", "2001:db8::30")]
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
SECRETS = (REPL_PW, REWIND_PW, API_PW, APP_PW, S3_SECRET, CIPHER)
APP_DB = ci.AppDatabase(hosts=("203.0.113.10", "198.51.100.20", "2001:db8::30"), dbname="shop", user="shop")


def web(**kw):
    kw.setdefault("placement_label", "ovh/GRA/GRA11")
    return ci.render_web(**kw)


def web_app(**kw):
    kw.setdefault("database", APP_DB)
    kw.setdefault("app_password", APP_PW)
    return web(**kw)


def member(**kw):
    """The bootstrap member (db-gra) unless told otherwise."""
    kw.setdefault("name", "db-gra")
    kw.setdefault("members", MEMBERS)
    kw.setdefault("bootstrap", kw["name"] == "db-gra")
    kw.setdefault("scope", "shop")
    kw.setdefault("replication_password", REPL_PW)
    kw.setdefault("rewind_password", REWIND_PW)
    kw.setdefault("api_password", API_PW)
    kw.setdefault("app_password", APP_PW if kw["bootstrap"] else None)
    kw.setdefault("backup", BACKUP)
    kw.setdefault("app_cidrs", [f"{ip}/32" for ip in WEB_IPS])
    kw.setdefault("data_volume_id", VOLUME_ID)
    return ci.render_db_member(**kw)


DOCS = {
    "web": lambda: web(),
    "web-https": lambda: web(https=True, app_title="Shop <&>", hostname="web-gra-1", ssh_authorized_keys=[KEY]),
    "web-app": lambda: web_app(),
    "web-app-https": lambda: web_app(https=True, ssh_authorized_keys=[KEY]),
    "web-acme": lambda: web_app(https=True, server_name="www.shop.example shop.example", acme_peers=WEB_IPS[1:],
                                admin_cidrs=["198.51.100.0/24"]),
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
