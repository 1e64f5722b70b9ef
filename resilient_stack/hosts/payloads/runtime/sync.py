#!/usr/bin/python3
# Managed by resilient_stack (cloud-init): resilient-stack-sync, root's sync of the host's runtime
# configuration. The user data is the boot configuration and never changes on a running host; what changes
# comes from the instance's metadata, which the cloud updates in place:
#  - items {{prefix}}00, {{prefix}}01... joined into one JSON document (pg_hba, the host firewall's sets, the
#    ACME peers, Patroni's dynamic configuration, the SSH keys, what a web host serves, what a monitoring host
#    scrapes and its alert rules, when a member's backups run): resilient_stack.hosts.runtime;
#  - items {{secret_prefix}}00... joined into one document sealed with this host's own key (AES-SIV; the key came
#    with the user data, {{key_file}}): the TLS certificates and keys, the passwords, the backup repository's keys
#    and passphrase, the application's credentials, Alertmanager's receivers: resilient_stack.hosts.secrets.
# Run by resilient-stack-sync.timer, once at first boot (--boot: an unreachable metadata service, as in the fire
# drill's podman hosts, keeps the user data's copies), and by db-start (--local: the copies on disk, applied
# again). Applies only what changed; a document it cannot use (altered, sealed for another host) changes nothing.
import base64
import hashlib
import hmac
import html
import ipaddress
import json
import os
import re
import secrets
import ssl
import subprocess
import sys
import tempfile
import urllib.request

METADATA_URL = "{{metadata_url}}"
PREFIX = "{{prefix}}"
SECRET_PREFIX = "{{secret_prefix}}"
VERSION = {{version}}
STATE = "{{runtime_config}}"
KEY_FILE = "{{key_file}}"
SEALED_FILE = "{{sealed_file}}"
ROLE = "{{role}}"  # web, db or monitoring
PATRONI_CONF = "{{patroni_conf}}"  # empty on a host without Patroni
PATRONI_SERVICE = "{{patroni_service}}"
PATRONI_API_PORT = {{patroni_api_port}}
PATRONI_RELOAD_WAIT = 45  # Patroni handles a reload at its next loop (loop_wait: 10 s, longer when busy)
FIREWALL_TABLE = "{{firewall_table}}"
FIREWALL_SETS_FILE = "{{firewall_sets_file}}"
ACME_PEERS_CONF = "{{acme_peers_conf}}"  # empty on a host that asks for no ACME certificate
TLS_DIR = "{{tls_dir}}"
TLS_GROUP = "{{tls_group}}"
PGBACKREST_SECRETS = "{{pgbackrest_secrets}}"  # empty on a host without backups
APP_CREDENTIALS = "{{app_credentials}}"  # empty on a host without the application
LOGIN_USER = "{{login_user}}"  # the image's default user: its keys are the file SSH_KEYS_DIR/LOGIN_USER
SSH_KEYS_DIR = "{{ssh_keys_dir}}"
SSH_KEY = re.compile({{ssh_key_re}})
SITE_DIR = "{{site_dir}}"  # the site's variants; empty on a host without a web site
NGINX_SITE = "{{nginx_site}}"
SERVER_NAME_CONF = "{{server_name_conf}}"
SERVER_NAME = re.compile({{server_name_re}})
INDEX_TEMPLATE = "{{index_template}}"
INDEX_PAGE = "{{index_page}}"
TITLE_MARK = "{{title_mark}}"
TITLE_MAX = {{title_max}}
CERT_NAMES = "{{cert_names}}"
CERT_SERVICE = "{{cert_service}}"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
HBA_RULE = re.compile(r"(local|host|hostssl|hostnossl)( [A-Za-z0-9_.,:/-]+){2,4}")
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
VERIFIER = re.compile(r"SCRAM-SHA-256\$\d{4,7}:[A-Za-z0-9+/=]{8,64}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}")
PEM = re.compile(r"-----BEGIN [A-Z ]+-----\n[A-Za-z0-9+/=\n]+-----END [A-Z ]+-----\n")
PREVIOUS_VALID_FOR = "15 minutes"  # the previous application credential, once the new one is set


