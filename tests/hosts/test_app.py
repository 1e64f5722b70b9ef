"""Tests of resilient_stack.hosts.app: the rules an application is held to, the release's key, the runtime and sealed
parts of a web host's documents, and the agent's files."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from resilient_stack.hosts import app
from resilient_stack.hosts.app import (
    RESERVED_ENV,
    AppSpec,
    release_key,
    runtime_section,
    secret_section,
    secrets_version,
    upstream_conf,
    validate_app,
)

SPEC = AppSpec(
    image="registry.example.com/shop/web:1.0.0",
    env={"APP_TITLE": "Shop"},
    migrate=("python3", "/app/app.py", "migrate"),
    secret_names=("STRIPE_KEY",),
)
TOKEN = "write-token-0123456789abcdef"
SECRET = "sk_live 'quoted' $(id) #5"


def spec(**kw) -> AppSpec:
    return dataclasses.replace(SPEC, **kw)


# --------------------------------------------------------------------------------------------------
# validate_app: what the web hosts could not run is refused, naming the setting
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        "registry.example.com/shop/web:1.0.0",
        "ghcr.io/acme/shop:1.4.2",
        "registry.example.com/shop/web@sha256:" + "a" * 64,
        "registry.example.com/shop/web:1.0.0@sha256:" + "0" * 64,
        "registry.example.com:5000/shop/web:1.0.0",  # a registry on its own port
        "registry:5000/shop:1",  # a one-label registry is one when it names its port
        "localhost/shop/web:1.0.0",  # the live tests' registry stand-in on the host itself
        "localhost:5000/shop:v1_2-rc.3",
    ],
)
def test_full_image_references_are_accepted(image):
    """Every form podman pulls from a named registry: a dotted host or one with a port, a tag and/or a digest."""
    assert validate_app(spec(image=image)).image == image


@pytest.mark.parametrize(
    "image",
    [
        "shop/web:1.0.0",  # a short name: which registry podman asks is a per-host setting
        "web:1.0.0",
        "registry.example.com:shop/web:1",  # a port that is not a number
        "Registry.Example.com/shop/web:1",  # upper case
        "registry.example.com/Shop/web:1",
        "registry.example.com/shop/web:-bad",  # a tag does not start with '-' or '.'
        "registry.example.com/shop/web:" + "1" * 129,  # at most 128 characters
        "registry.example.com/shop/web:1 0",
        "registry.example.com/shop/web@sha256:abc",  # a digest is 64 hex digits
        "registry.example.com/shop/web@sha256:" + "A" * 64,
        "registry.example.com/shop/web@md5:" + "a" * 32,
        "https://registry.example.com/shop/web:1",
        "registry.example.com:123456/shop:1",  # a port has at most 5 digits
        "",
    ],
)
def test_images_without_a_registry_or_with_bad_tags_or_digests_are_refused(image):
    with pytest.raises(ValueError, match=r"^image .* is not a full image reference"):
        validate_app(spec(image=image))


def test_an_image_without_a_version_is_refused():
    """``latest`` by default would make the same spec two different releases: the version must be written."""
    with pytest.raises(ValueError, match="^image 'registry.example.com/shop/web' names no tag or digest"):
        validate_app(spec(image="registry.example.com/shop/web"))


@pytest.mark.parametrize("name", [*RESERVED_ENV, "RESILIENT_STACK_HOST", "RESILIENT_STACK_ANYTHING"])
def test_the_stacks_own_variables_cannot_be_overridden_by_env_or_secrets(name):
    """The container's database settings, port and identity are the stack's (the docs' table)."""
    with pytest.raises(ValueError, match=rf"^env '{name}' is set by the stack"):
        validate_app(spec(env={name: "x"}))
    with pytest.raises(ValueError, match=rf"^secret '{name}' is set by the stack"):
        validate_app(spec(secret_names=(name,)))


@pytest.mark.parametrize("name", ["1ABC", "A-B", "A B", "", "X" * 129, "É"])
def test_env_and_secret_names_must_be_variable_names(name):
    with pytest.raises(ValueError, match="^env .* is not an environment variable name"):
        validate_app(spec(env={name: "x"}))
    with pytest.raises(ValueError, match="^secret .* is not an environment variable name"):
        validate_app(spec(secret_names=(name,)))


@pytest.mark.parametrize("value", ["two\nlines", "nul\x00", "x" * 32769, 1])
def test_env_values_are_single_lines(value):
    """The env file podman reads holds one ``NAME=value`` per line."""
    with pytest.raises(ValueError, match="^env APP_TITLE: the value must be one line"):
        validate_app(spec(env={"APP_TITLE": value}))


def test_a_secret_also_in_env_is_refused():
    with pytest.raises(ValueError, match="^secret 'APP_TITLE' is also in env"):
        validate_app(spec(secret_names=("APP_TITLE",)))


def test_env_with_too_many_names_is_refused():
    with pytest.raises(ValueError, match="^env must be a mapping of at most 256"):
        validate_app(spec(env={f"V{i}": "x" for i in range(257)}))


@pytest.mark.parametrize("path", ["/healthz", "/", "/api/health?full=1", "/status/ok.json", "/a-b_c~d/%20"])
def test_health_paths(path):
    assert validate_app(spec(health_path=path)).health_path == path


@pytest.mark.parametrize(
    "path",
    [
        "healthz",
        "",
        "/with space",
        "/two\nlines",
        "/" + "a" * 256,
        "/a#frag",
        "/{x}",
        "/up;internal",
        "/up$request_uri",
    ],
)
def test_bad_health_paths_are_refused(path):
    """The path lands in nginx's site as written (``proxy_pass http://rs_app<path>;``): a ';' would end the
    directive there and start another (``/up;internal`` hides /healthz), a '$' is read as a variable (nginx refuses
    the site, or proxies another path)."""
    with pytest.raises(ValueError, match="^healthPath must be a URL path"):
        validate_app(spec(health_path=path))


@pytest.mark.parametrize("port", [0, 65536, -1, True, "8080", 80.0])
def test_port_range(port):
    with pytest.raises(ValueError, match="^port must be 1 to 65535"):
        validate_app(spec(port=port))


@pytest.mark.parametrize("port", [1, 80, 65535])
def test_ports_in_range(port):
    assert validate_app(spec(port=port)).port == port


@pytest.mark.parametrize("field", ["command", "migrate"])
@pytest.mark.parametrize(
    "value, match",
    [
        ("python3 app.py", "must be a list of strings"),  # a string is not a word list: it would run as one word
        ((1,), "every item is a non-empty line"),
        (("",), "every item is a non-empty line"),
        (("a\nb",), "every item is a non-empty line"),
        (("a\x00",), "every item is a non-empty line"),
        (("x" * 4097,), "every item is a non-empty line of at most 4096"),
        (("x",) * 65, "at most 64 items"),
    ],
)
def test_command_and_migrate_are_word_lists(field, value, match):
    with pytest.raises(ValueError, match=rf"^{field}(:| must) .*{match}|^{field} {match}"):
        validate_app(spec(**{field: value}))


def test_command_and_migrate_may_be_empty():
    """Empty: the image's CMD, and no release phase."""
    assert validate_app(spec(command=(), migrate=())).migrate == ()


@pytest.mark.parametrize("user", ["", "deploy bot", "user:name", "tab\t"])
def test_registry_username_is_one_word_without_colon(user):
    """It goes into the ``user:password`` of podman's auth file."""
    with pytest.raises(ValueError, match="^registry.username must be one word"):
        validate_app(spec(registry_user=user))


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("health_timeout", 4, "^healthTimeout must be 5 to 3600"),
        ("health_timeout", 3601, "^healthTimeout must be 5 to 3600"),
        ("health_timeout", True, "^healthTimeout must be"),
        ("drain_seconds", -1, "^drainSeconds must be 0 to 600"),
        ("drain_seconds", 601, "^drainSeconds must be 0 to 600"),
    ],
)
def test_release_timings(field, value, match):
    with pytest.raises(ValueError, match=match):
        validate_app(spec(**{field: value}))


