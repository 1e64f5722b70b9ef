"""resilient_stack.drills.load without containers: the visitor's script (package data) run here with curl against
a loopback server standing in for the web hosts, and its output lines as the drill reads them."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator

import pytest

from resilient_stack.drills import load
from resilient_stack.drills.report import Attempt

from ..conftest import need_tool

TOKEN = "write-token-0123456789abcdefghijklmnopqrst"  # the stack output appWriteToken


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.answer(200, b'<html><strong id="placement">ovhcloud/WAW1/waw</strong></html>')

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        n = int(self.path.rsplit("=", 1)[1])
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":  # the application's write endpoint
            self.answer(401, b'{"error": "a write needs the write token"}')
        elif n % 3 == 0:
            self.answer(503, b'{"error": "no member accepts writes"}')
        else:
            self.answer(201, b'{"n": %d, "placement": "ovhcloud/WAW1/waw", "database": "198.18.42.13"}' % n)

    def answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
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


def run_visitor(tmp_path, *args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess:
    """The visitor's script with the write token in its environment (never on its command line), as the drill runs
    it."""
    need_tool(shutil.which("curl") is not None, "curl is not installed")
    script = tmp_path / "visitor.sh"
    script.write_text(load.visitor_script())
    env = {k: v for k, v in os.environ.items() if k != "RS_WRITE_TOKEN"}
    if token is not None:
        env["RS_WRITE_TOKEN"] = token
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=60, env=env)


def visitor(tmp_path, *args: str, token: str | None = TOKEN) -> list[str]:
    proc = run_visitor(tmp_path, *args, token=token)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_gets_name_the_placement_that_served_the_page(server, tmp_path):
    lines = visitor(tmp_path, "get", server, "0", "1", "3", "30", "2")
    assert lines[-1] == "end 4"
    parsed = [load.parse_line(line) for line in lines[:-1]]
    assert [p[0] for p in parsed] == [1, 2, 3]
    for _, attempt, remote, error in parsed:
        assert attempt.ok and attempt.detail == "ovhcloud/WAW1/waw" and remote == "127.0.0.1" and error == ""
        assert attempt.start <= attempt.end


def test_writes_are_numbered_and_report_the_member_that_committed(server, tmp_path):
    lines = visitor(tmp_path, "write", server, "0", "1000001", "3", "30", "2")
    parsed = {p[0]: p for p in map(load.parse_line, lines) if p is not None}
    assert set(parsed) == {1000001, 1000002, 1000003}
    assert parsed[1000001][1].ok and parsed[1000001][1].detail == "198.18.42.13"
    n, attempt, remote, error = parsed[1000002]  # a multiple of 3: the server says 503
    assert not attempt.ok and error.startswith("HTTP 503:") and "no member accepts writes" in error
    assert attempt.detail == f"{remote}: {error}"
    assert TOKEN not in "\n".join(lines), "the token is never printed"


def test_writes_carry_the_write_token_and_refuse_to_start_without_it(server, tmp_path):
    """The application's write endpoint takes the stack's write token (issue 22: not open to the internet); the
    visitor sends it as a bearer token, from its environment."""
    proc = run_visitor(tmp_path, "write", server, "0", "1", "1", "30", "2", token=None)
    assert proc.returncode == 2 and "RS_WRITE_TOKEN is not set" in proc.stderr and proc.stdout == ""
    lines = visitor(tmp_path, "write", server, "0", "1", "1", "30", "2", token="not-the-token")
    (n, attempt, remote, error) = load.parse_line(lines[0])
    assert not attempt.ok and error.startswith("HTTP 401:"), "a wrong token is refused by the server"
    # reads need no token
    assert visitor(tmp_path, "get", server, "0", "1", "1", "30", "2", token=None)[-1] == "end 2"


def test_an_unreachable_address_is_a_failed_attempt_within_the_timeout(tmp_path):
    # a closed port on the loopback: refused at once, like a lost host whose network answers
    lines = visitor(tmp_path, "get", "http://127.0.0.1:9", "0", "1", "1", "30", "1")
    (n, attempt, remote, error) = load.parse_line(lines[0])
    assert not attempt.ok and error.startswith("HTTP 000:") and "curl" in error
    assert attempt.end - attempt.start < 5


def test_the_visitor_script_is_bounded_and_checked(tmp_path):
    text = load.visitor_script()
    assert f"{load.RUN_DIR}/stop" in text and "--connect-timeout" in text and "--max-time" in text
    script = tmp_path / "visitor.sh"
    script.write_text(text)
    proc = subprocess.run(
        ["bash", str(script), "nonsense", "x", "0", "1", "1", "1", "1"], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2 and "usage:" in proc.stderr
    shellcheck = shutil.which("shellcheck")
    need_tool(shellcheck is not None, "shellcheck is not installed (Debian package shellcheck; make tools)")
    proc = subprocess.run([shellcheck, "-s", "bash", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize(
    "line, expected",
    [
        (
            "ok 7 1.5 2.5 198.18.42.11 ovhcloud/GRA11/gra",
            (7, Attempt(1.5, 2.5, True, "ovhcloud/GRA11/gra"), "198.18.42.11", ""),
        ),
        (
            "err 8 3 4 - HTTP 000: curl: (28) Connection timed out",
            (
                8,
                Attempt(3.0, 4.0, False, "-: HTTP 000: curl: (28) Connection timed out"),
                "-",
                "HTTP 000: curl: (28) Connection timed out",
            ),
        ),
        ("end 9", None),
        ("ok x 1 2 - -", None),
        ("", None),
    ],
)
def test_parse_line(line, expected):
    assert load.parse_line(line) == expected


def test_error_kinds_drop_the_numbers():
    assert (
        load.error_kind("HTTP 000: curl: (28) Connection timed out after 1501 milliseconds")
        == "HTTP N: curl: (N) Connection timed out after N milliseconds"
    )
    assert load.error_kind("") == "error"
