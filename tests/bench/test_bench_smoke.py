"""The benchmark script keeps working (figures are NOT asserted: performance is measured by
`python -m bench.run`, not by timed tests), and the synthetic estate is a realistic one."""

import json
import subprocess
import sys

import pytest

from bench.synth import write_export
from resilient_stack.audit.inputs import load_input
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.rules import evaluate
from tests.conftest import ROOT


def test_synthetic_export_is_a_valid_spread_estate(tmp_path):
    path = write_export(tmp_path / "e.json", 500)
    doc = json.loads(path.read_text())
    assert len(doc["deployment"]["resources"]) == 500
    loaded = load_input(str(path), load_catalog())
    report = evaluate(loaded.placements)
    assert report.verdict == "pass", [f.message for f in report.findings if f.blocking]
    assert {p.role for p in loaded.placements} >= {"web", "database", "object-storage", "backup"}


def test_worst_case_export_is_all_instances_to_place(tmp_path):
    path = write_export(tmp_path / "w.json", 400, kind="instances")
    doc = json.loads(path.read_text())
    types = [r["type"] for r in doc["deployment"]["resources"]]
    assert len(types) == 400 and types.count("openstack:compute/instance:Instance") == 400 - 1 - types.count(
        "pulumi:providers:openstack"
    )
    loaded = load_input(str(path), load_catalog())
    assert len(loaded.placements) == types.count("openstack:compute/instance:Instance")
    assert all(p.resolved for p in loaded.placements)
    assert evaluate(loaded.placements).verdict == "pass"


def test_small_instances_are_about_570_bytes_and_all_placed(tmp_path):
    path = write_export(tmp_path / "s.json", 1000, kind="small")
    doc = json.loads(path.read_text())
    instances = [r for r in doc["deployment"]["resources"] if r["type"] == "openstack:compute/instance:Instance"]
    per = sum(len(json.dumps(r)) for r in instances) / len(instances)
    assert 450 < per < 700, per
    loaded = load_input(str(path), load_catalog())
    assert len(loaded.placements) == len(instances) and all(p.resolved for p in loaded.placements)


def test_bench_runs_end_to_end(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run(
        [sys.executable, "-m", "bench.run", "--sizes", "300,600", "--repeat", "1", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "| resources |" in r.stdout and "audit/json.load" in r.stdout
    res = json.loads(out.read_text())
    for size in ("300", "600"):
        for tool in ("json.load", "audit", "drill", "pack", "pack rules"):
            assert res["sizes"][size][tool]["seconds"] > 0 and res["sizes"][size][tool]["peak_rss"] > 0
            assert res["sizes"][size][tool]["cpu"] > 0
        assert res["worst"][size]["audit"]["cpu"] > 0 and res["worst"][size]["json.load"]["cpu"] > 0
        assert res["small"][size]["audit"]["cpu"] > 0 and res["small"][size]["json.load"]["cpu"] > 0
        for kind in ("opentofu-plan", "opentofu-state"):
            assert res[kind][size]["audit"]["cpu"] > 0 and res[kind][size]["json.load"]["cpu"] > 0
    assert "Worst case: every resource an instance to place" in r.stdout and "load average" in r.stdout
    assert "Per-resource worst case: every resource a SMALL instance" in r.stdout
    assert "OpenTofu: `tofu show -json` of a plan" in r.stdout and "OpenTofu: `tofu show -json` of a state" in r.stdout
    assert res["construction"]["resources"] > 50


def test_auditing_a_json_export_imports_neither_pydantic_nor_yaml(tmp_path):
    """Start-up is part of every CI audit: validation libraries load only for the files that need them
    (design files, --config, --catalog), never for a stack export or a preview."""
    path = write_export(tmp_path / "e.json", 200)
    probe = (
        "import sys\n"
        "from resilient_stack.cli import main\n"
        f"code = main(['audit', {str(path)!r}, '--format', 'json', '-o', {str(tmp_path / 'r.json')!r}])\n"
        "print(code, sorted(m for m in ('pydantic', 'yaml', 'rich') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.stdout.split(None, 1) == ["0", "[]\n"], r.stdout + r.stderr
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "pass"


@pytest.mark.parametrize("kind", ["plan", "state"])
def test_synthetic_opentofu_files_are_the_real_fixtures_repeated_and_judged_alike(tmp_path, kind):
    """write_opentofu: whole sites of the real production fixture under new module names; the auditor places
    every copy (no unknown placement) and passes it, as it passes the fixture."""
    from bench.synth import write_opentofu

    path = write_opentofu(tmp_path / f"{kind}.json", 500, kind=kind)
    r = subprocess.run(
        [sys.executable, "-m", "resilient_stack", "audit", str(path), "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["verdict"] == "pass", r.stderr
    assert report["coverage"]["resources"] >= 500
    modules = {p["resource"].split(".")[1] for p in report["placements"] if p["resource"].startswith("module.")}
    assert len(modules) >= 500 // 12 and {"gra_0", "waw_0", "ik_0"} <= modules
