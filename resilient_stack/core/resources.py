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

import functools
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, cast

from resilient_stack.core import vocabulary as vocab
from resilient_stack.core.catalog import ASCII_WHITESPACE, Catalog, auth_host
from resilient_stack.core.kinds import (
    DATABASE,
    KINDS,
    OVH,
    OVH_DATABASE,
    OVH_KUBE,
    OVH_NODE_POOL,
    OVH_PROVIDER_ID,
    VOLUME,
    label_allowed,
)
from resilient_stack.core.placement import NO_PROJECT, Placement, cloud_project, place
from resilient_stack.core.vocabulary import (
    EXEMPT_KEY,
    PROTECTS_KEY,
    QUORUM_KEY,
    REDACTED,
    ROLE_KEY,
    SECRET_SIG,
    UNKNOWN,
)

# Resource types that hold a replica of something (compute, data, entry points): see core.kinds.
REPLICA_TYPES: dict[str, str] = {t: k.role for t, k in KINDS.items()}


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


@functools.lru_cache(maxsize=1024)
def _label_key(key: str) -> str | None:
    """The canonical ``resilient-stack:NAME`` of a metadata key, or None when it is not ours."""
    low = key.strip().lower()
    if low.startswith(_LABEL_PREFIXES):
        return vocab.LABEL_PREFIX + low[len(vocab.LABEL_PREFIX) :]
    return None


_last: list = [None, {}]  # the props last read and their labels: a reader asks twice in a row for one resource


def _labels(props: Mapping[str, Any] | None) -> dict[str, str]:
    """resilient-stack:* labels from ``metadata`` (dict) and ``tags`` (key=value list or dict). Read-only result."""
    if props is _last[0]:
        return _last[1]
    if not isinstance(props, dict):
        return {}
    out = _read_labels(props)
    _last[0], _last[1] = props, out
    return out


