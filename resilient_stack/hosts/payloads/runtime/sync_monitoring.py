# Managed by resilient_stack (cloud-init): the monitoring host's part of root's sync (runtime/sync.py).
MONITORING_TARGETS = "{{monitoring_targets}}"  # empty on a host that is not a monitoring host
MONITORING_RULES = "{{monitoring_rules}}"
ALERTMANAGER_CONF = "{{alertmanager_conf}}"
DNS_NAMED_CONF = "{{dns_named_conf}}"
DNS_ZONE = "{{dns_zone}}"
DNS_SERVICE = "{{dns_service}}"


def apply_monitoring(monitoring, receivers, boot):
    """What Prometheus scrapes (it reads the target files again by itself), its alert rules and Alertmanager's
    receivers (the sealed document's): each service reloaded when its file changed."""
    owner, changed = ids("root", "prometheus"), []
    for job, groups in sorted(monitoring["targets"].items()):
        if write_private(f"{MONITORING_TARGETS}/{job}.json", json.dumps(groups, indent=1) + "\n", owner, 0o640):
            changed.append(f"{job} targets")
    for path, text, unit in ((MONITORING_RULES, monitoring["rules"], "{{prometheus_service}}"),
                             (ALERTMANAGER_CONF, receivers, "{{alertmanager_service}}")):
        if text and write_private(path, text, owner, 0o640):
            changed.append(os.path.basename(path))
            if not boot:
                subprocess.run(["systemctl", "reload-or-restart", unit], check=True)
    return changed + apply_zone(monitoring.get("zone"))


def apply_zone(zone):
    """The stack's zone (PowerDNS's bind backend) when this host is one of its name servers: written, PowerDNS
    (re)started when it changed or is not running; a zone removed: PowerDNS stopped."""
    if zone is None:
        if not os.path.exists(DNS_ZONE):
            return []
        subprocess.run(["systemctl", "disable", "--now", DNS_SERVICE], check=True)
        os.unlink(DNS_ZONE)
        return ["zone removed"]
    owner = ids("root", "pdns")
    changed = write_private(DNS_ZONE, zone["text"], owner, 0o640)
    changed = write_private(DNS_NAMED_CONF, zone["conf"], owner, 0o640) or changed
    if not changed and active(DNS_SERVICE):
        return []
    subprocess.run(["systemctl", "enable", DNS_SERVICE], check=True)
    subprocess.run(["systemctl", "restart", DNS_SERVICE], check=True)
    return ["zone"]
