"""Amplifications and ambiguities: every one is exit 2, one line, in bounded time and memory.

Each case runs the real command in its own process and measures its wall time and peak RSS (wait4).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests import builders as b
from tests.conftest import ROOT

MB = 1024 * 1024


# Linux charges a child, at its exec, with the peak RSS of the address space it was forked (or vforked) from: measured
# straight from the test process, the CLI's peak would be pytest's own peak so far. A small launcher process forks
# the CLI and reports the CLI's rusage instead.
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def _rusage_run(args: list[str]):
    """(exit code, stderr, seconds, peak RSS bytes) of one CLI run."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "resilient_stack", *args],
        capture_output=True,
        cwd=ROOT,
        check=True,
    )
    code, maxrss_kb = map(int, proc.stdout.split())
    return code, proc.stderr.decode(), time.perf_counter() - t0, maxrss_kb * 1024


def _one_clean_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def _design_yaml_with_many_replicas() -> str:
    # 25 KB of YAML that would expand to 2,000,000 replicas
    rows = "\n".join(
        f"  - {{name: p{i}, cloud: ovh, region: GRA11, replicas: {{web: 1000, database: 1000}}}}" for i in range(1000)
    )
    return f"name: bomb\nplacements:\n{rows}\n"


def _alias_bomb_under_the_alias_limit() -> str:
    # 2.8 KB: each level lists the previous one ten times; 6 levels expand to 10^6 placements
    lines = ["name: bomb", "x0: &x0 {name: p, cloud: ovh, region: GRA11, replicas: {web: 1000}}"]
    for lvl in range(1, 7):
        lines.append(f"x{lvl}: &x{lvl} [" + ", ".join([f"*x{lvl - 1}"] * 10) + "]")
    lines.append("placements: *x6")
    return "\n".join(lines) + "\n"


CASES = {
    "replicas": (_design_yaml_with_many_replicas, "cap of"),
    "aliases": (_alias_bomb_under_the_alias_limit, "refused"),
    "bignum-yaml": (
        lambda: "name: x\nplacements:\n  - {name: a, region: GRA11, replicas: {web: " + "9" * 5000 + "}}\n",
        "cannot be converted",
    ),
    "bignum-json": (
        lambda: (
            '{"version": 3, "deployment": {"resources": [{"urn": "urn:pulumi:a::b::t::n", "type": "t", "n": '
            + "9" * 5000
            + "}]}}"
        ),
        "out of range",
    ),
    "dup-yaml": (
        lambda: "name: x\nplacements: []\nplacements:\n  - {name: a, region: GRA11, replicas: {web: 1}}\n",
        "duplicate key 'placements' at line 3",
    ),
    "dup-json": (
        lambda: (
            '{"version": 3,\n "deployment": {"resources": [\n  {"urn": "urn:pulumi:a::b::t::n",\n   "type": '
            '"openstack:compute/instance:Instance",\n   "type": "openstack:networking/network:Network"}]}}'
        ),
        "duplicate key 'type' at line 5",
    ),
    # the envelope around the streamed resources: checked from its keys and values' lengths, not re-encoded
    "dup-json-envelope": (
        lambda: (
            '{"version": 3,\n "deployment": {"resources": [],\n  "resources": [\n  {"urn": '
            '"urn:pulumi:a::b::t::n", "type": "openstack:compute/instance:Instance"}]}}'
        ),
        "duplicate key 'resources' at line 3",
    ),
    "dup-json-top": (
        lambda: '{"version": 3,\n "deployment": {"resources": []},\n "deployment": {"resources": []}}',
        "duplicate key 'deployment' at line 3",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_amplification_and_ambiguity_is_exit_2_in_bounded_time_and_memory(name, tmp_path):
    make, expected = CASES[name]
    path = tmp_path / (f"{name}.json" if name.endswith("json") else f"{name}.yaml")
    path.write_text(make())
    code, err, seconds, peak = _rusage_run(["audit", str(path)])
    assert code == 2, err
    line = _one_clean_line(err)
    assert str(path) in line and expected in line, line
    assert seconds < 10 and peak < 300 * MB, (seconds, peak / MB)


def test_a_large_yaml_export_is_refused_at_once(tmp_path):
    path = tmp_path / "export.yaml"
    with open(path, "w") as fh:
        fh.write("version: 3\ndeployment:\n  resources:\n")
        for i in range(200_000):
            fh.write(f"  - {{urn: 'urn:pulumi:a::b::openstack:networking/network:Network::n{i}', type: t}}\n")
    code, err, seconds, peak = _rusage_run(["audit", str(path)])
    assert code == 2 and "limit of YAML inputs" in _one_clean_line(err)
    assert seconds < 5 and peak < 200 * MB


def test_inputs_and_outputs_that_disagree_on_the_region_fail_closed(tmp_path):
    e = b.Export()
    gra, waw = e.provider("gra", region="GRA11"), e.provider("waw", region="WAW1")
    e.resource(b.INSTANCE, "web-1", gra, role="web", region="GRA11")
    e.resources[-1]["outputs"]["region"] = "SBG5"  # refreshed: the instance is not where the program said
    e.resource(b.INSTANCE, "web-2", waw, role="web")
    path = e.write(tmp_path / "drift.json")
    r = subprocess.run(
        [sys.executable, "-m", "resilient_stack", "audit", str(path), "--format", "json"],
        capture_output=True,
        cwd=ROOT,
        check=False,
    )
    doc = json.loads(r.stdout)
    unknown = [f for f in doc["findings"] if f["rule"] == "unknown-placement"]
    assert r.returncode == 1 and len(unknown) == 1
    assert "'GRA11' in the inputs but 'SBG5' in the outputs" in unknown[0]["message"]


def test_a_provider_whose_inputs_and_outputs_disagree_fails_closed(tmp_path):
    e = b.Export()
    gra, waw = e.provider("gra", region="GRA11"), e.provider("waw", region="WAW1")
    e.resources[1]["outputs"]["region"] = "SBG5"
    e.resource(b.INSTANCE, "web-1", gra, role="web")
    e.resource(b.INSTANCE, "web-2", waw, role="web")
    path = e.write(tmp_path / "drift.json")
    r = subprocess.run(
        [sys.executable, "-m", "resilient_stack", "audit", str(path), "--format", "json"],
        capture_output=True,
        cwd=ROOT,
        check=False,
    )
    doc = json.loads(r.stdout)
    assert r.returncode == 1
    assert any("in the outputs" in f["message"] for f in doc["findings"] if f["rule"] == "unknown-placement")


def test_preview_steps_without_a_state_are_counted_and_fail_closed(tmp_path):
    doc = b.preview_of(b.spread_export())
    for step in doc["steps"]:
        if step["urn"].endswith("::web-gra"):
            del step["newState"]
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(doc))
    r = subprocess.run(
        [sys.executable, "-m", "resilient_stack", "audit", str(path), "--format", "json"],
        capture_output=True,
        cwd=ROOT,
        check=False,
    )
    found = [f for f in json.loads(r.stdout)["findings"] if f["rule"] == "unknown-placement"]
    assert r.returncode == 1 and len(found) == 1 and "carries no newState" in found[0]["message"]
