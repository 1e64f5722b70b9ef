"""The stack's own name servers (issue 23, point 3): the zone PowerDNS serves, how it reaches the monitoring hosts
(their runtime document, root's sync), and the host firewall. The live proof (a resolver following the delegation
during a fire) is the drill's: tests/integration/firedrill/test_live.py."""

from __future__ import annotations

import json

import pytest

from resilient_stack.hosts import dns, firewall, paths, secrets
from tests.hosts.samples import HOST_KEY, files, load
from tests.hosts.test_monitoring import mon

SERVERS = (("waw", "203.0.113.30"), ("ik", "2001:db8::30"))
WEB = ("198.51.100.10", "198.51.100.11", "2001:db8::10")


def zone(**kw) -> dns.Zone:
    return dns.Zone(**{"name": "shop.example.com.", "ttl": 20, "servers": SERVERS, "web": WEB, **kw})


def records(text: str) -> list[list[str]]:
    return [line.split(None, 3) for line in text.splitlines() if line and line[0] not in ";$"]


def test_the_zone_answers_its_name_and_www_with_the_web_hosts_that_answer_their_health_check():
    got = records(dns.zone_file(zone()))
    lua = {(r[0], r[3].split()[0]): r[3].split(None, 1)[1] for r in got if r[2] == "LUA"}
    assert set(lua) == {("@", "A"), ("www", "A"), ("@", "AAAA"), ("www", "AAAA")}
    v4 = lua[("www", "A")]
    assert v4.startswith("\"ifurlup('http://shop.example.com:80/healthz', {{'198.51.100.10', '198.51.100.11'}}")
    assert "selector='all'" in v4 and "backupSelector='all'" in v4 and f"timeout={dns.CHECK_TIMEOUT_S}" in v4
    assert "2001:db8::10" in lua[("@", "AAAA")] and "198.51.100" not in lua[("@", "AAAA")]


def test_the_name_servers_and_their_glue_are_the_zones_and_what_the_registrar_gets():
    got = records(dns.zone_file(zone()))
    assert [r[3] for r in got if r[2] == "NS"] == ["ns-waw.shop.example.com.", "ns-ik.shop.example.com."]
    glue = {r[0]: (r[2], r[3]) for r in got if r[0].startswith("ns-")}
    assert glue == {
        "ns-waw.shop.example.com.": ("A", "203.0.113.30"),
        "ns-ik.shop.example.com.": ("AAAA", "2001:db8::30"),
    }
    assert dns.delegation(zone()) == [
        "shop.example.com. NS ns-waw.shop.example.com.",
        "shop.example.com. NS ns-ik.shop.example.com.",
        "ns-waw.shop.example.com. A 203.0.113.30",
        "ns-ik.shop.example.com. AAAA 2001:db8::30",
    ]
    soa = next(r for r in got if r[2] == "SOA")[3].split()
    assert soa[0] == "ns-waw.shop.example.com." and soa[-1] == "20"  # negative answers cached no longer than the TTL


def test_the_serial_changes_with_the_web_hosts_and_only_with_them():
    def serial(z: dns.Zone) -> int:
        return int(next(r for r in records(dns.zone_file(z)) if r[2] == "SOA")[3].split()[2])

    assert serial(zone()) == serial(zone())
    assert serial(zone(web=WEB[:1])) != serial(zone())
    assert dns.zone_file(zone()).startswith("; Managed by resilient_stack")


def test_a_zone_with_no_web_host_yet_holds_its_name_servers_only():
    text = dns.zone_file(zone(web=()))
    assert "LUA" not in text and "IN NS ns-ik.shop.example.com." in text


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"name": "shop.example.com"}, "final dot"),
        ({"name": "shop..example.com."}, "final dot"),
        ({"ttl": 0}, "ttl"),
        ({"servers": ()}, "at least one name server"),
        ({"servers": (("waw", "not-an-address"),)}, "does not appear to be an IPv4 or IPv6 address"),
        ({"servers": (("w w", "203.0.113.30"),)}, "DNS label"),
        ({"web": ("198.51.100.10'}) os.exit() --",)}, "does not appear"),
    ],
)
def test_a_zone_that_cannot_be_served_is_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        zone(**bad)


def test_powerdns_is_authoritative_only_with_lua_records_and_the_stacks_zone():
    conf = dict(line.split("=", 1) for line in dns.pdns_config().splitlines() if line and not line.startswith("#"))
    assert conf["launch"] == "bind" and conf["bind-config"] == dns.NAMED_CONF
    assert conf["enable-lua-records"] == "yes" and conf["lua-health-checks-interval"] == str(dns.CHECK_INTERVAL_S)
    assert conf["disable-axfr"] == "yes" and conf["local-port"] == "53"
    assert "recursor" not in conf  # an authoritative server never recurses for anyone
    assert dns.named_conf("shop.example.com.") == (
        f'zone "shop.example.com." {{ type master; file "{dns.ZONE_FILE}"; }};\n'
    )


