"""resilient_stack.drills.topology without containers: the drill-only hosts' user data, rendered from the
package's payload files, and where the S3 stand-in's moto comes from. (Booting: tests/integration/firedrill.)"""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest
import yaml

from resilient_stack.drills import topology
from resilient_stack.drills.load import RUN_DIR, TABLE, WRITER

from ..conftest import need_tool

DATA = Path(str(resources.files("resilient_stack.drills").joinpath("data")))


def test_entry_point_user_data():
    ud = topology.entry_user_data([("shop-gra-web-1", "198.18.42.10"), ("shop-waw-web-1", "198.18.42.12")], https=True)
    doc = yaml.safe_load(ud)
    assert ud.startswith("#cloud-config\n")
    cfg = next(f["content"] for f in doc["write_files"] if f["path"] == "/etc/haproxy/haproxy.cfg")
    assert "option httpchk GET /healthz" in cfg and "http-check expect status 200" in cfg
    assert "server shop-gra-web-1 198.18.42.10:80 check" in cfg
    assert "server shop-waw-web-1 198.18.42.12:443 check port 80" in cfg
    assert "option redispatch" in cfg and "fall 2" in cfg
    writer = next(f for f in doc["write_files"] if f["path"] == WRITER)
    assert writer["permissions"] == "0755" and f"INSERT INTO {TABLE}" in writer["content"]
    assert "timeout 3 psql" in writer["content"] and "max_seconds" in writer["content"]
    assert ["install", "-d", "-m", "0755", RUN_DIR] in doc["runcmd"]
    assert ["systemctl", "enable", "--now", "haproxy"] in doc["runcmd"]
    plain = yaml.safe_load(topology.entry_user_data([("w", "198.18.42.10")], https=False))
    assert ":443" not in plain["write_files"][0]["content"]


def test_the_haproxy_config_has_one_frontend_per_port_and_every_server_in_each_backend():
    servers = [("a", "198.18.42.10"), ("b", "198.18.42.11"), ("c", "198.18.42.12")]
    cfg = topology.haproxy_config(servers, https=True)
    assert cfg.endswith("\n") and "$" not in cfg and "\n\n" not in cfg
    assert cfg.count("\nfrontend ") == 2 and "    bind :80\n" in cfg and "    bind :443\n" in cfg
    assert [ln.split()[1] for ln in cfg.splitlines() if ln.startswith("    server ")] == ["a", "b", "c"] * 2
    assert topology.haproxy_config(servers, https=False) == cfg[:cfg.index("frontend www-tls")]


def test_s3_stand_in_user_data():
    doc = yaml.safe_load(topology.s3_user_data(port=443, bucket="shop-pgbackrest", path_style=True))
    unit = doc["write_files"][0]["content"]
    assert "S3_IGNORE_SUBDOMAIN_BUCKETNAME=true" in unit and "-H 127.0.0.1" in unit
    assert "Environment=PYTHONPATH=/opt/site\n" in unit and "$" not in unit
    nginx = doc["write_files"][1]["content"]
    assert "listen 443 ssl" in nginx and "proxy_set_header Host $host;" in nginx
    assert "ssl_certificate /etc/firedrill/tls/s3.crt;" in nginx and "proxy_pass http://127.0.0.1:5000;" in nginx
    assert ["curl", "-kfsS", "-o", "/dev/null", "-X", "PUT", "https://127.0.0.1:443/shop-pgbackrest"] in doc["runcmd"]
    host_style = yaml.safe_load(topology.s3_user_data(port=8443, bucket="b-1", path_style=False))
    assert "IGNORE_SUBDOMAIN" not in host_style["write_files"][0]["content"]
    assert "listen 8443 ssl" in host_style["write_files"][1]["content"]


def test_every_payload_file_is_used():
    used = {"entry-haproxy.cfg", "entry-haproxy-tls.cfg", "firedrill-writer.sh", "s3-moto.service", "s3-nginx.conf"}
    assert {p.name for p in DATA.iterdir()} == used


def test_the_writer_script_is_valid_bash():
    script = DATA / "firedrill-writer.sh"
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"{RUN_DIR}/target" in script.read_text() and f"{RUN_DIR}/stop" in script.read_text()


def test_the_writer_script_passes_shellcheck():
    shellcheck = shutil.which("shellcheck")
    need_tool(shellcheck is not None, "shellcheck is not installed (Debian package shellcheck; make tools)")
    proc = subprocess.run([shellcheck, "-s", "bash", str(DATA / "firedrill-writer.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_moto_comes_from_this_python():
    site = topology.moto_site()  # the drill extra installs moto[server]; the S3 stand-in mounts this directory
    assert (site / "moto" / "server.py").is_file() and (site / "flask").is_dir()


@pytest.mark.parametrize("text, slug", [("ovh-gravelines", "ovh-gravelines"), ("Geneva area (CH)", "geneva-area-ch"),
                                        ("***", "site"), ("x" * 60, "x" * 40)])
def test_site_networks_get_plain_names(text, slug):
    assert topology.slug(text) == slug