def say(message):
    print(f"resilient-stack-sync: {message}", flush=True)


def fetch():
    """The instance's metadata items (``meta`` of the OpenStack metadata service's meta_data.json)."""
    with urllib.request.urlopen(METADATA_URL, timeout=5) as answer:
        body = json.loads(answer.read(1_000_000))
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(meta, dict):
        raise ValueError("meta_data.json has no 'meta' object")
    return meta


def joined(meta, prefix):
    parts = sorted((int(k[len(prefix):]), v) for k, v in meta.items()
                   if k.startswith(prefix) and re.fullmatch(r"\d{2}", k[len(prefix):]))
    if not parts:
        raise ValueError(f"no {prefix}NN items in the metadata")
    if [i for i, _ in parts] != list(range(len(parts))):
        raise ValueError(f"the {prefix}NN metadata items are not consecutive")
    return "".join(v for _, v in parts)


def decode(meta):
    """The runtime document from the metadata items (the inverse of resilient_stack.hosts.runtime.encode)."""
    doc = json.loads(joined(meta, PREFIX))
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        raise ValueError(f"not a version {VERSION} runtime configuration")
    return doc


def unseal(sealed):
    """The secret document (the inverse of resilient_stack.hosts.secrets.seal), checked by AES-SIV."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

    with open(KEY_FILE) as f:
        key = f.read().strip()
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        doc = json.loads(AESSIV(hashlib.sha512(key.encode()).digest()).decrypt(raw, [b"resilient-stack secrets v1"]))
    except (InvalidTag, ValueError, TypeError) as exc:
        raise ValueError(f"the secret document cannot be unsealed with this host's key ({type(exc).__name__})")
    if not isinstance(doc, dict) or doc.get("v") != 1:
        raise ValueError("not a version 1 secret document")
    return doc


def check(doc):
    """Refuse (ValueError) a runtime document this host could not apply safely."""
    rules = doc.get("pg_hba")
    if rules is not None:
        if not isinstance(rules, list) or not all(isinstance(r, str) and HBA_RULE.fullmatch(r) for r in rules):
            raise ValueError("pg_hba must be a list of pg_hba.conf lines")
        for r in rules:
            fields = r.split()
            if fields[-1] != "scram-sha-256" and not (fields[0] == "local" and fields[-1] == "peer"):
                raise ValueError(f"pg_hba: {r!r}: remote access is scram-sha-256 only")
            if fields[0] != "local":
                if fields[0] != "hostssl":
                    raise ValueError(f"pg_hba: {r!r}: remote access is hostssl only")
                if ipaddress.ip_network(fields[3], strict=True).prefixlen < 8:
                    raise ValueError(f"pg_hba: {r!r}: wider than a /8")
    sets = doc.get("firewall")
    if sets is not None:
        if not isinstance(sets, dict):
            raise ValueError("firewall must map set names to networks")
        for name, elements in sets.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", name) or not isinstance(elements, list):
                raise ValueError(f"firewall set {name!r}: a lower-case name and a list of networks")
            for element in elements:
                network = ipaddress.ip_network(element, strict=True)  # ValueError for anything else
                if network.prefixlen < 8:
                    raise ValueError(f"firewall set {name}: {element} is wider than a /8")
    monitoring = doc.get("monitoring")
    if monitoring is not None:
        targets = monitoring.get("targets") if isinstance(monitoring, dict) else None
        if not isinstance(targets, dict) or not isinstance(monitoring.get("rules"), str):
            raise ValueError("monitoring must hold targets (by job) and rules")
        for job, groups in targets.items():
            if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", job) or not isinstance(groups, list) or not all(
                    isinstance(g, dict) and isinstance(g.get("targets"), list) for g in groups):
                raise ValueError(f"monitoring targets {job!r}: a lower-case job name and Prometheus target groups")
        zone = monitoring.get("zone")
        if zone is not None and not (isinstance(zone, dict) and set(zone) == {"conf", "text"} and all(
                isinstance(v, str) for v in zone.values())):
            raise ValueError("monitoring zone must hold the zone's text and its bind backend entry")
    peers = doc.get("acme_peers")
    if peers is not None:
        if not isinstance(peers, list):
            raise ValueError("acme_peers must list addresses")
        for peer in peers:
            ipaddress.ip_address(peer)  # ValueError for anything else
    dcs = doc.get("dcs")
    if dcs is not None and not isinstance(dcs, dict):
        raise ValueError("dcs must be Patroni's dynamic configuration")
    keys = doc.get("ssh_keys")
    if keys is not None and not (isinstance(keys, list) and all(
            isinstance(k, str) and SSH_KEY.fullmatch(k) and not CONTROL.search(k) for k in keys)):
        raise ValueError("ssh_keys must list OpenSSH public key lines")
    if doc.get("site") is not None:
        check_site(doc["site"])
    if doc.get("backup_schedule") is not None:
        check_backup_schedule(doc["backup_schedule"])
    return doc


def check_site(site):
    if not isinstance(site, dict) or set(site) != {"server_name", "https", "certify", "title"}:
        raise ValueError("site must give server_name, https, certify and title")
    if not isinstance(site["server_name"], str) or not SERVER_NAME.fullmatch(site["server_name"]):
        raise ValueError("site.server_name must be '_' or host names separated by spaces")
    if not isinstance(site["https"], bool):
        raise ValueError("site.https must be true or false")
    names = site["certify"]
    if names is not None and not (site["https"] and isinstance(names, list) and names and all(
            isinstance(n, str) and "*" not in n and n in site["server_name"].split() for n in names)):
        raise ValueError("site.certify must list DNS names of site.server_name, with https")
    title = site["title"]
    if not isinstance(title, str) or not title.strip() or len(title) > TITLE_MAX or CONTROL.search(title):
        raise ValueError(f"site.title must be one line of at most {TITLE_MAX} characters")


def check_secrets(doc):
    """Refuse (ValueError) a secret document with something this host would not write."""
    tls = doc.get("tls", {})
    if not isinstance(tls, dict) or not all(isinstance(v, str) and PEM.fullmatch(v) for v in tls.values()):
        raise ValueError("tls must hold PEM texts")
    for group in ("passwords", "backup"):
        values = doc.get(group, {})
        if not isinstance(values, dict) or not all(isinstance(v, str) and v and "\n" not in v and "\r" not in v
                                                   for v in values.values()):
            raise ValueError(f"{group} must hold one-line strings")
    roles = doc.get("roles", {})
    if not isinstance(roles, dict):
        raise ValueError("roles must map role names to verifiers")
    for name, role in roles.items():
        if not ROLE_NAME.fullmatch(name) or not isinstance(role, dict) or not VERIFIER.fullmatch(role.get("verifier", "")):
            raise ValueError(f"roles: {name!r} needs a SCRAM-SHA-256 verifier")
    if not isinstance(doc.get("alertmanager", ""), str):
        raise ValueError("alertmanager must be the text of Alertmanager's configuration")
    app = doc.get("app", {})
    creds = app.get("credentials", []) if isinstance(app, dict) else None
    if not isinstance(creds, list) or not all(isinstance(c, dict) and ROLE_NAME.fullmatch(str(c.get("user")))
                                              and isinstance(c.get("password"), str) for c in creds):
        raise ValueError("app.credentials must list users and passwords")
    return doc


def write_private(path, text, owner, mode=0o600):
    """Replace ``path`` atomically with ``text`` (``owner``: uid, gid); True when its content changed."""
    try:
        with open(path) as f:
            if f.read() == text:
                st = os.stat(path)
                if (st.st_uid, st.st_gid) == tuple(owner) and st.st_mode & 0o777 == mode:
                    return False
    except FileNotFoundError:
        pass
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".resilient-stack-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chown(tmp, *owner)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def ids(user, group=None):
    import grp
    import pwd

    return pwd.getpwnam(user).pw_uid, grp.getgrnam(group or user).gr_gid


def active(unit):
    return subprocess.run(["systemctl", "is-active", "--quiet", unit]).returncode == 0


def psql(sql, db="postgres"):
    out = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", db],
                         input=sql, text=True, capture_output=True, timeout=30)
    if out.returncode != 0:
        raise OSError(f"psql: {out.stderr.strip()[:300]}")
    return out.stdout


def is_primary():
    try:
        return psql("SELECT pg_is_in_recovery()").strip() == "f"
    except (OSError, subprocess.SubprocessError):
        return False


# --- the runtime document ------------------------------------------------------------------------------------


def load_patroni():
    import yaml  # python3-yaml: a dependency of cloud-init and of Patroni

    with open(PATRONI_CONF) as f:
        text = f.read()
    return text, yaml.safe_load(text)


def save_patroni(text, config):
    import yaml

    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    stat = os.stat(PATRONI_CONF)
    write_private(PATRONI_CONF, header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=4096),
                  (stat.st_uid, stat.st_gid))


def reload_patroni():
    if active(PATRONI_SERVICE):
        subprocess.run(["systemctl", "reload", PATRONI_SERVICE], check=True)


def apply_pg_hba(rules):
    """Patroni's pg_hba (it writes pg_hba.conf and reloads PostgreSQL when Patroni reloads)."""
    text, config = load_patroni()
    if config["postgresql"].get("pg_hba") == rules:
        return False
    config["postgresql"]["pg_hba"] = rules
    save_patroni(text, config)
    reload_patroni()
    return True


