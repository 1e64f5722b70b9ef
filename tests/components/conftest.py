"""Shared fixtures of the component tests: the shipped stacks, run once per session under mocks."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from resilient_stack.components.stack_config import NAMESPACE, read_stack_file
from resilient_stack.testing.mockrun import RecordedResource, run_program

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"
PASSING = ("production", "staging")


def stack_file(stack: str) -> Path:
    return STACKS / f"Pulumi.{stack}.yaml"


def bare_config(stack: str) -> dict:
    """The ``resilient-stack:*`` values of a shipped stack file, keyed by bare key (a fresh copy)."""
    config, _ = read_stack_file(stack_file(stack))
    prefix = f"{NAMESPACE}:"
    return copy.deepcopy({k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)})


@pytest.fixture(scope="session")
def runs() -> dict[str, list[RecordedResource]]:
    """Every passing shipped stack, evaluated once under mocks."""
    return {s: run_program(stack_file(s)) for s in PASSING}