def test_release_order_names_placements_with_web_hosts_once():
    assert validate_app(spec(order=("waw", "gra")), placements=["gra", "waw"]).order == ("waw", "gra")
    assert validate_app(spec(order=("nowhere",))).order == ("nowhere",), "placements unknown yet: checked later"
    with pytest.raises(ValueError, match=r"^release order names a placement twice: \['gra', 'gra'\]"):
        validate_app(spec(order=("gra", "gra")))
    with pytest.raises(ValueError, match=r"^release order names \['ik'\], which hold no web host .*\['gra', 'waw'\]"):
        validate_app(spec(order=("gra", "ik")), placements=["gra", "waw"])


# --------------------------------------------------------------------------------------------------
# what tells releases apart
# --------------------------------------------------------------------------------------------------


def key(s: AppSpec = SPEC, version: str = "v1") -> str:
    return release_key(s.document(), version)


@pytest.mark.parametrize(
    "change",
    [
        {"image": "registry.example.com/shop/web:1.0.1"},
        {"env": {"APP_TITLE": "Shop 2"}},
        {"env": {"APP_TITLE": "Shop", "MORE": "1"}},
        {"command": ("serve",)},
        {"migrate": ()},
        {"secret_names": ("STRIPE_KEY", "OTHER")},
        {"port": 9000},
        {"health_path": "/up"},
    ],
)
def test_a_changed_spec_is_a_new_release(change):
    assert key(spec(**change)) != key()


