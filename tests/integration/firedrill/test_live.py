"""The live fire drill (`resilient-stack firedrill`): boots whole stacks in podman from the exact user data,
burns a site, measures. Needs podman, the host image (built when absent, as root) and moto[server] for the
backup store's S3 stand-in; skipped without them, or FAILS with RESILIENT_STACK_REQUIRE_TOOLS=1.

About 100 s per burned site (boot ~70 s, steady load, fire, failover, observation, cleanup).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from resilient_stack.drills.topology import moto_site
from resilient_stack.testing import podman

from tests.conftest import ROOT, need_tool

pytestmark = pytest.mark.podman

ASYNC_WINDOW_S = 5.0  # lost rows, if any, were acknowledged at most this long before the fire


@pytest.fixture(scope="module")
def tools() -> None:
    need_tool(podman.podman_available(), f"podman is not available: run `sudo bash {podman.BUILD_SCRIPT}`")
    try:
        podman.ensure_image()
    except podman.PodmanUnavailable as exc:
        need_tool(False, str(exc))
    try:
        moto_site()
    except podman.PodmanUnavailable as exc:
        need_tool(False, str(exc))


def firedrill(*args: str, timeout: float = 900) -> tuple[subprocess.CompletedProcess[str], dict]:
    proc = subprocess.run([sys.executable, "-m", "resilient_stack", "firedrill", *args, "--format", "json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    sys.stderr.write(proc.stderr)  # the drill's progress: shown by pytest when a test fails
    assert proc.returncode in (0, 1), f"exit {proc.returncode}:\n{proc.stderr[-4000:]}"
    return proc, json.loads(proc.stdout)


def session_of(stderr: str) -> str:
    m = re.search(r"podman session (rs-[0-9a-f]{6}-)\*", stderr)
    assert m, stderr[-2000:]
    return m.group(1)


def leftovers(prefix: str) -> list[str]:
    return podman.names_with_prefix(prefix)


def test_burning_the_primary_site_keeps_the_web_up_and_the_acknowledged_rows(tools):
    proc, rep = firedrill("production")  # default: the site of the database primary
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert rep["design"]["accepted"] and rep["verdict"] == "pass"
    (sc,) = rep["scenarios"]
    assert sc["site_id"] == "ovh-gravelines" and sc["placements"] == ["gra"]
    assert set(sc["killed"]) == {"shop-gra-db", "shop-gra-web-1", "shop-gra-web-2"}
    # the entry point never stopped answering 200: the health-checked pool routed around the burned hosts
    assert sc["rto_web_s"] == 0.0, sc["timeline"]
    assert sc["web_requests"]["after_fire"] > 20 and sc["web_requests"]["failed_after_fire"] == 0
    # the shipped runbook: the most advanced replica (ties: the failover order waw, ik) promoted
    fo = sc["failover"]
    assert fo["old_primary"] == "gra" and fo["order"] == ["waw", "ik"] and fo["promoted"] in ("waw", "ik")
    assert set(fo["received_lsn"]) == {"waw", "ik"}
    assert sc["rto_writes_s"] is not None and 0 < sc["rto_writes_s"] < 60
    assert sc["writes"]["acknowledged"] > sc["rpo"]["acknowledged_before_fire"] > 10  # writes resumed
    # RPO: asynchronous streaming replication may lose only the last rows acknowledged before the fire
    rpo = sc["rpo"]
    assert rpo["survivor_read"] and rpo["lost_rows_are_async_tail"], rpo
    if rpo["rows_lost"]:
        assert rpo["lost_window_s"] <= ASYNC_WINDOW_S, rpo
    assert sc["measured"]["service_survives"] and sc["measured"]["data_survives"]
    assert sc["measured"]["data"] in ("intact", "async-tail")
    assert sc["predicted"]["service_survives"] and sc["predicted"]["data_survives"] and sc["matches_prediction"]
    phases = [e["phase"] for e in sc["timeline"]]
    for phase in ("boot", "ready", "load", "fire", "monitor", "failover", "recovery", "rpo", "cleanup"):
        assert phase in phases
    assert not leftovers(session_of(proc.stderr))


def test_the_sbg2021_replay_loses_service_and_data(tools):
    proc, rep = firedrill("sbg2021")
    assert proc.returncode == 1
    assert rep["design"] == {"accepted": False, "rejected_by": ["backup-colocated", "single-site", "site-majority"]}
    (sc,) = rep["scenarios"]
    assert sc["site_id"] == "ovh-strasbourg" and sc["placements"] == ["sbg5", "sbg7", "backups-sbg"]
    assert "backups-sbg-s3" in sc["killed"] and len(sc["killed"]) == 6
    assert sc["rto_web_s"] is None and sc["rto_writes_s"] is None
    assert sc["failover"]["promoted"] is None
    rpo = sc["rpo"]
    assert not rpo["survivor_read"] and rpo["acknowledged"] > 10 and rpo["rows_lost"] == rpo["acknowledged"]
    assert sc["measured"] == {"service_survives": False, "data_survives": False, "data": "lost"}
    assert sc["predicted"]["service_survives"] is False and sc["predicted"]["data_survives"] is False
    assert sc["matches_prediction"] and rep["verdict"] == "fail" and rep["exit_code"] == 1
    assert any("rejected by the placement rules" in n for n in sc["notes"])
    assert "REJECTED by the placement rules (backup-colocated, single-site, site-majority)" in proc.stderr
    assert not leftovers(session_of(proc.stderr))


def test_ctrl_c_removes_every_container_and_network(tools):
    proc = subprocess.Popen([sys.executable, "-m", "resilient_stack", "firedrill", "production"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        seen, deadline = "", time.monotonic() + 120
        while "podman session" not in seen and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen += line
        prefix = session_of(seen)
        deadline = time.monotonic() + 60
        while len(leftovers(prefix)) < 5 and time.monotonic() < deadline:  # networks and containers exist
            time.sleep(0.5)
        assert leftovers(prefix)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=180) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not leftovers(prefix)
