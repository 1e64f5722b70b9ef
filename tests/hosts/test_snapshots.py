"""Snapshots of the user data every host of each shipped stack receives, rendered through the real components.

User data is an input of ``openstack.compute.Instance``: any change to it, one byte, makes ``pulumi up`` replace
the host (a database primary included). So the rendered text of every host of ``stacks/Pulumi.production.yaml``
and ``stacks/Pulumi.staging.yaml`` is kept, as it is, in ``tests/hosts/snapshots/<stack>/<host name>.yaml``, and
this test fails on any difference, showing it as a diff. The stacks run under the mock runner
(:func:`resilient_stack.testing.mockrun.run_program`), whose passwords, S3 keys and addresses are derived from the
resources' URNs: they are deterministic fakes, not secrets.

A deliberate change to what the hosts receive is recorded by regenerating the snapshots, never automatically::

    RESILIENT_STACK_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest -q tests/hosts/test_snapshots.py

That run rewrites the files that differ (and removes those of hosts that no longer exist) and still FAILS, naming
them: review ``git diff tests/hosts/snapshots`` (each change replaces those hosts on the next ``pulumi up``), then
run the tests again.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from resilient_stack.core.rules import DesignRejected
from resilient_stack.testing.mockrun import run_program
from tests.hosts.conftest import BUILDING, ROOT, STACKS

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE_ENV = "RESILIENT_STACK_UPDATE_SNAPSHOTS"
HOW_TO_UPDATE = (
    f"if the change is meant (it replaces these hosts on the next `pulumi up`), regenerate with "
    f"{UPDATE_ENV}=1 .venv/bin/python -m pytest -q tests/hosts/test_snapshots.py "
    "and review `git diff tests/hosts/snapshots`"
)


def _updating() -> bool:
    return os.environ.get(UPDATE_ENV) == "1"


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _diff(old: str, new: str, path: Path) -> str:
    rel = _rel(path)
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"{rel} (snapshot)", f"{rel} (rendered now)", n=2
    )
    text = "".join(lines)
    return text if len(text) < 6000 else text[:6000] + "\n... (diff truncated)\n"


def compare(hosts: dict[str, str], folder: Path, *, update: bool = False) -> tuple[list[str], list[str]]:
    """``(problems, rewritten)``: every host's text against ``folder/<host>.yaml``, and the stale files.

    With ``update``, the files that differ are rewritten and the stale ones removed (``rewritten`` names them).
    """
    expected = {p.stem: p for p in folder.glob("*.yaml")} if folder.is_dir() else {}
    problems: list[str] = []
    rewritten: list[str] = []
    for host, text in sorted(hosts.items()):
        path = folder / f"{host}.yaml"
        if host not in expected:
            problems.append(f"{_rel(path)}: no snapshot of host {host}")
        elif (old := path.read_text(encoding="utf-8")) != text:
            problems.append(_diff(old, text, path))
        else:
            continue
        if update:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            rewritten.append(_rel(path))
    for host, path in sorted(expected.items()):
        if host not in hosts:
            problems.append(f"{_rel(path)}: snapshot of a host the stack no longer has")
            if update:
                path.unlink()
                rewritten.append(f"{_rel(path)} (removed)")
    return problems, rewritten


@pytest.mark.parametrize("stack", BUILDING)
def test_user_data_matches_the_snapshots(stack, shipped_user_data):
    hosts = shipped_user_data[stack]
    assert hosts, f"{stack}: the stack created no instance"
    problems, rewritten = compare(hosts, SNAPSHOTS / stack, update=_updating())
    if rewritten:
        pytest.fail(
            f"{UPDATE_ENV}=1: snapshots rewritten, review `git diff tests/hosts/snapshots` and rerun "
            "without it: " + ", ".join(rewritten),
            pytrace=False,
        )
    assert not problems, "\n".join(problems) + "\n" + HOW_TO_UPDATE


def test_every_shipped_stack_is_snapshotted_or_rejected():
    """A stack file added to stacks/ gets snapshots (add it to BUILDING), unless the rules reject it."""
    others = [f for f in sorted(STACKS.glob("Pulumi.*.yaml")) if f.name[len("Pulumi.") : -len(".yaml")] not in BUILDING]
    for f in others:
        with pytest.raises(DesignRejected):
            run_program(f)
        assert not (SNAPSHOTS / f.name[len("Pulumi.") : -len(".yaml")]).exists(), (
            f"snapshots of {f.name}, which does not build"
        )


def test_compare_sees_one_byte_a_missing_and_a_stale_snapshot(tmp_path):
    hosts = {"a-web-1": "#cloud-config\nx: 1\n", "a-db": "#cloud-config\ny: 2\n"}
    (tmp_path / "a-web-1.yaml").write_text(hosts["a-web-1"])
    (tmp_path / "a-db.yaml").write_text(hosts["a-db"])
    assert compare(hosts, tmp_path) == ([], [])
    (tmp_path / "a-db.yaml").write_text("#cloud-config\ny: 2 \n")
    (tmp_path / "gone.yaml").write_text("#cloud-config\n")
    problems, rewritten = compare({**hosts, "new": "#cloud-config\n"}, tmp_path)
    assert rewritten == [] and len(problems) == 3
    assert "-y: 2 \n+y: 2\n" in problems[0] and "no snapshot of host new" in problems[1]
    assert "no longer has" in problems[2]
    problems, rewritten = compare(hosts, tmp_path, update=True)
    assert len(problems) == len(rewritten) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-db.yaml", "a-web-1.yaml"]
    assert compare(hosts, tmp_path) == ([], [])