def mon_files(with_zone: bool) -> dict:
    """The files of test_monitoring's monitoring host, serving the zone or not."""
    return files(load(mon(zone=zone() if with_zone else None)))


def test_every_monitoring_host_gets_powerdns_which_runs_only_with_a_zone():
    doc = load(mon())
    assert set(dns.PACKAGES) <= set(doc["packages"])
    assert ["systemctl", "disable", "--now", dns.SERVICE] in doc["runcmd"]
    disable = doc["runcmd"].index(["systemctl", "disable", "--now", dns.SERVICE])
    assert doc["runcmd"].index([paths.SYNC_SCRIPT, "--boot"]) > disable  # the sync starts it with the zone
    assert files(doc)[dns.CONF]["content"] == dns.pdns_config()
    first = json.loads(mon_files(True)[paths.RUNTIME_CONFIG]["content"])
    assert first["monitoring"]["zone"] == {"conf": dns.named_conf("shop.example.com."), "text": dns.zone_file(zone())}
    assert "zone" not in json.loads(mon_files(False)[paths.RUNTIME_CONFIG]["content"])["monitoring"]


def test_dns_is_open_on_the_monitoring_hosts_only():
    assert any("th dport 53 accept" in r for r in firewall._rules("monitoring"))
    for role in ("web", "db"):
        assert not any("dport 53 " in r for r in firewall._rules(role))


def test_the_sync_writes_the_zone_starts_powerdns_restarts_it_on_a_change_and_stops_it_without_a_zone(
    tmp_path, monkeypatch
):
    from tests.hosts.samples import sync_module
    from tests.hosts.test_sync_secrets import Recorder

    fs = mon_files(True)
    module = sync_module(tmp_path, fs[paths.SYNC_SCRIPT]["content"])
    assert (module.DNS_ZONE, module.DNS_NAMED_CONF, module.DNS_SERVICE) == (dns.ZONE_FILE, dns.NAMED_CONF, dns.SERVICE)
    me = (__import__("os").getuid(), __import__("os").getgid())
    monkeypatch.setattr(module, "ids", lambda user, group=None: me)
    for name in ("MONITORING_TARGETS", "MONITORING_RULES", "ALERTMANAGER_CONF", "DNS_ZONE", "DNS_NAMED_CONF"):
        monkeypatch.setattr(module, name, str(tmp_path / name.lower()))
    running = {"now": False}
    monkeypatch.setattr(module, "active", lambda unit: running["now"])
    rec = Recorder()
    monkeypatch.setattr(module.subprocess, "run", rec)
    first = module.check(json.loads(fs[paths.RUNTIME_CONFIG]["content"]))
    receivers = secrets.unseal(fs[secrets.SEALED_FILE]["content"].strip(), HOST_KEY)["alertmanager"]

    assert "zone" in module.apply_monitoring(first["monitoring"], receivers, boot=True)
    assert (tmp_path / "dns_zone").read_text() == dns.zone_file(zone())
    assert (tmp_path / "dns_named_conf").read_text() == dns.named_conf("shop.example.com.")
    assert rec.calls == [["systemctl", "enable", dns.SERVICE], ["systemctl", "restart", dns.SERVICE]]
    running["now"], rec.calls[:] = True, []
    assert module.apply_monitoring(first["monitoring"], receivers, boot=False) == [] and rec.calls == []

    fewer = {
        **first["monitoring"],
        "zone": {"conf": dns.named_conf(zone().name), "text": dns.zone_file(zone(web=WEB[:1]))},
    }
    assert module.apply_monitoring(fewer, receivers, boot=False) == ["zone"]
    assert rec.calls[-1] == ["systemctl", "restart", dns.SERVICE]
    rec.calls[:] = []
    gone = {k: v for k, v in first["monitoring"].items() if k != "zone"}
    assert module.apply_monitoring(gone, receivers, boot=False) == ["zone removed"]
    assert rec.calls == [["systemctl", "disable", "--now", dns.SERVICE]] and not (tmp_path / "dns_zone").exists()
    for bad in ({"text": "x"}, {"conf": 1, "text": "x"}, "zone"):
        with pytest.raises(ValueError, match="zone"):
            module.check({**first, "monitoring": {**first["monitoring"], "zone": bad}})