def firewall_sets_text(sets):
    """The nft commands that make the table's sets hold exactly ``sets`` (also kept for the next boots)."""
    out = []
    for name, elements in sorted(sets.items()):
        out.append(f"flush set inet {FIREWALL_TABLE} {name}")
        if elements:
            out.append("add element inet %s %s { %s }" % (FIREWALL_TABLE, name, ", ".join(elements)))
    return "".join(line + "\n" for line in out)


def apply_firewall(sets):
    text = firewall_sets_text(sets)
    try:
        with open(FIREWALL_SETS_FILE) as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    subprocess.run(["nft", "-f", "-"], input=text, text=True, check=True)
    write_private(FIREWALL_SETS_FILE, text, (0, 0))
    return True


def acme_peers_text(peers):
    """nginx's upstream of the other web hosts (resilient_stack.hosts.acme.peers_conf writes the same)."""
    servers = ["    server %s:80 max_fails=0;" % (f"[{p}]" if ":" in p else p) for p in peers]
    lines = ["# Managed by resilient_stack: the stack's other web hosts (ACME)", "upstream acme_peers {",
             *(servers or ["    server 127.0.0.1:9 down;"]), "}"]
    return "".join(line + "\n" for line in lines)


def apply_acme_peers(peers):
    if not write_private(ACME_PEERS_CONF, acme_peers_text(peers), (0, 0), 0o644):
        return False
    subprocess.run(["nginx", "-t", "-q"], check=True)
    subprocess.run(["systemctl", "reload", "nginx"], check=True)
    return True


