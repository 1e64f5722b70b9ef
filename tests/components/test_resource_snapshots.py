"""What each shipped stack asks the cloud for, resource by resource, pinned in a readable snapshot.

A resource's URN and inputs are what `pulumi up` compares with the deployed state: a refactor that changes
one of them replaces or updates real resources (a changed URN deletes the old one and creates a new one). The
snapshot holds every resource of each shipped stack as the program registers it under the mock runner: URN,
type, parent, provider, dependencies and inputs (user data is pinned separately, host by host, in
tests/hosts/snapshots). The inputs are those the code registered before the package was split into layers
(commit 7af5db8), so this test proves the split changed nothing a deployed stack would see; the URNs were
re-taken once, when the mock runner learned the engine's ancestor chaining (inputs unchanged then).

An intended change of the stack updates them: RESILIENT_STACK_UPDATE_SNAPSHOTS=1 pytest tests/components
(then read the diff: every line of it is a change `pulumi up` will make).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from resilient_stack.testing.mockrun import to_stack_export
from tests.components.conftest import PASSING

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("RESILIENT_STACK_UPDATE_SNAPSHOTS") == "1"


def pinned(export: dict) -> list[dict]:
    """The parts of each resource `pulumi up` compares: identity, place in the tree, inputs (user data aside)."""
    out = []
    for r in export["deployment"]["resources"]:
        inputs = {k: v for k, v in r.get("inputs", {}).items() if k != "userData"}
        out.append(
            {
                k: v
                for k, v in {
                    "urn": r["urn"],
                    "type": r["type"],
                    "custom": r["custom"],
                    "parent": r.get("parent"),
                    "provider": r.get("provider"),
                    "dependencies": r.get("dependencies"),
                    "inputs": inputs,
                }.items()
                if v is not None
            }
        )
    return sorted(out, key=lambda r: r["urn"])


@pytest.mark.parametrize("stack", PASSING)
def test_resources_are_the_snapshot(stack, runs):
    current = json.dumps(pinned(to_stack_export(runs[stack], show_secrets=True)), indent=1, sort_keys=True) + "\n"
    path = SNAPSHOTS / f"{stack}.resources.json"
    if UPDATE:
        path.write_text(current)
    assert path.is_file(), f"no snapshot {path}: RESILIENT_STACK_UPDATE_SNAPSHOTS=1 writes it"
    expected = path.read_text()
    if current != expected:
        import difflib

        diff = "".join(difflib.unified_diff(expected.splitlines(True), current.splitlines(True), str(path), "now", n=2))
        pytest.fail(
            f"the {stack} stack's resources changed (each line is a change `pulumi up` would make); "
            f"if intended: RESILIENT_STACK_UPDATE_SNAPSHOTS=1\n{diff[:6000]}"
        )
