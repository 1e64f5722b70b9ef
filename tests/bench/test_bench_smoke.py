"""The benchmark script keeps working (figures are NOT asserted: performance is measured by
`python bench/run.py`, not by timed tests), and the synthetic estate is a realistic one."""

import json
import subprocess
import sys

from bench.synth import write_export
from resilient_stack.catalog import load_catalog
from resilient_stack.inputs import load_input
from resilient_stack.rules import evaluate
from tests.conftest import ROOT


def test_synthetic_export_is_a_valid_spread_estate(tmp_path):
    path = write_export(tmp_path / "e.json", 500)
    doc = json.loads(path.read_text())
    assert len(doc["deployment"]["resources"]) == 500
    loaded = load_input(str(path), load_catalog())
    report = evaluate(loaded.placements)
    assert report.verdict == "pass", [f.message for f in report.findings if f.blocking]
    assert {p.role for p in loaded.placements} >= {"web", "database", "object-storage", "backup"}


def test_bench_runs_end_to_end(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "bench/run.py", "--sizes", "300,600", "--repeat", "1", "--json", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "| resources |" in r.stdout and "audit/json.load" in r.stdout
    res = json.loads(out.read_text())
    for size in ("300", "600"):
        for tool in ("json.load", "audit", "drill", "pack"):
            assert res["sizes"][size][tool]["seconds"] > 0 and res["sizes"][size][tool]["peak_rss"] > 0
    assert res["construction"]["resources"] > 50
