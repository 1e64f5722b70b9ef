"""resilient_stack.drills.topology without containers: the drill-only hosts' user data, rendered from the
package's payload files, and where the S3 stand-in's moto comes from. (Booting: tests/integration/firedrill.)"""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest
import yaml

from resilient_stack.drills import alerts, faults, topology
from resilient_stack.drills.load import RUN_DIR, VISITOR

from ..conftest import need_tool

DATA = Path(str(resources.files("resilient_stack.drills").joinpath("data")))


def test_the_visitor_is_a_plain_client():
    ud = topology.visitor_user_data()
    doc = yaml.safe_load(ud)
    assert ud.startswith("#cloud-config\n") and doc["package_update"] is False
    script, receiver, unit = doc["write_files"]
    assert script["path"] == VISITOR and script["permissions"] == "0755" and "curl" in script["content"]
    # the drill's alert receiver (the stack's alertWebhook while it runs): a line per notification
    assert "ThreadingHTTPServer" in receiver["content"] and f"{alerts.PORT} {alerts.LOG}" in unit["content"]
    assert ["systemctl", "start", f"{alerts.SERVICE}.service"] in doc["runcmd"]
    assert ["install", "-d", "-m", "0755", RUN_DIR] in doc["runcmd"]
    assert "haproxy" not in ud, "nothing health-checks the entry point for the visitor"


def test_s3_stand_in_user_data():
    doc = yaml.safe_load(topology.s3_user_data(port=443, bucket="shop-pgbackrest", path_style=True))
    unit = doc["write_files"][0]["content"]
    assert "S3_IGNORE_SUBDOMAIN_BUCKETNAME=true" in unit and "-H 127.0.0.1" in unit
    assert "Environment=PYTHONPATH=/opt/site\n" in unit and "$" not in unit
    nginx = doc["write_files"][1]["content"]
    assert "listen 443 ssl" in nginx and "proxy_set_header Host $host;" in nginx
    assert "ssl_certificate /etc/firedrill/tls/s3.crt;" in nginx and "proxy_pass http://127.0.0.1:5000;" in nginx
    assert topology.s3_bucket_script(443, "shop-pgbackrest") in doc["runcmd"]
    assert "curl -kfsS -o /dev/null -X PUT https://127.0.0.1:443/shop-pgbackrest" in topology.s3_bucket_script(
        443, "shop-pgbackrest"
    )
    assert ["systemctl", "enable", "--now", "firedrill-s3.service"] in doc["runcmd"], "it comes back with its container"
    host_style = yaml.safe_load(topology.s3_user_data(port=8443, bucket="b-1", path_style=False))
    assert "IGNORE_SUBDOMAIN" not in host_style["write_files"][0]["content"]
    assert "listen 8443 ssl" in host_style["write_files"][1]["content"]


def test_every_payload_file_is_used():
    assert {p.name for p in DATA.iterdir()} == {
        "visitor.sh",
        "alert-receiver.py",
        "probe.sh",
        "s3-moto.service",
        "s3-nginx.conf",
        "fence.py",
    }
    assert faults.fence_script() == (DATA / "fence.py").read_text(), "the fence probe of the faults (drills.faults)"


def test_the_probe_script_is_valid_bash_and_reads_only():
    script = DATA / "probe.sh"
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = script.read_text()
    for verb in ("INSERT", "UPDATE", "DELETE", "pg_promote", "patronictl", "systemctl", " put "):
        assert verb not in text, verb
    shellcheck = shutil.which("shellcheck")
    need_tool(shellcheck is not None, "shellcheck is not installed (Debian package shellcheck; make tools)")
    proc = subprocess.run([shellcheck, "-s", "bash", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_moto_comes_from_this_python():
    site = topology.moto_site()  # the drill extra installs moto[server]; the S3 stand-in mounts this directory
    assert (site / "moto" / "server.py").is_file() and (site / "flask").is_dir()


@pytest.mark.parametrize(
    "text, slug",
    [
        ("ovh-gravelines", "ovh-gravelines"),
        ("Geneva area (CH)", "geneva-area-ch"),
        ("***", "site"),
        ("x" * 60, "x" * 40),
    ],
)
def test_site_networks_get_plain_names(text, slug):
    assert topology.slug(text) == slug


def test_a_host_keeps_its_mac_on_the_internet():
    assert topology.mac_of("198.18.42.10") == "02:42:c6:12:2a:0a"
    assert topology.mac_of("198.18.42.11") != topology.mac_of("198.18.42.10")
