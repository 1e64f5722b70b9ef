"""The linter and the type checker run with the tests (issue 26, point 7): ruff's pyflakes, bugbear and
import-order rules ([tool.ruff] in pyproject.toml) find nothing, and its formatter would change nothing, in the
package, the pack, the scripts, the benchmarks and the tests; mypy ([tool.mypy]) finds nothing in the package (the hosts' payloads aside) and the pack."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, need_tool


def _tool(name: str) -> str | None:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def test_ruff_finds_nothing():
    ruff = _tool("ruff")
    need_tool(ruff is not None, "ruff (pip install -e '.[test]')")
    r = subprocess.run(
        [ruff, "check", "--no-cache", "--output-format", "concise", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_ruff_would_find_a_loop_variable_captured_late(tmp_path):
    """Not vacuous: the configuration catches the kind of defect it is there for."""
    ruff = _tool("ruff")
    need_tool(ruff is not None, "ruff (pip install -e '.[test]')")
    bad = tmp_path / "bad.py"
    bad.write_text("fs = []\nfor i in range(3):\n    fs.append(lambda: i)\nimport os\n")
    r = subprocess.run(
        [ruff, "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), "--output-format", "concise", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and "B023" in r.stdout and "F401" in r.stdout and "E402" not in r.stdout, r.stdout


def test_the_code_is_as_ruff_formats_it():
    """`ruff format --check`: every module of the tree (none is excluded)."""
    ruff = _tool("ruff")
    need_tool(ruff is not None, "ruff (pip install -e '.[test]')")
    r = subprocess.run(
        [ruff, "format", "--check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert re.search(r"\b([1-9]\d{2,}) files already formatted", r.stdout), r.stdout  # the tree, not nothing


def test_ruff_format_would_find_a_module_it_would_change(tmp_path):
    ruff = _tool("ruff")
    need_tool(ruff is not None, "ruff (pip install -e '.[test]')")
    bad = tmp_path / "bad.py"
    bad.write_text("x = {  'a':1 }\n")
    r = subprocess.run(
        [ruff, "format", "--check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert r.returncode == 1 and "1 file would be reformatted" in r.stdout, r.stdout


def test_mypy_finds_nothing_in_the_package_and_the_pack():
    mypy = _tool("mypy")
    need_tool(mypy is not None, "mypy (pip install -e '.[test]')")
    r = subprocess.run(
        [mypy, "--no-incremental", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0 and "Success" in r.stdout, r.stdout[-4000:] + r.stderr[-2000:]
    # every module of the package (the hosts' payloads aside: templates run on the hosts) and of the pack
    checked = int(re.search(r"in (\d+) source files", r.stdout).group(1))
    modules = [p for p in (ROOT / "resilient_stack").rglob("*.py") if "payloads" not in p.parts]
    modules += list((ROOT / "policies" / "resilient_policies").rglob("*.py"))
    assert checked == len(modules), (checked, len(modules))


def test_mypy_would_find_an_optional_used_as_a_str(tmp_path):
    """Not vacuous: the kind of defect it found here (a method that does not exist, an Optional used as a str)."""
    mypy = _tool("mypy")
    need_tool(mypy is not None, "mypy (pip install -e '.[test]')")
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x: str | None) -> str:\n    return x.lower()\n")
    r = subprocess.run(
        [mypy, "--no-incremental", "--python-version", "3.11", str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert r.returncode == 1 and "union-attr" in r.stdout, r.stdout
