"""Shared fixtures of the component tests: the shipped stacks, run once per session under mocks."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from resilient_stack.components.stack_config import NAMESPACE, read_stack_file
from resilient_stack.hosts import secrets
from resilient_stack.hosts.document import unpack_user_data
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
    return copy.deepcopy({k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)})


@pytest.fixture(scope="session")
def runs() -> dict[str, list[RecordedResource]]:
    """Every passing shipped stack, evaluated once under mocks."""
    return {s: run_program(stack_file(s)) for s in PASSING}


# --------------------------------------------------------------------------------------------------
# reading what a host gets: its user data (packed for Nova) and its sealed secret document
# --------------------------------------------------------------------------------------------------

INSTANCE = "openstack:compute/instance:Instance"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"


def user_data(host: RecordedResource) -> str:
    """A host's user data as cloud-init reads it (the program hands Nova the text gzipped and base64-encoded)."""
    packed = host.inputs["userData"]
    assert "userData" in host.secret_inputs, f"{host.name}: user data must be a Pulumi secret"
    assert not packed.startswith("#"), f"{host.name}: user data goes to Nova packed (gzip + base64)"
    return unpack_user_data(packed)


def user_data_doc(host: RecordedResource) -> dict:
    return yaml.safe_load(user_data(host))


def user_data_file(host: RecordedResource, path: str) -> str:
    """The content of the ``write_files`` entry at ``path`` of a host's user data."""
    return next(f["content"] for f in user_data_doc(host)["write_files"] if f["path"] == path)


def host_key(res: list[RecordedResource], host: RecordedResource) -> str:
    """The host's own key: the protected RandomPassword ``<instance's resource name>-host-key``."""
    (key,) = [r for r in res if r.type == RANDOM_PASSWORD and r.name == f"{host.name}-host-key"]
    assert "result" in key.secret_outputs and key.options.get("protect") is True
    return key.outputs["result"]


def sealed_document(res: list[RecordedResource], host: RecordedResource) -> dict:
    """The host's secret document, unsealed with its key as root's sync does, from its metadata (``rs-secret-NN``,
    updated in place); the first boot's copy in the user data is the same document."""
    key = host_key(res, host)
    doc = secrets.unseal(secrets.joined(host.inputs["metadata"]), key)
    assert secrets.unseal(user_data_file(host, secrets.SEALED_FILE).strip(), key) == doc, host.name
    return doc
