"""Which inputs of a resource are Pulumi secrets -- the one thing the policy SDK hides from validations.

The Python policy SDK unwraps secrets before ``validate`` sees the properties (pulumi/pulumi-policy#241):
during a preview of a deployed stack, or ``pulumi policy analyze`` of a state it can decrypt, a
``userData`` that the program wrapped in ``pulumi.Output.secret`` arrives as a plain string, and
``plaintext-secret-in-user-data`` could not tell it from a real plaintext secret. Only REMEDIATIONS get
the properties with their secrets marked (``pulumi_policy.Secret``), and the engine runs every
analyzer's remediations on a resource before its analysis ("first we perform remediations, and *then*
we do analysis": pkg/resource/deploy/step_generator.go, analyze_snapshot.go).

So this module adds one helper policy, ``user-data-secrecy-probe``, at level ``remediate``: its
remediation never changes anything (it returns nothing); it records which top-level inputs of the
resource are secrets, and the security policies' validations read that record for the same URN.

Records are kept by URN, and the probe overwrites a resource's record each time the engine analyses it (a pack
process may serve a preview and then the update of ``pulumi up``: every resource is analysed again, remediations
first). They are not cleared by the stack analysis, whose security policies read them too (the secret
``remoteIpPrefix`` of a security group rule); their number is bounded.

When the probe did not run for a resource (its level was changed, e.g. by ``"all": "mandatory"`` in
the pack config, or a validation called directly), :func:`secret_keys` returns None and the security
policies say in their message that they could not tell.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from resilient_stack.core.security import SecurityCollector
from resilient_stack.core.vocabulary import SECRET_SIG

from .resources import plain

PROBE_NAME = "user-data-secrecy-probe"
PROBED_TYPES = frozenset(SecurityCollector.TYPES)

_lock = threading.Lock()
_records: "OrderedDict[str, frozenset[str]]" = OrderedDict()
_MAX_RECORDS = 200_000


def _has_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return SECRET_SIG in value or any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


def record(urn: str, keys: frozenset[str]) -> None:
    with _lock:
        _records[urn] = keys
        _records.move_to_end(urn)
        while len(_records) > _MAX_RECORDS:
            _records.popitem(last=False)


def secret_keys(urn: str) -> frozenset[str] | None:
    """The top-level inputs of ``urn`` that are secrets; None when the probe did not see the resource."""
    with _lock:
        return _records.get(urn)


def clear() -> None:
    with _lock:
        _records.clear()


def probe(args: ResourceValidationArgs) -> None:
    """The remediation: record the resource's secret inputs, change nothing (returns None)."""
    if args.resource_type not in PROBED_TYPES:
        return None
    props = plain(args.props)
    keys = frozenset(k for k, v in props.items() if _has_secret(v)) if isinstance(props, dict) else frozenset()
    record(args.urn, keys)
    return None


secrecy_probe = ResourceValidationPolicy(
    name=PROBE_NAME,
    description=(
        "Not a rule: lets the security policies tell Pulumi secrets from plain strings (the policy SDK shows "
        "secrets only to remediations). Never changes a resource; keep its level at `remediate`."
    ),
    remediate=probe,
    enforcement_level=EnforcementLevel.REMEDIATE,
    tags=["resilient-stack", "helper"],
)
