"""A healthy web host: nginx from Debian serving /healthz and either the index page or the application (its container
under podman, its agent, nginx sending the visitors to its current slot)."""

import html
import json

import pytest

pytestmark = pytest.mark.role("web")


def test_nginx_installed(host):
    assert host.package("nginx").is_installed


def test_nginx_running_and_enabled(host):
    svc = host.service("nginx")
    assert svc.is_running
    assert svc.is_enabled


def test_listening_on_port_80(host):
    assert host.socket("tcp://0.0.0.0:80").is_listening or host.socket("tcp://:::80").is_listening


def test_healthz_answers_ok(host):
    out = host.run("curl -fsS --max-time 5 http://127.0.0.1/healthz")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "ok"


STATE = "/etc/resilient-stack/runtime.json"
CURRENT = "/var/lib/resilient-stack/app/current.json"
UPSTREAM = "/etc/nginx/resilient-stack-app.conf"
CREDENTIALS = "/etc/resilient-stack/secrets/app-credentials.json"
SLOT_PORTS = {"a": 18080, "b": 18081}


@pytest.fixture
def app(root, options):
    """The application's part of the runtime document; its checks are skipped on a host without one unless
    --expect-app (a host without one serves the index page)."""
    doc = json.loads(root.file(STATE).content_string) if root.file(STATE).exists else {}
    if "app" not in doc:
        if options["expect_app"]:
            pytest.fail("the runtime document has no application: the host serves the index page only")
        pytest.skip("no application on this host (--expect-app requires one)")
    return doc["app"]


def test_index_shows_the_placement(host, root, options):
    if root.file(STATE).exists and "app" in json.loads(root.file(STATE).content_string):
        pytest.skip("the application serves / on this host")
    out = host.run("curl -fsS --max-time 5 http://127.0.0.1/")
    assert out.rc == 0, out.stderr
    page = out.stdout
    assert "Served from placement" in page
    if options["placement"]:
        assert html.escape(options["placement"]) in page
    if options["app_title"]:
        assert f"<h1>{html.escape(options['app_title'])}</h1>" in page


def test_default_site_disabled(host):
    assert not host.file("/etc/nginx/sites-enabled/default").exists


def test_the_agent_runs_and_is_enabled(host, app):
    svc = host.service("resilient-stack-app-agent")
    assert svc.is_running and svc.is_enabled


def test_the_current_slot_runs_the_stacks_image_behind_nginx(root, app):
    current = json.loads(root.file(CURRENT).content_string)
    slot = current["slot"]
    assert f"server 127.0.0.1:{SLOT_PORTS[slot]};" in root.file(UPSTREAM).content_string

    def state(name: str) -> str | None:
        out = root.run("podman container inspect %s", name)
        return json.loads(out.stdout)[0]["State"]["Status"] if out.rc == 0 else None

    assert state(f"rs-app-{slot}") == "running", f"no running container in slot {slot}"
    image = json.loads(root.run("podman container inspect rs-app-%s", slot).stdout)[0]["ImageName"]
    assert image == current["image"], (image, current["image"])
    other = "b" if slot == "a" else "a"
    assert state(f"rs-app-{other}") is None, "one version at a time once it switched"


def test_the_health_check_is_the_applications(host, app):
    out = host.run("curl -sS --max-time 10 -o /dev/null -w %s http://127.0.0.1/healthz", "%{http_code}")
    assert out.stdout.startswith(("2", "3")), out.stdout


def test_the_applications_secrets_are_root_only(root, app):
    f = root.file(CREDENTIALS)
    assert f.exists and f.mode == 0o600 and f.user == "root", (oct(f.mode), f.user)
    doc = json.loads(f.content_string)
    assert doc["credentials"] and all(c["user"] and c["password"] for c in doc["credentials"])
    assert doc["migrate"]["user"] and doc["migrate"]["password"]
    env_dir = root.file("/var/lib/resilient-stack/app")
    assert env_dir.mode == 0o700 and env_dir.user == "root"


def test_no_container_reaches_the_metadata_service(root, app):
    chain = root.run("nft list chain inet resilient_stack forward")
    assert chain.rc == 0 and "ip daddr 169.254.169.254 reject" in chain.stdout, chain.stdout + chain.stderr
