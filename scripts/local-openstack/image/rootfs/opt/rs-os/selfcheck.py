"""Every boot, before READY: the region's services answer through their APIs, as a client would use them."""

import ssl
import time
import urllib.error
import urllib.request

from common import BACKEND, CA, admin, until, volume_services

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
if BACKEND.get("s3"):
    # the S3 endpoint over TLS, by its name (the certificate's): a request signed with a key keystone does not
    # know gets S3's own refusal (s3api read it, s3token asked keystone), not Swift's or a TLS error
    def s3_refuses_anonymous() -> bool:
        req = urllib.request.Request(
            f"https://{BACKEND['s3']['host']}/",
            headers={
                "Authorization": "AWS selfcheck-unknown:c2lnbmF0dXJl",
                "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
            },
        )
        try:
            urllib.request.urlopen(req, context=ssl.create_default_context(cafile=CA), timeout=10)
        except urllib.error.HTTPError as exc:
            body = exc.read()
            return exc.code in (401, 403) and any(
                f"<Code>{c}</Code>".encode() in body
                for c in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")
            )
        except OSError:
            return False
        return False

    until("S3 API over TLS", s3_refuses_anonymous, timeout=60)
print("selfcheck ok:", BACKEND["name"])
