"""Shared fixtures of the host tests: the user data of every host of the shipped stacks, rendered once."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilient_stack.hosts.document import unpack_user_data
from resilient_stack.testing.mockrun import RecordedResource, run_program

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"
BUILDING = ("production", "staging")  # the shipped stacks that build (sbg2021 is the rejected replay)
INSTANCE = "openstack:compute/instance:Instance"


def rendered_user_data(resources: list[RecordedResource]) -> dict[str, str]:
    """``{host name: user data}`` of every instance the program created, as cloud-init reads it (the program hands
    Nova the text gzipped and base64-encoded)."""
    out: dict[str, str] = {}
    for r in resources:
        if r.type != INSTANCE:
            continue
        name, user_data = r.inputs["name"], r.inputs["userData"]
        assert "userData" in r.secret_inputs, f"{name}: user data must be a Pulumi secret"
        assert name not in out, f"two instances named {name}"
        assert not user_data.startswith("#"), f"{name}: user data goes to Nova packed (gzip + base64)"
        out[name] = unpack_user_data(user_data)
    return out


@pytest.fixture(scope="session")
def shipped_user_data() -> dict[str, dict[str, str]]:
    """``{stack: {host name: user data}}`` of the shipped stacks, through the real components under mocks."""
    return {stack: rendered_user_data(run_program(STACKS / f"Pulumi.{stack}.yaml")) for stack in BUILDING}
