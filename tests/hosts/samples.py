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
APP_PW = "App's \"pw\" $(id) `x` #1 0123"
S3_SECRET = "S3-secret-key/abcdefXYZ+0123"
CIPHER = "cipher-passphrase-0123456789"
CIDRS = ["10.20.0.0/24", "fd00:20::/64"]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host"

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
    "web-https": lambda: web(https=True, app_title="Shop <&>", hostname="web-gra-1", ssh_authorized_keys=[KEY]),
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
