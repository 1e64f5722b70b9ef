"""A healthy monitoring host: Debian's Prometheus, Alertmanager and blackbox exporter running with the stack's
configuration, every target of the stack scraped and up, the stack's alert rules loaded, and its Alertmanager in one
cluster with the other monitoring hosts'."""

import json

import pytest

from resilient_stack.hosts.checks.plugin import eventually

pytestmark = pytest.mark.role("monitoring")

SERVICES = ("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter", "prometheus-node-exporter")


def _api(host, url: str):
    out = host.run("curl -fsS --max-time 5 %s", url)
    return json.loads(out.stdout) if out.rc == 0 else None


@pytest.mark.parametrize("service", SERVICES)
def test_service_running_and_enabled(host, service):
    svc = host.service(service)
    assert svc.is_running, service
    assert svc.is_enabled, service


def test_the_stack_alert_rules_are_loaded(host):
    doc = _api(host, "http://127.0.0.1:9090/api/v1/rules")
    assert doc is not None, "Prometheus's API does not answer"
    names = {r["name"] for g in doc["data"]["groups"] for r in g["rules"]}
    assert {"SiteDown", "Failover", "HostDown", "EtcdQuorumLost", "ReplicaNotStreaming"} <= names, sorted(names)


def test_every_target_is_up(host):
    """Every host of the stack answers its exporters (give a fresh host a minute: the first scrapes)."""
    down: list[str] = []

    def all_up() -> bool:
        doc = _api(host, "http://127.0.0.1:9090/api/v1/targets?state=active")
        if doc is None:
            return False
        targets = doc["data"]["activeTargets"]
        down[:] = [
            f"{t['labels'].get('job')}/{t['labels'].get('instance')}: {t.get('lastError') or t['health']}"
            for t in targets
            if t["health"] != "up"
        ]
        return bool(targets) and not down

    assert eventually(all_up, timeout=90, interval=5), down


def test_alertmanager_is_in_one_cluster_with_the_others(root):
    """As many peers as the Prometheus here sends alerts to (every monitoring host's Alertmanager)."""
    host = root
    config = host.file("/etc/prometheus/prometheus.yml").content_string
    expected = config.count(":9093")
    peers: list = []

    def settled() -> bool:
        doc = _api(host, "http://127.0.0.1:9093/api/v2/status")
        peers[:] = (doc or {}).get("cluster", {}).get("peers") or []
        return doc is not None and doc["cluster"]["status"] == "ready" and len(peers) == expected

    assert eventually(settled, timeout=60, interval=3), (expected, peers)
