"""The house: the layers of the package and their import contract, and modules small enough to read."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "resilient_stack"
MAX_LINES = 700


def test_import_contract_holds():
    """pyproject.toml's [tool.importlinter] contracts: layers only import downwards, the core imports no Pulumi."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "lint-imports missing: install the test extra"
    proc = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "broken" in proc.stdout and " 0 broken" in proc.stdout


def test_the_contract_breaks_on_a_pulumi_import_in_the_core(tmp_path):
    """The contract is not vacuous: a core module importing pulumi (or a lower layer importing a higher one) breaks it."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "resilient_stack", ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    (copy / "resilient_stack" / "core" / "zz_bad.py").write_text("import pulumi\nfrom resilient_stack.audit import inputs\n")
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(copy)}
    proc = subprocess.run([lint, "--no-cache"], cwd=copy, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode != 0
    assert "resilient_stack.core.zz_bad -> pulumi" in proc.stdout
    assert "resilient_stack.core.zz_bad -> resilient_stack.audit.inputs" in proc.stdout


def test_no_module_is_over_700_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