def apply_ssh_keys(keys):
    """The login user's keys, in the one root-owned file sshd reads them from: a key no longer listed is refused."""
    text = "# Managed by resilient_stack (root's sync): the stack's sshPublicKey\n" + "".join(k + "\n" for k in keys)
    return write_private(os.path.join(SSH_KEYS_DIR, LOGIN_USER), text, ids("root"), 0o644)


def site_files(site):
    """The nginx files the site document asks for ({path: text}: the variant of the site, the server name), and the
    index page (its template with the title)."""
    variant = "https-acme" if site["certify"] else "https" if site["https"] else "http"
    with open(os.path.join(SITE_DIR, variant + ".conf")) as f:
        conf = f.read()
    with open(INDEX_TEMPLATE) as f:
        page = f.read().replace(TITLE_MARK, html.escape(site["title"]))
    return {NGINX_SITE: conf, SERVER_NAME_CONF: f"server_name {site['server_name']};\n"}, page


def text_of(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def apply_site(site, boot=False):
    """What a web host serves: nginx's site and server name (``nginx -t`` before the reload: a site nginx refuses is
    put back as it was, nginx goes on serving the previous one and the next run tries again), the index page, and the
    names of the ACME certificate (the certificate script asks for new ones at once, once nginx serves their site)."""
    nginx, page = site_files(site)
    before = {path: text_of(path) for path in nginx}
    changed, served = [], True
    if any(before[path] != text for path, text in nginx.items()):
        for path, text in nginx.items():
            write_private(path, text, ids("root"), 0o644)
        tested = subprocess.run(["nginx", "-t", "-q"], capture_output=True, text=True)
        if tested.returncode != 0:
            for path, text in before.items():
                if text is not None:
                    write_private(path, text, ids("root"), 0o644)
                elif os.path.exists(path):
                    os.unlink(path)
            say(f"nginx refuses the new site, the previous one stays: {tested.stderr.strip()[-300:]}")
            served = False
        else:
            if active("nginx"):
                subprocess.run(["systemctl", "reload", "nginx"], check=True)
            changed.append("site")
    if write_private(INDEX_PAGE, page, ids("root"), 0o644):
        changed.append("title")
    names = " ".join(site["certify"] or ())
    if served and write_private(CERT_NAMES, names + "\n" if names else "", ids("root"), 0o644):
        changed.append("certificate")
        if names and not boot:
            subprocess.run(["systemctl", "start", "--no-block", CERT_SERVICE], check=True)
    return changed


def subset_differs(want, have):
    """Some key of ``want`` (recursively) has another value in ``have``."""
    if isinstance(want, dict):
        return not isinstance(have, dict) or any(subset_differs(v, have.get(k)) for k, v in want.items())
    if isinstance(want, (int, float)) and not isinstance(want, bool) and isinstance(have, str):
        return str(want) != have
    return want != have


def apply_dcs(dcs):
    """Patroni's dynamic configuration, on the primary only (it is the cluster's, in etcd): the keys the stack
    sets are kept at the stack's values (patronictl edit-config), every other key as the operator left it."""
    import yaml

    if not is_primary():
        return False
    ctl = ["runuser", "-u", "postgres", "--", "patronictl", "-c", PATRONI_CONF]
    shown = subprocess.run([*ctl, "show-config"], capture_output=True, text=True, timeout=60)
    if shown.returncode != 0:
        raise OSError(f"patronictl show-config: {shown.stderr.strip()[:300]}")
    if not subset_differs(dcs, yaml.safe_load(shown.stdout) or {}):
        return False
    done = subprocess.run([*ctl, "edit-config", "--force", "--apply", "-"], input=yaml.safe_dump(dcs),
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise OSError(f"patronictl edit-config: {done.stderr.strip()[:300]}")
    return True


# --- the secret document --------------------------------------------------------------------------------------


TLS_FILES = {  # document key -> (file, owner, group, mode)
    "ca": ("ca.crt", "root", "root", 0o644),
    "cert": ("member.crt", "root", "root", 0o644),
    "key": ("member.key", "root", TLS_GROUP, 0o640),
    "admin_cert": ("root.crt", "root", "root", 0o644),
    "admin_key": ("root.key", "root", "root", 0o600),
}


def apply_tls(tls):
    changed = False
    for name, text in sorted(tls.items()):
        if name not in TLS_FILES:
            raise ValueError(f"tls: unknown file {name!r}")
        path, user, group, mode = TLS_FILES[name]
        changed |= write_private(os.path.join(TLS_DIR, path), text, ids(user, group), mode)
    if changed and ROLE == "db" and active(PATRONI_SERVICE):
        # etcd reads its certificate at every new connection; PostgreSQL on a configuration reload
        try:
            psql("SELECT pg_reload_conf()")
        except OSError as exc:
            say(f"PostgreSQL did not reload its certificate yet: {exc}")
    return changed


def patroni_certificate_current(wait=0.0):
    """Whether Patroni's API presents the member certificate on disk, waiting up to `wait` seconds for it.

    Patroni takes a new certificate only on a reload that does not also change its configuration file (3.0.2:
    a reload with a changed file skips the check of the certificate's serial number), so a renewal is reloaded
    on its own, before any password is written, and every run checks again."""
    import socket
    import ssl
    import time

    tls = {name: os.path.join(TLS_DIR, spec[0]) for name, spec in TLS_FILES.items()}
    want = ssl._ssl._test_decode_cert(tls["cert"]).get("serialNumber")
    ctx = ssl.create_default_context(cafile=tls["ca"])
    ctx.check_hostname = False
    ctx.load_cert_chain(tls["cert"], tls["key"])
    deadline = time.monotonic() + wait
    while True:
        try:
            with socket.create_connection(("127.0.0.1", PATRONI_API_PORT), timeout=3) as raw:
                with ctx.wrap_socket(raw) as conn:
                    if conn.getpeercert().get("serialNumber") == want:
                        return True
        except (OSError, ssl.SSLError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(1)


def reload_patroni_certificate():
    if ROLE != "db" or not active(PATRONI_SERVICE) or patroni_certificate_current():
        return False
    reload_patroni()
    if not patroni_certificate_current(wait=PATRONI_RELOAD_WAIT):
        say("Patroni's API still presents its previous certificate: the next run reloads it again")
    return True


def stored_verifier(role):
    """The role's SCRAM verifier as this member's PostgreSQL holds it (roles replicate: a replica sees the
    primary's), or None when PostgreSQL does not answer."""
    try:
        return psql(f"SELECT coalesce(rolpassword, '') FROM pg_authid WHERE rolname = {literal(role)}").strip()
    except (OSError, subprocess.SubprocessError):
        return None


def apply_passwords(passwords, boot=False):
    """Patroni's passwords. A new replication or pg_rewind password is taken once the cluster's role has it (the
    primary sets it, the role replicates): a member never reconnects with a password the primary does not know yet
    (a synchronous standby that cannot reconnect would stall every commit). At the first boot: all of them."""
    text, config = load_patroni()
    fields = {"replication": ("postgresql", "authentication", "replication"),
              "rewind": ("postgresql", "authentication", "rewind"),
              "api": ("restapi", "authentication"), "etcd": ("etcd3",)}
    changed = False
    for name, value in passwords.items():
        if name not in fields:
            raise ValueError(f"passwords: unknown password {name!r}")
        node = config
        for step in fields[name]:
            node = node[step]
        if node.get("password") == value:
            continue
        if not boot and node.get("password") and name in ("replication", "rewind"):
            if not scram_matches(stored_verifier(node["username"]) or "", value):
                say(f"the new {name} password waits for the primary to take it")
                continue
        node["password"] = value
        changed = True
    if changed:
        save_patroni(text, config)
        reload_patroni()
    return changed


def scram(password):
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 4096)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256$4096:{b64(salt)}${b64(stored)}:{b64(server)}"


def scram_matches(verifier, password):
    m = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)", verifier or "")
    if not m:
        return False
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(m.group(2)), int(m.group(1)))
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    return hmac.compare_digest(stored, base64.b64decode(m.group(3)))


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def apply_roles(passwords, roles):
    """On the primary only (roles replicate): each role's password as the document says. The cluster's own roles
    (replication, pg_rewind) from their passwords; the application's login roles from their verifiers, the one that
    is no longer current valid for PREVIOUS_VALID_FOR more (the web hosts move to the new one meanwhile)."""
    if not is_primary():
        return []
    stored = {}
    for line in psql("SELECT rolname, coalesce(rolpassword, ''), coalesce(rolvaliduntil::text, 'null') "
                     "FROM pg_authid").splitlines():
        name, verifier, until = line.split("|")
        stored[name] = (verifier, until)
    users = {}
    if PATRONI_CONF:
        _, config = load_patroni()
        auth = config["postgresql"]["authentication"]
        users = {auth["replication"]["username"]: passwords.get("replication"),
                 auth["rewind"]["username"]: passwords.get("rewind")}
    changed, sql = [], []
    for name, password in users.items():
        if password and name in stored and not scram_matches(stored[name][0], password):
            sql.append(f"ALTER ROLE {name} PASSWORD {literal(scram(password))}")
            changed.append(name)
    for name, role in sorted(roles.items()):
        if name not in stored:
            continue  # created by the cluster's bootstrap (db-init); the next run sets it
        verifier, until = stored[name]
        if role.get("current", True):
            if verifier != role["verifier"] or until not in ("null", "infinity"):
                sql.append(f"ALTER ROLE {name} PASSWORD {literal(role['verifier'])} VALID UNTIL 'infinity'")
                changed.append(name)
        elif verifier == role["verifier"] and until in ("null", "infinity"):
            sql.append(f"SELECT format('ALTER ROLE %I VALID UNTIL %L', {literal(name)}, "
                       f"now() + interval {literal(PREVIOUS_VALID_FOR)}) \\gexec")
            changed.append(f"{name} (previous, expires in {PREVIOUS_VALID_FOR})")
    if sql:
        psql("SET password_encryption = 'scram-sha-256';\n" + "".join(
            line + ("\n" if line.endswith("\\gexec") else ";\n") for line in sql))
    return changed


