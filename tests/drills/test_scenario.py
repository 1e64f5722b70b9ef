"""resilient_stack.drills.scenario without containers: what it reads from the entry point's journal.
(The scenario itself, with podman: tests/integration/firedrill.)"""

from __future__ import annotations

from resilient_stack.drills.scenario import haproxy_down_events

JOURNAL = """\
1700000000.100000 rs-1a2b3c-entry haproxy[812]: Server web/shop-gra-web-1 is DOWN, reason: Layer4 timeout, check duration: 1001ms. 4 active and 0 backup servers left.
1700000000.200000 rs-1a2b3c-entry haproxy[812]: 198.18.42.1:5123 [14/Nov/2023:22:13:20.200] www web/shop-waw-web-1 0/0/1/2/3 200 512 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"
1700000000.900000 rs-1a2b3c-entry haproxy[812]: Server web-tls/shop-gra-web-1 is DOWN, reason: Layer4 timeout. 4 active and 0 backup servers left.
1700000001.500000 rs-1a2b3c-entry haproxy[812]: Server web/shop-gra-web-1 is DOWN, reason: Layer4 timeout (again)
1700000001.700000 rs-1a2b3c-entry haproxy[812]: Server web/shop-gra-web-2 is DOWN, reason: Layer4 connection problem
-- No entries --
"""


def test_the_first_down_of_each_server_is_an_event():
    assert haproxy_down_events(JOURNAL) == [
        (1700000000.1, "Server web/shop-gra-web-1 is DOWN"),
        (1700000000.9, "Server web-tls/shop-gra-web-1 is DOWN"),
        (1700000001.7, "Server web/shop-gra-web-2 is DOWN"),
    ]
    assert haproxy_down_events("") == []

