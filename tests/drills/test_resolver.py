"""The visitor's way in through the stack's own DNS (issue 23, point 3): the registrar's zone and the resolver the
drill gives the visitor, the figures a scenario reports, and the report's line. The live run of the same (unbound
following the delegation to the stack's PowerDNS during a fire) is in tests/integration/firedrill/test_live.py."""

from __future__ import annotations

from resilient_stack.drills import resolver
from resilient_stack.drills.report import Attempt, FiredrillReport, dns_line, render_markdown, render_text
from resilient_stack.hosts import dns
from tests.drills.test_report import scenario

FIRE = 1_800_000_000.0
BURNED = ["100.64.0.11", "100.64.0.12"]
ALIVE = "100.64.0.13"


class Stream:
    def __init__(self, attempts: list[Attempt]) -> None:
        self.attempts = attempts


def answers(*rows: tuple[float, str]) -> Stream:
    return Stream([Attempt(FIRE + t, FIRE + t + 0.01, bool(d), d) for t, d in rows])


def test_the_registrar_holds_the_stacks_delegation_and_unbound_follows_it_from_there():
    zone = dns.Zone("shop.example.com.", 20, (("waw", "100.64.0.30"), ("ik", "100.64.0.31")), ())
    files, runcmd = resolver.visitor_config(zone.name, dns.delegation(zone))
    by_path = {f["path"]: f["content"] for f in files}
    parent = by_path[resolver.REGISTRAR_ZONE]
    assert "$ORIGIN example.com." in parent
    for record in dns.delegation(zone):
        name, typ, value = record.split()
        assert f"{name} IN {typ} {value}" in parent
    unbound = by_path[resolver.UNBOUND_CONF]
    assert 'name: "example.com."' in unbound and f"stub-addr: 127.0.0.1@{resolver.PARENT_PORT}" in unbound
    assert 'module-config: "iterator"' in unbound  # no trust anchor to fetch: the drill's parent is unsigned
    assert "forward-zone" not in unbound  # it recurses itself: no forwarder stands in for the stack's servers
    assert f"local-port={resolver.PARENT_PORT}" in by_path[resolver.REGISTRAR_CONF]
    assert runcmd[-1] == ["systemctl", "start", f"{resolver.SERVICE}.service"]
    assert resolver.parent_of("shop.") == "." and resolver.parent_of("a.b.c.") == "b.c."


def test_the_answers_are_clean_once_the_last_one_naming_a_burned_host_is_past():
    visits = Stream([Attempt(FIRE + 1, FIRE + 3.5, True, "waw"), Attempt(FIRE + 5, FIRE + 5.1, True, "ik")])
    heard = answers(
        (-1, ",".join([*BURNED, ALIVE])),
        (2, ",".join([*BURNED, ALIVE])),
        (23, f"{BURNED[0]},{ALIVE}"),
        (26, ALIVE),
        (40, ALIVE),
    )
    servers = {"100.64.0.30": answers((2, ALIVE)), "100.64.0.31": answers((1, ",".join(BURNED)), (3, ALIVE))}
    got = resolver.stats(visits, heard, servers, FIRE, BURNED, 20)
    assert got["answers_clean_s"] == 23.0 and got["servers_clean_s"] == {"100.64.0.30": 0.0, "100.64.0.31": 1.0}
    assert got["bound_s"] == 1.0 + 20 + resolver.SAMPLE_S  # the slowest name server, the TTL, one sample
    assert got["failed_after_fire"] == 0 and got["requests_after_fire"] == 2
    assert got["page_s_after_fire"] == {"median": 1.3, "max": 2.5}


def test_answers_that_still_name_a_burned_host_at_the_end_are_never_clean():
    heard = answers((2, ",".join(BURNED)), (30, f"{BURNED[1]},{ALIVE}"))
    servers = {"100.64.0.30": answers((2, ALIVE)), "100.64.0.31": answers((2, BURNED[0]))}
    got = resolver.stats(Stream([]), heard, servers, FIRE, BURNED, 20)
    assert got["answers_clean_s"] is None and got["page_s_after_fire"] is None
    assert got["servers_clean_s"]["100.64.0.31"] is None and got["bound_s"] is None
    assert resolver.stats(Stream([]), answers(), {}, FIRE, BURNED, 20)["answers_clean_s"] is None  # nothing heard


def test_failed_requests_and_no_answer_are_counted():
    visits = Stream(
        [
            Attempt(FIRE + 1, FIRE + 4, False, "HTTP 000: timed out"),
            Attempt(FIRE + 6, FIRE + 9, False, "HTTP 000: timed out"),
            Attempt(FIRE + 10, FIRE + 10.2, True, "waw"),
        ]
    )
    got = resolver.stats(visits, answers((1, ""), (2, ALIVE)), {}, FIRE, BURNED, 20)
    assert (got["failed_after_fire"], got["failing_s"], got["no_answer_after_fire"]) == (2, 8.0, 1)
    assert got["answers_clean_s"] == 0.0


def test_the_report_says_both_ways_in():
    s = scenario()
    s.fire_at = FIRE
    s.dns = resolver.stats(
        Stream([Attempt(FIRE + 1, FIRE + 1.2, True, "waw")]),
        answers((24, ALIVE)),
        {"100.64.0.30": answers((3, BURNED[0]), (6, ALIVE))},
        s.fire_at,
        BURNED,
        20,
    )
    s.web = {"after_fire": 40, "failed_after_fire": 0, "page_s_after_fire": {"median": 0.2, "max": 4.1}}
    line = dns_line(s.dns, s.web)
    assert line.startswith("with the stack's DNS 0 of 1 requests failed after the fire")
    assert "the name servers stopped answering the burned hosts after 3 s, the resolver from 0 s after" in line
    assert "(TTL 20 s), bound 24 s" in line and "without it (the record set) 0 of 40 failed" in line
    assert "4.10 s at most" in line
    report = FiredrillReport("production", "p.yaml", [s])
    assert "  dns: with the stack's DNS 0 of 1 requests failed" in render_text(report)
    assert "- dns: with the stack's DNS" in render_markdown(report)
    assert report.as_dict()["scenarios"][0]["dns"]["bound_s"] == 24


def test_a_fault_undone_brings_its_hosts_back_and_the_answers_after_it_are_not_judged():
    heard = answers((2, ",".join([*BURNED, ALIVE])), (20, ALIVE), (40, ",".join([*BURNED, ALIVE])))
    servers = {"100.64.0.30": answers((3, ",".join([*BURNED, ALIVE])), (8, ALIVE), (39, ",".join(BURNED)))}
    assert resolver.stats(Stream([]), heard, servers, FIRE, BURNED, 20)["answers_clean_s"] is None  # judged to the end
    got = resolver.stats(Stream([]), heard, servers, FIRE, BURNED, 20, until=FIRE + 35)  # a partition undone at 35 s
    assert got["answers_clean_s"] == 2.0 and got["servers_clean_s"] == {"100.64.0.30": 3.0} and got["bound_s"] == 24.0
