"""Safe by construction: the auditor never reaches the network, and nothing in the package parses
with object construction or evaluates input."""

import ast
import json
import subprocess
import sys

from tests import builders as b
from tests.conftest import ROOT

# Runs the CLI in-process with every way out to the network replaced by a recorder that refuses.
PROBE = r"""
import json, socket, sys
attempts = []

def refuse(name):
    def call(*args, **kwargs):
        attempts.append(name)
        raise OSError(f"network refused by the test: {name}")
    return call

socket.socket.connect = refuse("socket.connect")
socket.socket.connect_ex = refuse("socket.connect_ex")
socket.socket.sendto = refuse("socket.sendto")
socket.create_connection = refuse("socket.create_connection")
socket.getaddrinfo = refuse("socket.getaddrinfo")
socket.gethostbyname = refuse("socket.gethostbyname")

from resilient_stack.cli import main

codes = [main(argv) for argv in json.loads(sys.argv[1])]
print(json.dumps({"codes": codes, "attempts": attempts}))
"""


def test_the_auditor_never_reaches_the_network(tmp_path):
    spread = b.spread_export()
    spread_file = spread.write(tmp_path / "spread.json")
    (tmp_path / "preview.json").write_text(json.dumps(b.preview_of(spread)))
    strasbourg = b.strasbourg_export().write(tmp_path / "sbg.json")
    catalog = tmp_path / "cat.yaml"
    catalog.write_text(
        "providers:\n- id: acme\n  auth_hosts: [keystone.acme.example]\n"
        "  sites: [{id: acme-lyon, name: Lyon}]\n  regions: [{name: LYO1, site: acme-lyon}]\n"
    )
    config = tmp_path / "org.yaml"
    config.write_text("profile: strict\nmin_sites: 2\n")
    out = str(tmp_path / "report")
    runs = [
        ["audit", str(spread_file), "--format", "sarif", "-o", out],
        ["audit", str(tmp_path / "preview.json"), "--format", "json", "-o", out],
        ["audit", str(strasbourg), "--catalog", str(catalog), "--config", str(config), "-o", out],
        ["audit", str(ROOT / "examples" / "production.design.yaml"), "--format", "junit", "-o", out],
        ["drill", str(spread_file), "--level", "site", "-o", out],
        ["catalog", "--format", "json"],
    ]
    r = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(runs)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["attempts"] == []
    assert result["codes"] == [0, 0, 1, 0, 0, 0], r.stderr


UNSAFE_YAML = {"load", "load_all", "full_load", "full_load_all", "unsafe_load", "unsafe_load_all"}
UNSAFE_NAMES = {"Loader", "FullLoader", "UnsafeLoader", "UnsafeConstructor", "Constructor"}


def _problems(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec"):
            yield f"{where}: {node.func.id}()"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            )
            for n in names:
                if n.split(".")[0] in ("pickle", "marshal", "shelve", "dill"):
                    yield f"{where}: imports {n}"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "yaml":
            if node.attr in UNSAFE_NAMES:
                yield f"{where}: yaml.{node.attr}"
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "yaml"
            and node.func.attr in UNSAFE_YAML
        ):
            loader = next((k.value for k in node.keywords if k.arg == "Loader"), None)
            name = getattr(loader, "id", None) or getattr(loader, "attr", None) or ""
            if not name.endswith("SafeLoader"):
                yield f"{where}: yaml.{node.func.attr} without a safe loader"


def test_no_eval_pickle_or_unsafe_yaml_in_the_code_that_reads_input():
    files = sorted((ROOT / "resilient_stack").rglob("*.py")) + sorted((ROOT / "policies").rglob("*.py"))
    assert len(files) > 20
    problems = [p for f in files for p in _problems(f)]
    assert problems == []
