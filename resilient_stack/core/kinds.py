"""What a resource type is to the rules: which role it can hold, where its region is, or why it is not evaluated.

Every resource of an input falls in exactly one class (:func:`classify`):

- ``provider``      an OpenStack provider: its ``region``/``authUrl``/``cloud`` place the resources that use it;
- ``replica``       a type that holds a replica (:data:`KINDS`): placed and checked by the placement rules;
- ``inspected``     a type a security rule reads (security group rules, ports, networks);
- ``known``         a type known to hold no replica (subnets, routers, keys, users, component resources...):
                    listed under "not evaluated" with its count;
- ``unclassified``  a custom resource of a type the auditor does not know: listed under "not evaluated", and
                    the ``unclassified-resource`` finding when it carries a region or a role label.

A ``resilient-stack:role`` label is honoured only on a type whose family can hold that role
(:func:`label_allowed`): an object-storage container is never a database replica, whatever its label says.

The pulumi-ovh types and their fields are those of pulumi-ovh's schema (github ovh/pulumi-ovh,
``provider/cmd/pulumi-resource-ovh/schema.json`` at commit fac609c, terraform-provider-ovh v2.13.0). Their
resources carry their own region (the ``ovh`` provider has none): ``region`` or ``regionName``, a managed
database each node's ``nodes[].region``, a Kubernetes node pool its cluster's (``kubeId``).
Pure: standard library only.
"""

from __future__ import annotations

from typing import NamedTuple

from resilient_stack.core import vocabulary as vocab

# families of replica types
COMPUTE = "compute"
DATABASE = "database"
OBJECT_STORAGE = "object-storage"
VOLUME = "volume"
FILE_SHARE = "file-share"
LOAD_BALANCER = "load-balancer"
KUBERNETES = "kubernetes"
REGISTRY = "registry"


class Kind(NamedTuple):
    """A replica type: the role it holds unless labelled, its family, and where its placement comes from."""

    role: str
    family: str
    vendor: str  # "openstack": region from the resource or its openstack provider; "ovh": from the resource
    region_keys: tuple[str, ...] = ("region",)
    az_key: str | None = "availabilityZone"
    labels: bool = True  # does the type carry resilient-stack labels (metadata/tags)?


OS = "openstack"
OVH = "ovh"
OVH_PROVIDER_ID = "ovhcloud"  # the catalog's provider id of every ovh:* type

KINDS: dict[str, Kind] = {
    "openstack:compute/instance:Instance": Kind(vocab.COMPUTE, COMPUTE, OS),
    "openstack:objectstorage/container:Container": Kind(vocab.OBJECT_STORAGE, OBJECT_STORAGE, OS),
    "openstack:objectstorage/containerV1:ContainerV1": Kind(vocab.OBJECT_STORAGE, OBJECT_STORAGE, OS),
    "openstack:blockstorage/volume:Volume": Kind(vocab.VOLUME, VOLUME, OS),
    "openstack:sharedfilesystem/share:Share": Kind(vocab.FILE_SHARE, FILE_SHARE, OS),
    "openstack:loadbalancer/loadBalancer:LoadBalancer": Kind(vocab.LOAD_BALANCER, LOAD_BALANCER, OS),
    "openstack:database/instance:Instance": Kind(vocab.DATABASE, DATABASE, OS),
    # pulumi-ovh (schema: see the module docstring)
    "ovh:CloudProject/instance:Instance": Kind(vocab.COMPUTE, COMPUTE, OVH, ("region",), "availabilityZone", False),
    "ovh:CloudProject/kube:Kube": Kind(KUBERNETES, KUBERNETES, OVH, ("region",), None, False),
    "ovh:CloudProject/kubeNodePool:KubeNodePool": Kind(KUBERNETES, KUBERNETES, OVH, (), "availabilityZones", False),
    "ovh:CloudProject/database:Database": Kind(vocab.DATABASE, DATABASE, OVH, (), None, False),
    "ovh:CloudProject/storage:Storage": Kind(
        vocab.OBJECT_STORAGE, OBJECT_STORAGE, OVH, ("regionName", "region"), None, False
    ),
    "ovh:CloudProject/containerRegistry:ContainerRegistry": Kind(REGISTRY, REGISTRY, OVH, ("region",), None, False),
    "ovh:CloudProject/volume:Volume": Kind(vocab.VOLUME, VOLUME, OVH, ("regionName",), None, False),
    "ovh:CloudProject/loadBalancer:LoadBalancer": Kind(
        vocab.LOAD_BALANCER, LOAD_BALANCER, OVH, ("regionName", "region"), None, False
    ),
    "ovh:index/cloudProjectFileStorageShare:CloudProjectFileStorageShare": Kind(
        vocab.FILE_SHARE, FILE_SHARE, OVH, ("regionName",), "availabilityZone", False
    ),
}
OVH_KUBE = "ovh:CloudProject/kube:Kube"
OVH_NODE_POOL = "ovh:CloudProject/kubeNodePool:KubeNodePool"
OVH_DATABASE = "ovh:CloudProject/database:Database"