def test_the_same_spec_is_the_same_release_whatever_the_order_of_env():
    """Every host computes the key from its own copy: they must agree to register one release."""
    a = spec(env={"A": "1", "B": "2"})
    b = spec(env={"B": "2", "A": "1"})
    assert key(a) == key(b) == key(dataclasses.replace(a))
    assert key(spec(secret_names=("X", "Y"))) == key(spec(secret_names=("Y", "X")))


def test_changed_secrets_are_a_new_release():
    assert key(version="v1") != key(version="v2")


def test_secrets_version_says_they_changed_and_nothing_else():
    """An HMAC keyed with the write token: the same secrets give the same version on every host; a changed value or
    token changes it; no value can be read from it or tried against it without the token."""
    v = secrets_version({"STRIPE_KEY": SECRET, "OTHER": "o"}, TOKEN)
    assert v == secrets_version({"OTHER": "o", "STRIPE_KEY": SECRET}, TOKEN)
    assert re.fullmatch(r"[0-9a-f]{32}", v)
    assert v != secrets_version({"STRIPE_KEY": SECRET + "!", "OTHER": "o"}, TOKEN)
    assert v != secrets_version({"STRIPE_KEY": SECRET, "OTHER": "o"}, TOKEN + "x")
    assert v != secrets_version({"STRIPE_KEY": SECRET}, TOKEN)
    assert SECRET not in v and "STRIPE_KEY" not in v


# --------------------------------------------------------------------------------------------------
# nginx's upstream, the runtime and sealed parts
# --------------------------------------------------------------------------------------------------


def test_upstream_conf_sends_visitors_to_the_current_slot():
    assert "server 127.0.0.1:18080;" in upstream_conf("a")
    assert "server 127.0.0.1:18081;" in upstream_conf("b")
    none = upstream_conf(None)
    assert "server 127.0.0.1:18080 down;" in none, "no release yet: a server marked down (502), a valid upstream"
    for text in (upstream_conf("a"), upstream_conf("b"), none):
        assert text.count("upstream rs_app {") == 1 and "keepalive 16;" in text and text.endswith("}\n")


def runtime(**kw) -> dict:
    values = dict(
        spec=SPEC,
        version=secrets_version({"STRIPE_KEY": SECRET}, TOKEN),
        host="shop-gra-web-1",
        placement="gra",
        label="ovh/GRA/GRA11",
        placements=["gra", "waw"],
        members={"203.0.113.10": "gra", "198.51.100.20": "waw"},
        db_hosts=["203.0.113.10", "198.51.100.20"],
        db_port=5432,
        dbname="shop",
    )
    values.update(kw)
    return runtime_section(**values)


