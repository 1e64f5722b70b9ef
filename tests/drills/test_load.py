"""resilient_stack.drills.load without containers: the HTTP load against a loopback server, the writer's
output lines, and the writer's script (package data)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from resilient_stack.drills import load


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/ok":
            body = b'<html><p id="placement">waw</p></html>'
            self.send_response(200)
        elif self.path == "/plain":
            body = b"no placement here"
            self.send_response(200)
        elif self.path == "/moved":
            body = b""
            self.send_response(302)
            self.send_header("Location", "/ok")
        else:
            body = b"down"
            self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _one(url: str) -> load.Attempt:
    probe = load.HttpLoad(url, interval=0, max_requests=1, max_seconds=5)
    probe.run()
    (attempt,) = probe.attempts
    assert attempt.start <= attempt.end
    return attempt


def test_a_200_names_the_placement_that_served_it(server):
    a = _one(f"{server}/ok")
    assert a.ok and a.detail == "waw"
    b = _one(f"{server}/plain")
    assert b.ok and b.detail == "HTTP 200"


def test_errors_redirects_and_refused_connections_are_failed_requests(server):
    down = _one(f"{server}/down")
    assert not down.ok and down.detail == "HTTP 503"
    moved = _one(f"{server}/moved")
    assert not moved.ok and moved.detail == "HTTP 302"  # a redirect is not followed: not a 200
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    port = srv.server_address[1]
    srv.server_close()  # nothing listens there any more
    refused = _one(f"http://127.0.0.1:{port}/ok")
    assert not refused.ok and "URLError" in refused.detail


def test_the_load_is_bounded_in_requests_and_stops_on_request(server):
    bounded = load.HttpLoad(f"{server}/ok", interval=0, max_requests=5, max_seconds=30)
    bounded.run()
    assert len(bounded.attempts) == 5 and all(a.ok for a in bounded.attempts)
    stopped = load.HttpLoad(f"{server}/ok", interval=0.05, max_requests=10_000, max_seconds=30)
    stopped.start()
    stopped.stop.set()
    stopped.join(timeout=5)
    assert not stopped.is_alive() and len(stopped.attempts) < 10


def test_writer_lines():
    assert load.parse_writer_line("ack 7 1000.25 1000.5 198.18.42.10\n") == (
        7, load.Attempt(1000.25, 1000.5, True, "198.18.42.10"), "")
    n, a, message = load.parse_writer_line(
        "err 8 1001.0 1003.0 198.18.42.10 psql: error: connection to server at \"198.18.42.10\", port 5432 failed\n")
    assert (n, a.ok, a.start, a.end) == (8, False, 1001.0, 1003.0)
    assert message == 'psql: error: connection to server at "198.18.42.10", port 5432 failed'
    assert a.detail == f"198.18.42.10: {message}"
    assert load.parse_writer_line("err 9 1004.0 1005.0 198.18.42.10\n")[2] == ""
    assert load.parse_writer_line("end 42\n") is None
    assert load.parse_writer_line("garbage\n") is None


def test_write_errors_are_counted_by_kind():
    a = load.error_kind('psql: error: connection to server at "198.18.42.10", port 5432 failed: timeout expired')
    b = load.error_kind('psql: error: connection to server at "198.18.42.11", port 5432 failed: timeout expired')
    assert a == b == 'psql: error: connection to server at "N", port N failed: timeout expired'
    # psql's lines joined by the writer: what follows a run of spaces (the hint) is not part of the kind
    assert load.error_kind('psql: error: connection to server at "198.18.42.10", port 5432 failed: Connection '
                           'refused  Is the server running on that host?') == \
        'psql: error: connection to server at "N", port N failed: Connection refused'
    assert load.error_kind("") == "error" and len(load.error_kind("x" * 500)) == 100


def test_the_writer_script_writes_numbered_rows_and_obeys_the_stop_flag():
    script = load.writer_script()
    assert script.startswith("#!/bin/bash\n")
    assert f"INSERT INTO {load.TABLE} (n) VALUES ($n)" in script
    assert f"{load.RUN_DIR}/target" in script and f"[ ! -e {load.RUN_DIR}/stop ]" in script
    assert "sslmode=require" in script and "connect_timeout=2" in script
