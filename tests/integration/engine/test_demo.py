"""`make demo`, the first of the README's two commands, runs end to end and prints the verdicts it promises.

It audits the shipped designs offline, prints the fire drills, then previews the shipped stacks with the real
engine and the policy pack (scripts/demo-engine.sh): production passes, the Strasbourg replay is refused.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT, need_tool

pytestmark = pytest.mark.engine


def test_make_demo_prints_the_promised_verdicts(engine_env):
    need_tool(shutil.which("make") is not None, "make")
    r = subprocess.run(["make", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    for line in (
        "-> rejected (exit 1), as it must be",
        "-> REFUSED (exit 1) before creating anything, naming single-site: as it must be",
        "== Engine verdicts as expected: production passes, the Strasbourg replay is refused.",
    ):
        assert line in out, (line, out[-4000:])
    assert re.search(
        r"-> PASSED \(exit 0\): \d{2,} resources planned, the policy pack found no mandatory violation", out
    ), out[-4000:]