def test_runtime_section_holds_what_the_agent_reads_and_no_secret():
    part = runtime(spec=spec(order=("waw", "gra"), registry_user="deploy-bot"))
    assert set(part) == {
        "spec",
        "secrets_version",
        "key",
        "host",
        "placement",
        "label",
        "placements",
        "order",
        "members",
        "database",
    }
    assert part["key"] == release_key(part["spec"], part["secrets_version"])
    assert (part["host"], part["placement"], part["label"]) == ("shop-gra-web-1", "gra", "ovh/GRA/GRA11")
    assert part["placements"] == ["gra", "waw"] and part["order"] == ["waw", "gra"]
    assert part["members"] == {"203.0.113.10": "gra", "198.51.100.20": "waw"}
    assert part["database"] == {"hosts": ["203.0.113.10", "198.51.100.20"], "port": 5432, "dbname": "shop"}
    assert part["spec"]["secrets"] == ["STRIPE_KEY"], "the names only"
    assert part["spec"]["registry"] == "registry.example.com" and part["spec"]["registry_user"] == "deploy-bot"
    text = json.dumps(part)
    assert SECRET not in text and TOKEN not in text
    json.loads(text)  # the runtime document is JSON


def secrets_part(**kw) -> dict:
    values = dict(
        credentials=[("shop", "app-pw-0123456789"), ("shop_alt", "old-pw-0123456789")],
        migrate=("shop_migrate", "mig-pw-0123456789"),
        write_token=TOKEN,
        secrets={"STRIPE_KEY": SECRET},
        registry_password=None,
    )
    values.update(kw)
    return secret_section(**values)


def test_secret_section_holds_credentials_current_first_and_the_users_secrets():
    part = secrets_part()
    assert part["credentials"] == [
        {"user": "shop", "password": "app-pw-0123456789"},
        {"user": "shop_alt", "password": "old-pw-0123456789"},
    ]
    assert part["migrate"] == {"user": "shop_migrate", "password": "mig-pw-0123456789"}
    assert part["write_token"] == TOKEN and part["secrets"] == {"STRIPE_KEY": SECRET}
    assert "registry_password" not in part, "anonymous pulls: no password key at all"
    assert secrets_part(registry_password="reg-pw")["registry_password"] == "reg-pw"


@pytest.mark.parametrize(
    "secrets, match",
    [
        ({"STRIPE_KEY": "a\x00b"}, "^secret STRIPE_KEY: at most 65536 characters, no NUL"),
        ({"STRIPE_KEY": "x" * 65537}, "^secret STRIPE_KEY: at most 65536"),
        ({"STRIPE_KEY": None}, "^secret STRIPE_KEY"),
        ({"PGPASSWORD": "x"}, "^secret 'PGPASSWORD' is set by the stack"),
        ({"RESILIENT_STACK_X": "x"}, "^secret 'RESILIENT_STACK_X' is set by the stack"),
        ({"BAD-NAME": "x"}, "^secret 'BAD-NAME' is not an environment variable name"),
    ],
)
def test_secret_section_refuses_what_podman_could_not_hand_over(secrets, match):
    with pytest.raises(ValueError, match=match):
        secrets_part(secrets=secrets)


def test_a_secret_may_span_lines():
    """A PEM key is a secret too: podman hands it over as it is (no env file)."""
    pem = "-----BEGIN-----\nabc\n-----END-----\n"
    assert secrets_part(secrets={"TLS_KEY": pem})["secrets"]["TLS_KEY"] == pem


# --------------------------------------------------------------------------------------------------
# the agent's files
# --------------------------------------------------------------------------------------------------


def test_files_render_the_agent_its_service_and_an_empty_upstream():
    fs = {f["path"]: f for f in app.files()}
    agent = fs[app.AGENT]
    assert agent["permissions"] == "0755" and agent["content"].startswith("#!/usr/bin/python3\n")
    assert not re.search(r"\{\{\s*[a-z_]+\s*\}\}", agent["content"]), "an unrendered placeholder"
    compile(agent["content"], "release.py", "exec")
    service = fs[f"/etc/systemd/system/{app.AGENT_SERVICE}.service"]["content"]
    assert f"ExecStart={app.AGENT} agent\n" in service and "{{" not in service
    assert list(fs.values())[-1]["content"] == upstream_conf(None)
