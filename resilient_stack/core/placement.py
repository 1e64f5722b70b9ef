"""Placements: where one replica lives. Plain typed objects, built once per input.

A placement also carries the cloud PROJECT that holds it, as far as the input tells (``backup-shares-project``
compares them): a key of one of these kinds, or None with the reason it is unknown:

- ``cloud:NAME``         a clouds.yaml entry: the entry decides the project. With ``cloud`` set, the OpenStack
                         provider takes its whole authentication (project, user, auth URL) from that entry and
                         ignores its own ``tenantId``/``tenantName``/``authUrl`` (terraform-provider-openstack's
                         ``utils/v2/auth/config.go``, ``LoadAndValidate``; pulumi-openstack 5.4.1 embeds it);
- ``id:ID``              a provider's explicit ``tenantId`` (a Keystone project id), without ``cloud``;
- ``name:HOST|NAME``     a provider's explicit ``tenantName`` at the host of its ``authUrl``, without ``cloud``;
- ``ovh:SERVICE``        a pulumi-ovh resource's ``serviceName``: the OVHcloud Public Cloud project's id.

Two keys of one kind are one project when equal; keys of two kinds cannot be compared (unknown). Two entries
of different names are taken as two projects: the entry is the operator's declaration (docs/rules.md).

A placement belongs to one REPLICA SET (``replica_set``): replicas vouch for each other only within their set.
``""`` is the set of a role across the input (the instances, volumes, containers... labelled or typed with that
role in one stack or design); otherwise the URN of the resource that makes the set: a managed database cluster
(its nodes and its backup regions), a Kubernetes cluster (its node pools), a Trove instance. Two unrelated managed
databases are two sets: neither makes the other "spread".
"""

from __future__ import annotations

from typing import Any, NamedTuple

from resilient_stack.core.catalog import ASCII_WHITESPACE, Catalog
from resilient_stack.core.vocabulary import BACKUP as BACKUP_ROLE

__all__ = ["BACKUP_ROLE", "Placement", "place", "project_label", "replica_set_name", "same_project"]

NO_PROJECT = "no clouds.yaml entry (`cloud`) names its project"


class Placement(NamedTuple):
    """One replica of a role (or one backup), resolved against the catalog.

    ``site``/``building`` are None when the placement could not be resolved; ``problem`` says why.
    Immutable; a named tuple rather than a frozen dataclass because readers build one per replica
    of estates with hundreds of thousands of resources, and a frozen dataclass costs 5x more to build.
    """

    resource: str
    role: str
    provider: str | None = None
    region: str | None = None
    site: str | None = None
    site_name: str | None = None
    building: str | None = None
    confidence: str | None = None
    protects: str | None = None
    quorum: bool = False
    exempt: str | None = None
    problem: str | None = None
    identified_by: str = ""
    project: str | None = None  # the project's key (module docstring), None when unknown
    project_problem: str | None = None  # why the project is unknown
    replica_set: str = ""  # "" the role across the input, else the URN of the cluster that makes the set

    @property
    def resolved(self) -> bool:
        return self.site is not None and self.building is not None

    def as_dict(self) -> dict:
        out: dict[str, Any] = {
            "resource": self.resource,
            "role": self.role,
            "provider": self.provider,
            "region": self.region,
            "site": self.site_name,
            "building": self.building,
        }
        if self.protects:
            out["protects"] = self.protects
        if self.quorum:
            out["quorum"] = True
        if self.exempt:
            out["exempt"] = self.exempt
        if self.problem:
            out["problem"] = self.problem
        if self.project:
            out["project"] = project_label(self.project)
        if self.replica_set:
            out["replica_set"] = self.replica_set
        return out

    @property
    def unit(self) -> str:
        """The name of the replica set this placement counts in (a backup: the set it protects)."""
        return replica_set_name(self.protects or "?" if self.role == BACKUP_ROLE else self.role, self.replica_set)