def apply_app(app):
    """The application's credentials and secrets (root only: its agent reads them again when they change)."""
    return write_private(APP_CREDENTIALS, json.dumps(app, indent=1, sort_keys=True) + "\n", (0, 0), 0o600)


{{monitoring_functions}}


{{backup_functions}}


{{certificate_functions}}


def apply_secrets(doc, boot):
    changed = []
    if doc.get("tls") and apply_tls(doc["tls"]):
        changed.append("tls")
    if doc.get("tls") and reload_patroni_certificate():
        changed.append("Patroni's certificate")
    if ROLE == "db" and not boot:
        # the primary first sets the roles' passwords (the members take the new ones once the roles have them)
        try:
            changed += [f"role {r}" for r in apply_roles(doc.get("passwords", {}), doc.get("roles", {}))]
        except OSError as exc:
            say(f"roles not checked: {exc}")
    if doc.get("passwords") and PATRONI_CONF and apply_passwords(doc["passwords"], boot):
        changed.append("passwords")
    if doc.get("backup") and PGBACKREST_SECRETS and apply_backup(doc["backup"]):
        changed.append("backup")
    if doc.get("app") and APP_CREDENTIALS and apply_app(doc["app"]):
        changed.append("app")
    return changed


def main(argv):
    boot, local = "--boot" in argv, "--local" in argv
    meta = None
    if not local:
        try:
            meta = fetch()
        except (OSError, ValueError) as exc:
            if not boot:
                say(f"nothing changed: {exc}")
                return 1
            say(f"no metadata ({exc}): the user data's copies are applied")
    try:
        if meta is not None:
            doc = check(decode(meta))
            sealed = joined(meta, SECRET_PREFIX)
        else:
            with open(STATE) as f:
                doc = check(json.load(f))
            with open(SEALED_FILE) as f:
                sealed = f.read().strip()
        secret_doc = check_secrets(unseal(sealed))
    except (OSError, ValueError) as exc:
        say(f"nothing changed: {exc}")
        return 1
    changed = apply_secrets(secret_doc, boot)
    export_certificates()
    if doc.get("pg_hba") is not None and PATRONI_CONF and apply_pg_hba(doc["pg_hba"]):
        changed.append("pg_hba")
    if doc.get("firewall") is not None and FIREWALL_TABLE and apply_firewall(doc["firewall"]):
        changed.append("firewall")
    if doc.get("acme_peers") is not None and ACME_PEERS_CONF and apply_acme_peers(doc["acme_peers"]):
        changed.append("acme_peers")
    if doc.get("ssh_keys") is not None and apply_ssh_keys(doc["ssh_keys"]):
        changed.append("ssh_keys")
    if doc.get("site") is not None and SITE_DIR:
        changed += apply_site(doc["site"], boot)
    if doc.get("monitoring") is not None and MONITORING_TARGETS:
        changed += apply_monitoring(doc["monitoring"], secret_doc.get("alertmanager"), boot)
    if doc.get("backup_schedule") is not None and BACKUP_TIMERS:
        changed += apply_backup_schedule(doc["backup_schedule"])
    if doc.get("dcs") is not None and PATRONI_CONF and not boot:
        try:
            if apply_dcs(doc["dcs"]):
                changed.append("dcs")
        except OSError as exc:
            say(f"Patroni's dynamic configuration not checked: {exc}")
    write_private(STATE, json.dumps(doc, indent=1, sort_keys=True) + "\n", (0, 0))
    write_private(SEALED_FILE, sealed + "\n", (0, 0))
    say("applied: " + ", ".join(changed) if changed else "unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
