"""The stack's generated secrets: protected, in generations, and delivered sealed to each host.

* Every generated secret is a ``random.RandomPassword`` (a Pulumi secret) that is **protected**: no refactor, no
  ``--replace`` and no edited state silently replaces one (a preview that would fails, naming it). Rotating one is
  asking for its next **generation** (``database.rotation.<kind>`` in the stack configuration): the program then
  creates ``<name>-<kind>-password-<n>`` beside the earlier ones, which stay in the state (the application's
  previous credential stays valid a while; the repository's earlier passphrases still read its earlier backups).
* Each host has a key of its own (:func:`host_key`), delivered once with its user data; its secrets travel sealed
  with it in its metadata (:func:`sealed_items`, :mod:`resilient_stack.hosts.secrets`), so a rotation or a renewal
  reaches running hosts in place. The sealed text is ciphertext under a 64-character key: it is not a Pulumi secret
  itself (the state and the metadata stay readable), the key is.
* User data goes to Nova compressed (:func:`packed_user_data`: gzip, then base64, which the provider passes as is and
  cloud-init unpacks), within Nova's 65,535-byte limit (:func:`check_user_data`).
"""

from __future__ import annotations

import operator

import pulumi
import pulumi_random as random

from resilient_stack.hosts import secrets as host_secrets
from resilient_stack.hosts.document import pack_user_data

__all__ = [
    "generations",
    "host_key",
    "sealed_items",
    "packed_user_data",
    "check_user_data",
    "USER_DATA_LIMIT",
    "LEGACY_NAMES",
]

USER_DATA_LIMIT = 65535  # Nova: the base64 of the user data, at most
# The names the first generation had before rotation existed (kept: a deployed stack keeps its secrets)
LEGACY_NAMES = {"backup": "{name}-backup-cipher-password"}


def generations(
    name: str, kind: str, current: int, *, length: int, parent: pulumi.Resource, lower_only: bool = False
) -> list[random.RandomPassword]:
    """Generations 0..``current`` of the secret ``kind`` (oldest first), each protected."""
    if not isinstance(current, int) or isinstance(current, bool) or current < 0:
        raise ValueError(f"the generation of {kind} must be an int >= 0, got {current!r}")
    base = LEGACY_NAMES.get(kind, "{name}-{kind}-password").format(name=name, kind=kind)
    return [
        random.RandomPassword(  # type: ignore[call-overload]  # `upper` only when asked: no diff on old stacks
            base if g == 0 else f"{base}-{g}",
            length=length,
            special=False,
            **({"upper": False} if lower_only else {}),
            opts=pulumi.ResourceOptions(parent=parent, protect=True),
        )
        for g in range(current + 1)
    ]


def host_key(resource_name: str, *, parent: pulumi.Resource) -> random.RandomPassword:
    """A host's own key (:data:`resilient_stack.hosts.secrets.KEY_LENGTH` letters and digits), protected."""
    return random.RandomPassword(
        resource_name,
        length=host_secrets.KEY_LENGTH,
        special=False,
        opts=pulumi.ResourceOptions(parent=parent, protect=True),
    )


def sealed_items(sealed: pulumi.Output[str], slots: int) -> dict[str, pulumi.Output[str]]:
    """The sealed document as metadata items ``rs-secret-NN`` (``slots`` of them: keys known at preview)."""
    items = pulumi.Output.unsecret(sealed).apply(lambda s: host_secrets.items(s, slots=slots))
    return {
        f"{host_secrets.PREFIX}{i:02d}": items.apply(operator.itemgetter(f"{host_secrets.PREFIX}{i:02d}"))
        for i in range(slots)
    }


def slots_for(sealed_length: int) -> int:
    """How many metadata items a sealed text of at most ``sealed_length`` characters takes, with a spare one."""
    return -(-sealed_length // 255) + 1


def packed_user_data(host: str, text: str) -> str:
    """``text`` as Nova gets it (gzip + base64), refused (ValueError naming the host) over Nova's limit."""
    packed = pack_user_data(text)
    check_user_data(host, packed)
    return packed


def check_user_data(host: str, packed: str) -> None:
    if len(packed) > USER_DATA_LIMIT:
        raise ValueError(
            f"the user data of {host} is {len(packed)} bytes once packed, over Nova's limit of "
            f"{USER_DATA_LIMIT}: fewer web hosts or networks in its configuration"
        )
