"""Shared by the Python scripts of the image: backend.json and an admin connection (internal endpoints)."""

import json
import os
import time

import openstack

BACKEND = json.load(open("/etc/rs-os/backend.json"))
CA = "/etc/rs-os/tls/ca.pem"  # the local CA of the clouds' TLS endpoints (mounted)
SERVICE_PASSWORD = "ospw"  # service users and admin: reachable only inside the clouds' own namespaces


def admin():
    return openstack.connect(
        auth_url=BACKEND["auth_url"],
        username="admin",
        password=SERVICE_PASSWORD,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=BACKEND["region"],
        interface="internal",
        cacert=CA if os.path.exists(CA) else None,
    )


def volume_services(c, binary):
    """Cinder services of ``binary`` that are up (openstacksdk 0.101's block_storage proxy has no services())."""
    return [
        s
        for s in c.block_storage.get("/os-services").json()["services"]
        if s["binary"] == binary and s["state"] == "up"
    ]


def until(what, check, timeout=300, every=2):
    """check() until it returns a truthy value; RuntimeError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            got = check()
            if got:
                return got
        except Exception as exc:  # the service may not answer yet
            last = exc
        time.sleep(every)
    raise RuntimeError(f"{what}: not after {timeout} s (last error: {last})")
