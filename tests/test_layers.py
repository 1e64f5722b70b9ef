"""The house: the layers of the package and their import contract, and modules small enough to read."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    (copy / "resilient_stack" / "core" / "zz_bad.py").write_text(
        "import pulumi\nfrom resilient_stack.audit import inputs\n"
    )
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(copy)}
    proc = subprocess.run([lint, "--no-cache"], cwd=copy, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode != 0
    assert "resilient_stack.core.zz_bad -> pulumi" in proc.stdout
    assert "resilient_stack.core.zz_bad -> resilient_stack.audit.inputs" in proc.stdout


def test_no_module_is_over_700_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


# A path of one machine: the checkout's parent, the build user's home and caches. Host-side paths in payloads
# and test data (/root/.env on a deployed host) are not paths of this machine.
MACHINE_PATH = re.compile(r"(?<![\w.$~])/(?:work/|root/\.(?:cache|pyenv|config|local)/|home/[a-z_][\w-]*/)")


def tracked_text_files() -> list[Path]:
    proc = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60)
    if proc.returncode != 0:
        pytest.fail(f"git ls-files failed: {proc.stderr.decode()[-500:]}")
    out = []
    for name in proc.stdout.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file() and b"\0" not in path.read_bytes()[:8192]:
            out.append(path)
    return out


def test_no_path_of_one_machine_anywhere():
    """Scripts take their paths from the repository or the environment; docs show neutral paths."""
    hits = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()[:120]}"
        for p in tracked_text_files()
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if MACHINE_PATH.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_the_machine_path_pattern():
    root = "/"  # the examples are assembled so that this file does not match itself
    for bad in (
        f"see {root}work/shared/hosts.md",
        f"cache in {root}root/.cache/resilient-stack",
        f"{root}home/alice/src",
    ):
        assert MACHINE_PATH.search(bad), bad
    for fine in ("$WORK/root/etc/apt", "path: /root/.env", "~/.cache/resilient-stack", "/etc/resilient-stack/role"):
        assert not MACHINE_PATH.search(fine), fine