OPENSTACK_PROVIDER = "pulumi:providers:openstack"

# Types that a security rule reads (core.security): evaluated, never replicas.
INSPECTED = frozenset(
    {
        "openstack:networking/secGroupRule:SecGroupRule",
        "openstack:networking/addressGroupV2:AddressGroupV2",
        "openstack:compute/secGroup:SecGroup",  # pulumi-openstack before v5: inline rules
        "openstack:networking/port:Port",
        "openstack:networking/network:Network",
    }
)

# Known to hold no replica. OpenStack: whole modules of plumbing, and the helpers of replica modules.
_KNOWN_MODULES = (
    "openstack:networking/",
    "openstack:identity/",
    "openstack:images/",
    "openstack:keymanager/",
    "openstack:dns/",
    "openstack:fw/",
    "openstack:vpnaas/",
    "openstack:bgpvpn/",
)
_KNOWN_TYPES = frozenset(
    {
        "openstack:compute/keypair:Keypair",
        "openstack:compute/serverGroup:ServerGroup",
        "openstack:compute/flavor:Flavor",
        "openstack:compute/flavorAccess:FlavorAccess",
        "openstack:compute/quotaSetV2:QuotaSetV2",
        "openstack:compute/volumeAttach:VolumeAttach",
        "openstack:compute/interfaceAttach:InterfaceAttach",
        "openstack:compute/floatingIp:FloatingIp",
        "openstack:compute/floatingIpAssociate:FloatingIpAssociate",
        "openstack:compute/aggregateV2:AggregateV2",
        "openstack:blockstorage/volumeAttach:VolumeAttach",
        "openstack:blockstorage/qosAssociationV3:QosAssociationV3",
        "openstack:blockstorage/qosV3:QosV3",
        "openstack:blockstorage/quoteSetV3:QuoteSetV3",
        "openstack:blockstorage/volumeTypeV3:VolumeTypeV3",
        "openstack:blockstorage/volumeTypeAccessV3:VolumeTypeAccessV3",
        "openstack:loadbalancer/listener:Listener",
        "openstack:loadbalancer/pool:Pool",
        "openstack:loadbalancer/member:Member",
        "openstack:loadbalancer/members:Members",
        "openstack:loadbalancer/monitor:Monitor",
        "openstack:loadbalancer/l7PolicyV2:L7PolicyV2",
        "openstack:loadbalancer/l7RuleV2:L7RuleV2",
        "openstack:loadbalancer/quota:Quota",
        "openstack:loadbalancer/flavorV2:FlavorV2",
        "openstack:objectstorage/containerObject:ContainerObject",
        "openstack:objectstorage/tempUrl:TempUrl",
        "openstack:sharedfilesystem/shareNetwork:ShareNetwork",
        "openstack:sharedfilesystem/shareAccess:ShareAccess",
        "openstack:sharedfilesystem/securityService:SecurityService",
        "openstack:database/database:Database",
        "openstack:database/user:User",
        "openstack:database/configuration:Configuration",
        # pulumi-ovh: the parts and credentials of the replica types above, and project-wide settings
        "ovh:CloudProject/kubeOidc:KubeOidc",
        "ovh:CloudProject/kubeIpRestrictions:KubeIpRestrictions",
        "ovh:CloudProject/containerRegistryUser:ContainerRegistryUser",
        "ovh:CloudProject/containerRegistryOIDC:ContainerRegistryOIDC",
        "ovh:CloudProject/containerRegistryIPRestrictionsManagement:ContainerRegistryIPRestrictionsManagement",
        "ovh:CloudProject/containerRegistryIPRestrictionsRegistry:ContainerRegistryIPRestrictionsRegistry",
        "ovh:index/cloudProjectContainerregistryIam:CloudProjectContainerregistryIam",
        "ovh:CloudProject/user:User",
        "ovh:CloudProject/s3Credential:S3Credential",
        "ovh:CloudProject/s3Policy:S3Policy",
        "ovh:CloudProject/networkPrivate:NetworkPrivate",
        "ovh:CloudProject/networkPrivateSubnet:NetworkPrivateSubnet",
        "ovh:CloudProject/networkPrivateSubnetV2:NetworkPrivateSubnetV2",
        "ovh:CloudProject/gateway:Gateway",
        "ovh:CloudProject/gatewayInterface:GatewayInterface",
        "ovh:CloudProject/regionNetwork:RegionNetwork",
        "ovh:CloudProject/projectRegion:ProjectRegion",
        "ovh:CloudProject/alerting:Alerting",
        "ovh:CloudProject/failoverIpAttach:FailoverIpAttach",
    }
)
_KNOWN_OVH_MODULES = ("ovh:CloudProjectDatabase/",)  # users, ACLs, topics... of a managed database cluster