def _read_labels(props: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in ("metadata", "allMetadata", "tags", "allTags"):
        val = props.get(key)
        if val is None:
            continue
        val = _plain(val)
        if isinstance(val, dict):
            for k, v in val.items():
                label = _label_key(k) if isinstance(k, str) else None
                if label is not None:
                    v = _plain(v)
                    if isinstance(v, str):
                        out.setdefault(label, v.strip())
        elif isinstance(val, (list, tuple)):
            for item in val:
                item = _plain(item)
                if isinstance(item, str) and "=" in item:
                    k, v = item.split("=", 1)
                    label = _label_key(k)
                    if label is not None:
                        out.setdefault(label, v.strip())
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
    deps: Mapping[str, Any] | None = None  # propertyDependencies: input name -> URNs it was taken from


def provider_urn(ref: str | None) -> str | None:
    if not isinstance(ref, str) or "::" not in ref:
        return None
    return ref.rsplit("::", 1)[0]


def may_be_replica(typ: str, custom: bool = True) -> bool:
    """Cheap pre-filter on the type alone: False means :func:`role_of` would return None."""
    return typ in KINDS


def role_of(view: ResourceView) -> tuple[str | None, dict[str, str]]:
    """The resource's role (None: not a replica), and its resilient-stack labels.

    A ``resilient-stack:role`` label is honoured only when the type can hold that role
    (:func:`resilient_stack.core.kinds.label_allowed`); otherwise the type's own role stands.
    """
    kind = KINDS.get(view.type)
    if kind is None:
        return None, {}  # networks, rules, components, unknown types: never replicas
    labels = _labels(view.inputs) if kind.labels else {}
    if kind.labels and not labels and view.outputs:
        labels = _labels(view.outputs)
    if kind.family == VOLUME and labels.get(vocab.STORAGE_OF_KEY):
        return None, labels  # the storage of a replica counted as its instance (a database host's data volume)
    label = labels.get(ROLE_KEY)
    if label and label_allowed(label, kind.family):
        return label, labels
    return kind.role, labels


def labels_of(view: ResourceView) -> dict[str, str]:
    """The resource's ``resilient-stack:*`` labels (inputs, else outputs), whatever its type."""
    return _labels(view.inputs) or (_labels(view.outputs) if view.outputs else {})


_LABEL_HOLDERS = ("metadata", "allMetadata", "tags", "allTags")


def _short(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _both(
    inputs: Mapping[str, Any] | None, outputs: Mapping[str, Any] | None, key: str
) -> tuple[str | None, str | None]:
    """(value, problem) of ``key`` from inputs, else outputs; a problem when both are plain and disagree.

    A state whose outputs were refreshed (``pulumi refresh``) can say another region than the program asked
    for: which one holds the replica is ambiguous, so the placement fails closed naming both.
    """
    got_in: tuple[str | None, str | None] = (None, None)
    got_out = got_in
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
    """What placement reads of a provider (``region``, ``authUrl``, ``cloud``), each with why it is unusable, and
    the project it authenticates to (:mod:`resilient_stack.core.placement`), or why that is unknown."""

    region: str | None
    region_problem: str | None
    auth_url: str | None
    auth_problem: str | None
    cloud: str | None
    cloud_problem: str | None
    project: str | None = None
    project_problem: str | None = NO_PROJECT


def provider_facts(provider_props: Mapping[str, Any] | None, outputs: Mapping[str, Any] | None = None) -> ProviderFacts:
    """Read a provider's placement properties once (a reader places many resources per provider).

    ``outputs``, when given, must agree with ``provider_props`` (its inputs) on each of them.
    """
    if outputs is None:

        def read(key: str) -> tuple[str | None, str | None]:
            return _string(provider_props, key)
    else:

        def read(key: str) -> tuple[str | None, str | None]:
            return _both(provider_props, outputs, key)

    region, auth, cloud = read("region"), read("authUrl"), read("cloud")
    overridden = _endpoint_overrides(provider_props) or _endpoint_overrides(outputs)
    if overridden:  # the provider's calls go where the overrides say, whatever `region` says: fails closed
        region = (
            None,
            f"its provider overrides the endpoints of {overridden} (endpointOverrides): where they "
            "place resources cannot be told from its region",
        )
    return ProviderFacts(*region, *auth, *cloud, *_provider_project(read, cloud, auth[0]))


def _endpoint_overrides(props: Mapping[str, Any] | None) -> str | None:
    """The services whose endpoint an OpenStack provider overrides (``endpointOverrides``: a map, or its JSON as a
    provider's state records config), or ``None``; a secret or unreadable value names itself."""
    if type(props) is not dict or props.get("endpointOverrides") in (None, "", {}, "{}"):
        return None
    raw = _plain(props["endpointOverrides"])
    if isinstance(raw, _Opaque):
        return f"services hidden in {raw.why}"
    if isinstance(raw, str):
        import json

        try:
            raw = json.loads(raw)
        except ValueError:
            return "services it does not name (an unreadable value)"
    if type(raw) is not dict:
        return "services it does not name (an unreadable value)"
    return ", ".join(sorted(str(k) for k in raw)) if raw else None


def _provider_project(
    read: Any, cloud: tuple[str | None, str | None], auth_url: str | None
) -> tuple[str | None, str | None]:
    """(key, problem) of the project an OpenStack provider authenticates to, as its inputs record it.

    With ``cloud`` set the clouds.yaml entry decides (the provider then ignores ``tenantId``, ``tenantName`` and
    ``authUrl``); without it, ``tenantId``, else ``tenantName`` at the auth URL's host. A project taken from
    ``OS_*`` variables or an ``OS_CLOUD`` of the environment is not in the inputs: unknown.
    """
    name, problem = cloud
    if name is not None:
        return cloud_project(name)
    if problem is not None:
        return None, f"its provider's {problem}"
    tenant, problem = read("tenantId")
    if tenant is not None:
        return f"id:{tenant.lower()}", None
    if problem is not None:
        return None, f"its provider's {problem}"
    tenant, problem = read("tenantName")
    if tenant is not None:
        return f"name:{auth_host(auth_url) if auth_url else ''}|{tenant}", None
    if problem is not None:
        return None, f"its provider's {problem}"
    return None, (
        "its provider sets no `cloud`, `tenantId` or `tenantName` (a project from OS_* environment "
        "variables or OS_CLOUD is not in the inputs)"
    )


def place_resource(
    view: ResourceView,
    catalog: Catalog,
    provider_props: Mapping[str, Any] | ProviderFacts | None,
    provider_problem: str | None = None,
    kube_regions: Mapping[str, tuple[str | None, str | None, str]] | None = None,
) -> Placement | None:
    """Place one resource (its first placement); None when it is not a replica. See :func:`place_all`."""
    found = place_all(view, catalog, provider_props, provider_problem, kube_regions)
    return found[0] if found else None


def place_all(
    view: ResourceView,
    catalog: Catalog,
    provider_props: Mapping[str, Any] | ProviderFacts | None,
    provider_problem: str | None = None,
    kube_regions: Mapping[str, tuple[str | None, str | None, str]] | None = None,
) -> list[Placement]:
    """Every placement of one resource: none for a non-replica, one for most, one per node for a managed database;
    each once more in every other role its ``resilient-stack:serves`` label names (a host of two roles burns with
    both).

    ``provider_props`` are the OpenStack provider's properties, or their :func:`provider_facts` read
    beforehand. ``kube_regions`` maps a pulumi-ovh Kubernetes cluster's id and URN to its (region, problem, URN),
    for its node pools.
    """
    role, labels = role_of(view)
    if role is None:
        return []
    found = _place_role(view, catalog, provider_props, provider_problem, kube_regions, role, labels)
    also = labels.get(vocab.SERVES_KEY)
    if not also:
        return found
    family = KINDS[view.type].family
    more = [r for r in dict.fromkeys(also.split(",")) if r != role and vocab.ROLE_NAME_RE.match(r)]
    return found + [p._replace(role=r) for r in more if label_allowed(r, family) for p in found]


def _place_role(
    view: ResourceView,
    catalog: Catalog,
    provider_props: Mapping[str, Any] | ProviderFacts | None,
    provider_problem: str | None,
    kube_regions: Mapping[str, tuple[str | None, str | None, str]] | None,
    role: str,
    labels: dict[str, str],
) -> list[Placement]:
    quorum = labels.get(QUORUM_KEY, "").lower() == "true"
    exempt = labels.get(EXEMPT_KEY) or None
    kind = KINDS[view.type]

    def placed(
        region: str | None,
        problem: str | None = None,
        resource: str | None = None,
        the_role: str | None = None,
        protects: str | None = None,
        **where: Any,
    ) -> Placement:
        return place(
            catalog,
            resource=resource or view.urn,
            role=the_role or role,
            region=region,
            problem=problem,
            protects=protects or labels.get(PROTECTS_KEY) or None,
            quorum=quorum,
            exempt=exempt,
            **where,
        )

    if kind.vendor == OVH:
        return _place_ovh(view, kind, placed, kube_regions)
    if kind.family == DATABASE and labels.get(ROLE_KEY) != role:
        placed = functools.partial(placed, replica_set=view.urn)  # a Trove instance: a set of its own
    if provider_problem and provider_props is None:
        prov = ProviderFacts(None, None, None, None, None, None, None, provider_problem)
    else:
        prov = (
            cast(ProviderFacts, provider_props)
            if type(provider_props) is ProviderFacts
            else provider_facts(cast("Mapping[str, Any] | None", provider_props))
        )
    project = {"project": prov.project, "project_problem": prov.project_problem}
    region, problem = _resource_prop(view, "region")
    if problem:
        return [placed(None, problem, **project)]
    if region is None:
        if provider_problem:
            return [placed(None, provider_problem, **project)]
        if prov.region_problem:
            return [placed(None, f"provider {prov.region_problem}", **project)]
        region = prov.region
        if region is None:
            return [
                placed(
                    None,
                    "no region on the resource or its provider (a region from OS_REGION_NAME is invisible here)",
                    **project,
                )
            ]
    if prov.auth_url is None and prov.cloud is None and (prov.auth_problem or prov.cloud_problem):
        return [placed(None, f"provider {prov.auth_problem or prov.cloud_problem}", **project)]
    az, _ = _resource_prop(view, "availabilityZone")
    return [placed(region, auth_url=prov.auth_url, cloud=prov.cloud, availability_zone=az, **project)]


def _first(view: ResourceView, keys: tuple[str, ...]) -> tuple[str | None, str | None]:
    for key in keys:
        value, problem = _resource_prop(view, key)
        if value is not None or problem is not None:
            return value, problem
    return None, None


def _place_ovh(view: ResourceView, kind: Any, placed: Any, kube_regions: Any) -> list[Placement]:
    """pulumi-ovh resources carry their region themselves (the ovh provider has none), and their project: the
    ``serviceName``, the id of the OVHcloud Public Cloud project."""
    where = {"provider": OVH_PROVIDER_ID}
    service, problem = _resource_prop(view, "serviceName")
    placed = functools.partial(
        placed,
        project=f"ovh:{service}" if service else None,
        project_problem=None
        if service
        else (problem or "no serviceName (an OVH_CLOUD_PROJECT_SERVICE of the environment is not in the inputs)"),
    )
    if view.type == OVH_DATABASE:
        return _place_ovh_database(view, functools.partial(placed, replica_set=view.urn), where)
    if view.type == OVH_KUBE:
        placed = functools.partial(placed, replica_set=view.urn)
    az = None
    if kind.az_key:
        raw = _plain((view.inputs or {}).get(kind.az_key)) if type(view.inputs) is dict else None
        if raw is None and type(view.outputs) is dict:
            raw = _plain(view.outputs.get(kind.az_key))
        if isinstance(raw, list):
            raw = _plain(raw[0]) if len(raw) == 1 else None  # pulumi-ovh supports one zone per node pool
        az = raw if isinstance(raw, str) else None
    if view.type == OVH_NODE_POOL:
        region, problem, cluster = _node_pool_region(view, kube_regions)
        placed = functools.partial(placed, replica_set=cluster)
    else:
        region, problem = _first(view, kind.region_keys)
        if region is None and problem is None:
            problem = f"no {' or '.join(kind.region_keys)} on the resource"
    if problem:
        return [placed(None, problem)]
    return [placed(region, availability_zone=az, **where)]


def _node_pool_region(view: ResourceView, kube_regions: Any) -> tuple[str | None, str | None, str]:
    """(region, problem, replica set) of a node pool: its cluster's region, and its cluster (the URN when the cluster
    is in the input)."""
    kube_id, problem = _resource_prop(view, "kubeId")
    keys = [kube_id] if kube_id else []
    deps = view.deps.get("kubeId") if isinstance(view.deps, Mapping) else None
    if isinstance(deps, list):
        keys += [d for d in deps if isinstance(d, str)]
    for key in keys:
        hit = (kube_regions or {}).get(key)
        if hit is not None:
            return hit[0], hit[1], hit[2]
    cluster = f"Kubernetes cluster {kube_id}" if kube_id else f"the Kubernetes cluster of {_short(view.urn)}"
    return None, f"its Kubernetes cluster ({kube_id or problem or 'kubeId not set'}) is not in the input", cluster


def kube_entry(view: ResourceView) -> tuple[str | None, str | None, str]:
    """What a reader remembers of a pulumi-ovh Kubernetes cluster for its node pools (by its id and its URN): its
    (region, problem) and its URN, the node pools' replica set."""
    region, problem = _first(view, ("region",))
    return region, problem, view.urn


def _place_ovh_database(view: ResourceView, placed: Any, where: dict) -> list[Placement]:
    """One placement per node (``nodes[].region``), one backup placement per ``backupRegions`` entry."""
    out: list[Placement] = []
    nodes = None
    for props in (view.inputs, view.outputs):
        if type(props) is dict and props.get("nodes") is not None:
            nodes = _plain(props.get("nodes"))
            break
    if not isinstance(nodes, list) or not nodes:
        why = "nodes is " + nodes.why if isinstance(nodes, _Opaque) else "no nodes[] with a region"
        return [placed(None, f"{why}: the managed database cannot be placed")]
    for i, node in enumerate(nodes):
        node = _plain(node)
        name = f"{view.urn}#nodes[{i}]"
        if type(node) is not dict:
            out.append(placed(None, f"nodes[{i}] is not an object", resource=name))
            continue
        region, problem = _string(node, "region")
        if problem or region is None:
            out.append(placed(None, f"nodes[{i}]: {problem or 'no region'}", resource=name))
        else:
            out.append(placed(region, resource=name, **where))
    role = out[0].role
    backups = _plain((view.inputs or {}).get("backupRegions")) if type(view.inputs) is dict else None
    if isinstance(backups, list):
        for i, region in enumerate(backups):
            region = _plain(region)
            name = f"{view.urn}#backupRegions[{i}]"
            if isinstance(region, str) and region.strip(ASCII_WHITESPACE):
                out.append(placed(region, resource=name, the_role=vocab.BACKUP, protects=role, **where))
            else:
                out.append(
                    placed(
                        None,
                        f"backupRegions[{i}] is not a region name",
                        resource=name,
                        the_role=vocab.BACKUP,
                        protects=role,
                    )
                )
    return out
