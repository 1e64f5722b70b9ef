#!/usr/bin/python3
# Managed by resilient_stack (cloud-init): resilient-stack-sync, root's sync of the host's runtime
# configuration. The user data is the boot configuration and never changes on a running host; what changes
# routinely (pg_hba, the host firewall's sets) comes from the instance's metadata, which the cloud updates in
# place: items {{prefix}}00, {{prefix}}01... joined into one JSON document (resilient_stack.hosts.runtime).
# Run by resilient-stack-sync.timer and once at first boot (--boot: an unreachable metadata service keeps the
# user data's configuration). Applies only what changed; a document it cannot use changes nothing.
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

METADATA_URL = "{{metadata_url}}"
PREFIX = "{{prefix}}"
VERSION = {{version}}
STATE = "{{runtime_config}}"
PATRONI_CONF = "{{patroni_conf}}"  # empty on a host without Patroni
PATRONI_SERVICE = "{{patroni_service}}"
FIREWALL_TABLE = "{{firewall_table}}"  # empty on a host without the firewall
FIREWALL_SETS_FILE = "{{firewall_sets_file}}"
ACME_PEERS_CONF = "{{acme_peers_conf}}"  # empty on a host that asks for no ACME certificate
HBA_RULE = re.compile(r"(local|host|hostssl|hostnossl)( [A-Za-z0-9_.,:/-]+){2,4}")


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


def decode(meta):
    """The runtime document from the metadata items (the inverse of resilient_stack.hosts.runtime.encode)."""
    parts = sorted((int(k[len(PREFIX):]), v) for k, v in meta.items()
                   if k.startswith(PREFIX) and re.fullmatch(r"\d{2}", k[len(PREFIX):]))
    if not parts:
        raise ValueError("no runtime configuration in the metadata")
    if [i for i, _ in parts] != list(range(len(parts))):
        raise ValueError("the runtime configuration's metadata items are not consecutive")
    doc = json.loads("".join(v for _, v in parts))
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        raise ValueError(f"not a version {VERSION} runtime configuration")
    return doc


def check(doc):
    """Refuse (ValueError) a document this host could not apply safely."""
    rules = doc.get("pg_hba")
    if rules is not None:
        if not isinstance(rules, list) or not all(isinstance(r, str) and HBA_RULE.fullmatch(r) for r in rules):
            raise ValueError("pg_hba must be a list of pg_hba.conf lines")
    sets = doc.get("firewall")
    if sets is not None:
        if not isinstance(sets, dict):
            raise ValueError("firewall must map set names to networks")
        for name, elements in sets.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", name) or not isinstance(elements, list):
                raise ValueError(f"firewall set {name!r}: a lower-case name and a list of networks")
            for element in elements:
                network = ipaddress.ip_network(element, strict=True)  # ValueError for anything else
                if network.prefixlen == 0:
                    raise ValueError(f"firewall set {name}: {element} would admit the whole Internet")
    peers = doc.get("acme_peers")
    if peers is not None:
        if not isinstance(peers, list):
            raise ValueError("acme_peers must list addresses")
        for peer in peers:
            ipaddress.ip_address(peer)  # ValueError for anything else
    return doc


def write_private(path, text, owner):
    """Replace ``path`` atomically with ``text``, mode 0600, owned by ``owner`` (uid, gid)."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".resilient-stack-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chown(tmp, *owner)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def apply_pg_hba(rules):
    """Patroni's pg_hba (it writes pg_hba.conf and reloads PostgreSQL when Patroni reloads)."""
    import yaml  # python3-yaml: a dependency of cloud-init and of Patroni

    with open(PATRONI_CONF) as f:
        text = f.read()
    config = yaml.safe_load(text)
    if config["postgresql"].get("pg_hba") == rules:
        return False
    config["postgresql"]["pg_hba"] = rules
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    stat = os.stat(PATRONI_CONF)
    write_private(PATRONI_CONF, header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False,
                                                       width=4096), (stat.st_uid, stat.st_gid))
    if subprocess.run(["systemctl", "is-active", "--quiet", PATRONI_SERVICE]).returncode == 0:
        subprocess.run(["systemctl", "reload", PATRONI_SERVICE], check=True)
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
    text = acme_peers_text(peers)
    try:
        with open(ACME_PEERS_CONF) as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    write_private(ACME_PEERS_CONF, text, (0, 0))
    os.chmod(ACME_PEERS_CONF, 0o644)
    subprocess.run(["nginx", "-t", "-q"], check=True)
    subprocess.run(["systemctl", "reload", "nginx"], check=True)
    return True


def main(argv):
    boot = "--boot" in argv
    try:
        doc = check(decode(fetch()))
    except (OSError, ValueError) as exc:
        if boot:
            say(f"no runtime configuration from the metadata service ({exc}): the user data's stays")
            return 0
        say(f"nothing changed: {exc}")
        return 1
    changed = []
    if doc.get("pg_hba") is not None and PATRONI_CONF and apply_pg_hba(doc["pg_hba"]):
        changed.append("pg_hba")
    if doc.get("firewall") is not None and FIREWALL_TABLE and apply_firewall(doc["firewall"]):
        changed.append("firewall")
    if doc.get("acme_peers") is not None and ACME_PEERS_CONF and apply_acme_peers(doc["acme_peers"]):
        changed.append("acme_peers")
    write_private(STATE, json.dumps(doc, indent=1, sort_keys=True) + "\n", (0, 0))
    say("applied: " + ", ".join(changed) if changed else "unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