def place(
    catalog: Catalog,
    *,
    resource: str,
    role: str,
    region: str | None,
    auth_url: str | None = None,
    cloud: str | None = None,
    availability_zone: str | None = None,
    protects: str | None = None,
    quorum: bool = False,
    exempt: str | None = None,
    problem: str | None = None,
    provider: str | None = None,
    project: str | None = None,
    project_problem: str | None = None,
    replica_set: str = "",
) -> Placement:
    """Resolve one replica's placement: the single place where cloud + region (+AZ) meet the catalog.

    ``project``/``project_problem``: the project's key or why it is unknown (readers of Pulumi resources give
    them); when neither is given, the clouds.yaml entry ``cloud`` names it (design files).
    """
    if project is None and project_problem is None:
        project, project_problem = cloud_project(cloud)
    if problem is None:
        res = catalog.resolve(
            region=region, auth_url=auth_url, cloud=cloud, availability_zone=availability_zone, provider=provider
        )
        problem = res.problem
    else:
        res = None
    if res is None or res.region is None:
        return Placement(
            resource=resource,
            role=role,
            region=(region or None),
            protects=protects,
            quorum=quorum,
            exempt=exempt,
            problem=problem,
            project=project,
            project_problem=project_problem,
            replica_set=replica_set,
        )
    reg = res.region
    return Placement(
        resource=resource,
        role=role,
        provider=reg.provider,
        region=reg.name,
        site=reg.site.physical_id,
        site_name=reg.site.physical_name,
        building=res.building,
        confidence=reg.confidence,
        protects=protects,
        quorum=quorum,
        exempt=exempt,
        identified_by=res.identified_by,
        project=project,
        project_problem=project_problem,
        replica_set=replica_set,
    )


_SET_KINDS = {  # the type of the resource that makes a replica set -> how reports name it
    "ovh:CloudProject/database:Database": "managed database",
    "openstack:database/instance:Instance": "Trove instance",
    "ovh:CloudProject/kube:Kube": "Kubernetes cluster",
}


def replica_set_name(role: str, key: str) -> str:
    """How reports name a replica set: the role alone for the role's set across the input (``web``), else the role
    and the resource that makes the set (``database of managed database orders``)."""
    if not key:
        return role
    if key.startswith("urn:pulumi:"):
        parts = key.split("::")
        typ = parts[-2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""
        return f"{role} of {_SET_KINDS.get(typ, 'resource')} {parts[-1]}"
    return f"{role} of {key}"


def cloud_project(cloud: str | None) -> tuple[str | None, str | None]:
    """(key, problem) of the project a clouds.yaml entry names: the entry as the client looks it up (trimmed of
    ASCII whitespace, case kept: clouds.yaml keys are case-sensitive)."""
    name = cloud.strip(ASCII_WHITESPACE) if isinstance(cloud, str) else ""
    return (f"cloud:{name}", None) if name else (None, NO_PROJECT)


def project_label(key: str) -> str:
    """How a report names the project of ``key``."""
    kind, _, value = key.partition(":")
    if kind == "cloud":
        return f"clouds.yaml entry `{value}`"
    if kind == "id":
        return f"project id {value}"
    if kind == "name":
        host, _, name = value.partition("|")
        return f"project {name!r}" + (f" at {host}" if host else "")
    if kind == "ovh":
        return f"OVHcloud project {value}"
    return key


def same_project(a: Placement, b: Placement) -> bool | None:
    """Are ``a`` and ``b`` in one project? True, False, or None when the inputs cannot tell.

    Two providers of the catalog never share a project (each runs its own Keystone). Otherwise two keys of one
    kind are one project when equal; keys of two kinds (an entry name and a project id) cannot be compared.
    """
    if a.provider is not None and b.provider is not None and a.provider != b.provider:
        return False
    if a.project is None or b.project is None:
        return None
    if a.project.partition(":")[0] != b.project.partition(":")[0]:
        return None
    return a.project == b.project