# The roles whose holders are restricted to some families; any other role needs a compute family.
_ROLE_FAMILIES: dict[str, frozenset[str]] = {
    vocab.DATABASE: frozenset({COMPUTE, DATABASE}),
    vocab.OBJECT_STORAGE: frozenset({OBJECT_STORAGE}),
    vocab.VOLUME: frozenset({VOLUME}),
    vocab.FILE_SHARE: frozenset({FILE_SHARE}),
    vocab.LOAD_BALANCER: frozenset({LOAD_BALANCER, COMPUTE}),
    vocab.BACKUP: frozenset({OBJECT_STORAGE, VOLUME, FILE_SHARE, COMPUTE}),
    KUBERNETES: frozenset({KUBERNETES}),
    REGISTRY: frozenset({REGISTRY}),
}
_RUNS_ANYTHING = frozenset({COMPUTE, KUBERNETES})

PROVIDER, REPLICA, INSPECTED_CLASS, KNOWN, UNCLASSIFIED = "provider", "replica", "inspected", "known", "unclassified"


def classify(typ: str, custom: bool = True) -> str:
    """The class of a resource type (see the module docstring)."""
    if typ in KINDS:
        return REPLICA
    if typ in INSPECTED:
        return INSPECTED_CLASS
    if typ == OPENSTACK_PROVIDER:
        return PROVIDER
    if (
        not custom
        or typ.startswith("pulumi:")
        or typ in _KNOWN_TYPES
        or typ.startswith(_KNOWN_MODULES + _KNOWN_OVH_MODULES)
    ):
        return KNOWN  # component resources, the stack, other providers, plumbing
    if typ.startswith(("random:", "tls:", "command:", "time:")):
        return KNOWN  # values and local helpers, nowhere in a cloud
    return UNCLASSIFIED


def label_allowed(role: str, family: str) -> bool:
    """Can a resource of ``family`` hold a replica of ``role``?"""
    families = _ROLE_FAMILIES.get(role)
    if families is None:  # web, compute, app-specific roles: software runs on compute
        return family in _RUNS_ANYTHING
    return family in families


def family_label(family: str) -> str:
    return {
        COMPUTE: "a compute instance",
        DATABASE: "a managed database",
        OBJECT_STORAGE: "an object-storage container",
        VOLUME: "a block-storage volume",
        FILE_SHARE: "a file share",
        LOAD_BALANCER: "a load balancer",
        KUBERNETES: "a Kubernetes cluster or node pool",
        REGISTRY: "a container registry",
    }[family]


# Where an unclassified resource may say it lives (any of these set means "carries a region").
REGION_HINT_KEYS = (
    "region",
    "regionName",
    "regions",
    "location",
    "availabilityZone",
    "availabilityZones",
    "zone",
    "datacenter",
)
