"""Every boot, before READY: the region's services answer through their APIs, as a client would use them."""

from common import BACKEND, admin, until, volume_services

c = admin()
up = lambda services, binary: [s for s in services if s.binary == binary and s.state == "up"]  # noqa: E731
for binary in ("nova-compute", "nova-conductor", "nova-scheduler"):
    until(f"{binary} up", lambda b=binary: up(c.compute.services(), b), timeout=180)
until("a hypervisor mapped into cell1", lambda: list(c.compute.hypervisors()), timeout=120)
until("a resource provider in placement", lambda: list(c.placement.resource_providers()), timeout=120)
for binary in ("cinder-scheduler", "cinder-volume"):
    until(f"{binary} up", lambda b=binary: volume_services(c, b), timeout=180)
names = {n.name for n in c.network.networks()}
missing = [n["name"] for n in BACKEND["external_networks"] if n["name"] not in names]
assert not missing, f"external networks missing: {missing}"
flavors = {f.name for f in c.compute.flavors()}
assert all(f["name"] in flavors for f in BACKEND["flavors"]), flavors
images = {i.name for i in c.image.images()}
assert set(BACKEND["images"]) <= images, images
until("object storage account", lambda: c.object_store.get_account_metadata() is not None, timeout=60)
print("selfcheck ok:", BACKEND["name"])
