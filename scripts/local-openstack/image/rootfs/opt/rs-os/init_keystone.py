"""Once per cloud, in the container that serves its keystone: regions, projects, users, roles, services and
the endpoints of every region of the cloud (each region's services run in their own container)."""

import pathlib

from common import BACKEND, SERVICE_PASSWORD, admin

ks = BACKEND["keystone"]
c = admin()
idc = c.identity


def get_or(find, create, name, **kw):
    return find(name, ignore_missing=True) or create(name=name, **kw)


have = {r.id for r in idc.regions()}
for region in ks["regions"]:
    if region not in have:
        idc.create_region(id=region)
admin_role, member_role = idc.find_role("admin"), idc.find_role("member")
# "service": the role of the service tokens Nova sends Cinder (a detach is refused without one)
service_role = get_or(idc.find_role, idc.create_role, "service")
service = get_or(idc.find_project, idc.create_project, "service", domain_id="default")
for name in ("glance", "placement", "nova", "neutron", "swift", "cinder"):
    user = get_or(idc.find_user, idc.create_user, name, password=SERVICE_PASSWORD, domain_id="default")
    idc.assign_project_role_to_user(service, user, admin_role)
    idc.assign_project_role_to_user(service, user, service_role)
# the clouds' users, each a member of its own project: the cloud's own, then its other projects (topology.json
# `projects`: the production stack's backups live in one of them, apart from the database members)
for u in [ks["user"], *ks.get("other_users", [])]:
    project = get_or(idc.find_project, idc.create_project, u["project"], domain_id="default")
    user = get_or(
        idc.find_user,
        idc.create_user,
        u["name"],
        password=u["password"],
        domain_id="default",
        default_project_id=project.id,
    )
    idc.assign_project_role_to_user(project, user, member_role)

SERVICES = [  # (name, type, url of a region's backend)
    ("nova", "compute", "http://{a}:8774/v2.1"),
    ("neutron", "network", "http://{a}:9696"),
    ("glance", "image", "http://{a}:9292"),
    ("placement", "placement", "http://{a}:8778"),
    ("swift", "object-store", "http://{a}:8080/v1/AUTH_%(project_id)s"),
    ("cinderv3", "volumev3", "http://{a}:8776/v3/%(project_id)s"),
    ("cinder", "block-storage", "http://{a}:8776/v3/%(project_id)s"),
]
existing = {(e.service_id, e.region_id, e.interface): e for e in idc.endpoints()}


def service_id(name, typ):
    svc = next((s for s in idc.services() if s.type == typ), None)
    return (svc or idc.create_service(name=name, type=typ)).id


def endpoint(sid, region, interface, url):
    e = existing.get((sid, region, interface))
    if e is None:
        idc.create_endpoint(service_id=sid, interface=interface, url=url, region_id=region)
    elif e.url != url:
        idc.update_endpoint(e, url=url)


identity = service_id("keystone", "identity")
for region, address in ks["regions"].items():
    endpoint(identity, region, "public", BACKEND["public_auth_url"])
    for itf in ("internal", "admin"):
        endpoint(identity, region, itf, BACKEND["auth_url"])
    for name, typ, url in SERVICES:
        sid = service_id(name, typ)
        for itf in ("public", "internal", "admin"):
            endpoint(sid, region, itf, url.format(a=address))
pathlib.Path("/var/lib/rs-os/keystone-initialized").touch()
print("keystone init done:", sorted(ks["regions"]))
