"""Placement of Pulumi resources: read role, region and cloud from resource and provider properties.

Shared by the stack-export reader, the preview reader and the CrossGuard policy pack, so that a
resource is placed the same way everywhere. Never raises on unknown types or property shapes:
what cannot be read becomes a placement with a ``problem`` (fails closed).

Metadata keys (instance/volume/container ``metadata`` dicts, networking/LB ``tags`` as ``key=value``;
read case-insensitively, and ``resilient-stack-role`` is accepted for ``resilient-stack:role``
because object-storage metadata travels as HTTP headers (``X-Container-Meta-*``), where ``:`` is
not allowed in a name):
  resilient-stack:role      the role (else inferred from the resource type)
  resilient-stack:protects  for role ``backup``: the role whose data it holds
  resilient-stack:quorum    ``true`` for voting members
  resilient-stack:exempt    a reason: findings naming only exempt resources are waived, and listed
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

from resilient_stack.core import vocabulary as vocab
from resilient_stack.core.catalog import ASCII_WHITESPACE, Catalog
from resilient_stack.core.placement import Placement, place
from resilient_stack.core.vocabulary import (
    EXEMPT_KEY,
    PROTECTS_KEY,
    QUORUM_KEY,
    REDACTED,
    ROLE_KEY,
    SECRET_SIG,
    UNKNOWN,
)

# Resource types that hold a replica of something (compute, data, entry points).
REPLICA_TYPES: dict[str, str] = {
    "openstack:compute/instance:Instance": vocab.COMPUTE,
    "openstack:objectstorage/container:Container": vocab.OBJECT_STORAGE,
    "openstack:objectstorage/containerV1:ContainerV1": vocab.OBJECT_STORAGE,
    "openstack:blockstorage/volume:Volume": vocab.VOLUME,
    "openstack:sharedfilesystem/share:Share": vocab.FILE_SHARE,
    "openstack:loadbalancer/loadBalancer:LoadBalancer": vocab.LOAD_BALANCER,
    "openstack:database/instance:Instance": vocab.DATABASE,
}
OPENSTACK_PROVIDER = "pulumi:providers:openstack"


class _Opaque:
    """Marker for values the auditor may not read: secrets and preview unknowns."""

    def __init__(self, why: str) -> None:
        self.why = why


_SECRET = _Opaque("a secret")
_UNKNOWN = _Opaque("unknown until the resource is created")
_REDACTED = _Opaque("a redacted secret")


def _plain(value: Any) -> Any:
    """A property value, or an _Opaque marker when it is a secret or unknown."""
    if type(value) is dict:  # exact type: ABC checks are slow on 100k resources
        return _SECRET if SECRET_SIG in value else value
    if isinstance(value, str):
        if value == UNKNOWN:
            return _UNKNOWN
        if value == REDACTED:
            return _REDACTED
    return value


def _string(props: Mapping[str, Any] | None, key: str) -> tuple[str | None, str | None]:
    """(value, problem): a non-empty string, or why it cannot be used."""
    if not isinstance(props, dict):
        return None, None
    raw = _plain(props.get(key))
    if raw is None or raw == "":
        return None, None
    if isinstance(raw, _Opaque):
        return None, f"{key} is {raw.why}"
    if not isinstance(raw, str):
        return None, f"{key} is a {type(raw).__name__}, expected a string"
    return raw.strip(ASCII_WHITESPACE) or None, None


_LABEL_PREFIXES = (vocab.LABEL_PREFIX, vocab.LABEL_PREFIX.replace(":", "-"))  # header_safe spells it with a dash


def _label_key(key: str) -> str | None:
    """The canonical ``resilient-stack:NAME`` of a metadata key, or None when it is not ours."""
    low = key.strip().lower()
    if low.startswith(_LABEL_PREFIXES):
        return vocab.LABEL_PREFIX + low[len(vocab.LABEL_PREFIX):]
    return None


def _labels(props: Mapping[str, Any] | None) -> dict[str, str]:
    """resilient-stack:* labels from ``metadata`` (dict) and ``tags`` (key=value list or dict)."""
    out: dict[str, str] = {}
    if not isinstance(props, dict):
        return out
    for key in ("metadata", "allMetadata", "tags", "allTags"):
        val = props.get(key)
        if val is None:
            continue
        val = _plain(val)
        if isinstance(val, dict):
            for k, v in val.items():
                key = _label_key(k) if isinstance(k, str) else None
                if key is not None:
                    v = _plain(v)
                    if isinstance(v, str):
                        out.setdefault(key, v.strip())
        elif isinstance(val, (list, tuple)):
            for item in val:
                item = _plain(item)
                if isinstance(item, str) and "=" in item:
                    k, v = item.split("=", 1)
                    key = _label_key(k)
                    if key is not None:
                        out.setdefault(key, v.strip())
    return out


class ResourceView(NamedTuple):
    """What the auditor needs of one resource, whatever the source.

    Immutable; a named tuple because readers build one per candidate resource of big estates
    (a frozen dataclass costs three times as much to build).
    """

    urn: str
    type: str
    inputs: Mapping[str, Any] | None
    outputs: Mapping[str, Any] | None = None
    provider_ref: str | None = None  # "URN::ID" as Pulumi records it
    custom: bool = True


def provider_urn(ref: str | None) -> str | None:
    if not isinstance(ref, str) or "::" not in ref:
        return None
    return ref.rsplit("::", 1)[0]


def may_be_replica(typ: str, custom: bool = True) -> bool:
    """Cheap pre-filter on the type alone: False means :func:`role_of` would return None."""
    return typ in REPLICA_TYPES or (custom and not typ.startswith(("openstack:", "pulumi:")))


def role_of(view: ResourceView) -> tuple[str | None, dict[str, str]]:
    """The resource's role (None: not a replica), and its resilient-stack labels."""
    if not may_be_replica(view.type, view.custom):
        return None, {}  # networks, rules, components...: never replicas, labels not needed
    inferred = REPLICA_TYPES.get(view.type)
    labels = _labels(view.inputs)
    if not labels and view.outputs:
        labels = _labels(view.outputs)
    if inferred is not None:
        return labels.get(ROLE_KEY) or inferred, labels
    if labels.get(ROLE_KEY):
        # a tagged resource of another provider claims to be a replica: place it (or fail closed)
        return labels[ROLE_KEY], labels
    return None, labels


