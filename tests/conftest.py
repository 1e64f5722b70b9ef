import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_TOOLS = os.environ.get("RESILIENT_STACK_REQUIRE_TOOLS") == "1"


def need_tool(ok: bool, why: str) -> None:
    """Skip locally, FAIL in CI (RESILIENT_STACK_REQUIRE_TOOLS=1): a skipped test is not a pass."""
    if ok:
        return
    if REQUIRE_TOOLS:
        pytest.fail(f"required tool missing: {why}")
    pytest.skip(why)


def run_cli(
    *args: str, stdin: bytes | None = None, cwd: Path = ROOT, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "resilient_stack", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        timeout=120,
        env=env,
    )


@pytest.fixture
def cli():
    return run_cli


SOAK = os.environ.get("RESILIENT_STACK_SOAK") == "1"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``soak`` (long drills whose figures go to the docs) run in `make soak` (RESILIENT_STACK_SOAK=1),
    not in `make test`: they are deselected, and the count says so."""
    if SOAK:
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]