def _both(inputs: Mapping[str, Any] | None, outputs: Mapping[str, Any] | None, key: str) -> tuple[str | None, str | None]:
    """(value, problem) of ``key`` from inputs, else outputs; a problem when both are plain and disagree.

    A state whose outputs were refreshed (``pulumi refresh``) can say another region than the program asked
    for: which one holds the replica is ambiguous, so the placement fails closed naming both.
    """
    got_in = got_out = (None, None)
    if type(inputs) is dict and inputs.get(key) is not None:
        got_in = _string(inputs, key)
    if type(outputs) is dict and outputs.get(key) is not None:
        got_out = _string(outputs, key)
    vin, vout = got_in[0], got_out[0]
    if vin is not None and vout is not None and vin.lower() != vout.lower():
        return None, f"{key} is {vin!r} in the inputs but {vout!r} in the outputs (changed outside the program?)"
    if vin is not None or got_in[1] is not None:
        return got_in
    return got_out


def _resource_prop(view: ResourceView, key: str) -> tuple[str | None, str | None]:
    """The resource's own ``key``: from its inputs, else its outputs (the cheap path: neither sets it)."""
    return _both(view.inputs, view.outputs, key)


@dataclass(frozen=True, slots=True)
class ProviderFacts:
    """What placement reads of a provider (``region``, ``authUrl``, ``cloud``), each with why it is unusable."""

    region: str | None
    region_problem: str | None
    auth_url: str | None
    auth_problem: str | None
    cloud: str | None
    cloud_problem: str | None


def provider_facts(provider_props: Mapping[str, Any] | None, outputs: Mapping[str, Any] | None = None) -> ProviderFacts:
    """Read a provider's placement properties once (a reader places many resources per provider).

    ``outputs``, when given, must agree with ``provider_props`` (its inputs) on each of them.
    """
    if outputs is None:
        return ProviderFacts(
            *_string(provider_props, "region"), *_string(provider_props, "authUrl"), *_string(provider_props, "cloud")
        )
    return ProviderFacts(
        *_both(provider_props, outputs, "region"), *_both(provider_props, outputs, "authUrl"),
        *_both(provider_props, outputs, "cloud"),
    )


def place_resource(
    view: ResourceView,
    catalog: Catalog,
    provider_props: Mapping[str, Any] | ProviderFacts | None,
    provider_problem: str | None = None,
) -> Placement | None:
    """Place one resource; None when it is not a replica (networks, rules, components...).

    ``provider_props`` are the provider's properties, or their :func:`provider_facts` read beforehand.
    """
    role, labels = role_of(view)
    if role is None:
        return None
    quorum = labels.get(QUORUM_KEY, "").lower() == "true"

    def placed(region: str | None, problem: str | None = None, **where: str | None) -> Placement:
        return place(
            catalog, resource=view.urn, role=role, region=region, problem=problem,
            protects=labels.get(PROTECTS_KEY) or None, quorum=quorum, exempt=labels.get(EXEMPT_KEY) or None, **where,
        )

    region, problem = _resource_prop(view, "region")
    if problem:
        return placed(None, problem)
    prov = provider_props if type(provider_props) is ProviderFacts else provider_facts(provider_props)
    if region is None:
        if provider_problem:
            return placed(None, provider_problem)
        if prov.region_problem:
            return placed(None, f"provider {prov.region_problem}")
        region = prov.region
        if region is None:
            return placed(None, "no region on the resource or its provider (a region from OS_REGION_NAME is invisible here)")
    if prov.auth_url is None and prov.cloud is None and (prov.auth_problem or prov.cloud_problem):
        return placed(None, f"provider {prov.auth_problem or prov.cloud_problem}")
    az, _ = _resource_prop(view, "availabilityZone")
    return placed(region, auth_url=prov.auth_url, cloud=prov.cloud, availability_zone=az)
