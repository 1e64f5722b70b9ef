"""Tests of resilient_stack.components.app_config (``web.app``) and the stack configuration's use of it: its keys and
defaults, the hosts layer's rules as one-line errors naming the key, ``appSecrets`` and ``appRegistryPassword``
(Pulumi secrets, never in clear in a stack file)."""

from __future__ import annotations

import contextvars
import json

import pytest
import yaml
from pydantic import ValidationError

from resilient_stack.components.app_config import APP_SECRETS, REGISTRY_PASSWORD, AppSettings
from resilient_stack.components.stack_config import (
    ENCRYPTED,
    NAMESPACE,
    StackConfig,
    StackConfigError,
    from_pulumi_config,
    load_stack_file,
    parse_stack_config,
    read_stack_file,
)
from resilient_stack.hosts.app import AppSpec
from resilient_stack.testing.mockrun import engine_config

from .conftest import bare_config, stack_file

IMAGE = "ghcr.io/acme/shop:1.4.2"


def parse(raw: dict) -> StackConfig:
    return parse_stack_config(raw, "test", stack="test")


def with_app(app: dict | None = None, stack: str = "production", **bare) -> dict:
    raw = bare_config(stack)
    raw["web"]["app"] = {"image": IMAGE, **(app or {})}
    raw.update(bare)
    return raw


def refused(raw: dict) -> StackConfigError:
    with pytest.raises(StackConfigError) as err:
        parse(raw)
    text = str(err.value)
    assert text.startswith("test: resilient-stack:") and "\n" not in text and "Value error" not in text
    return err.value


# --------------------------------------------------------------------------------------------------
# web.app: keys, defaults, refusals
# --------------------------------------------------------------------------------------------------


def test_defaults_are_the_documented_ones():
    """docs/application.md's table: port 8080, /healthz, the image's CMD, no env, no release phase, anonymous pulls,
    the placements' order, 120 s to be healthy, a 5 s drain."""
    app = AppSettings.model_validate({"image": IMAGE})
    assert app.spec(()) == AppSpec(image=IMAGE)
    assert (app.port, app.health_path, app.command, app.env, app.migrate, app.registry) == (
        8080,
        "/healthz",
        (),
        {},
        (),
        None,
    )
    assert (app.release.order, app.release.health_timeout, app.release.drain_seconds) == ((), 120, 5)


def test_camel_case_keys_reach_the_hosts_spec():
    app = AppSettings.model_validate(
        {
            "image": IMAGE,
            "port": 9000,
            "healthPath": "/up",
            "command": ["serve", "--fast"],
            "env": {"MODE": "prod"},
            "migrate": ["manage", "migrate"],
            "registry": {"username": "deploy-bot"},
            "release": {"order": ["waw", "gra"], "healthTimeout": 300, "drainSeconds": 0},
        }
    )
    assert app.spec(("STRIPE_KEY", "API_KEY")) == AppSpec(
        image=IMAGE,
        port=9000,
        health_path="/up",
        command=("serve", "--fast"),
        env={"MODE": "prod"},
        migrate=("manage", "migrate"),
        secret_names=("API_KEY", "STRIPE_KEY"),
        registry_user="deploy-bot",
        health_timeout=300,
        drain_seconds=0,
        order=("waw", "gra"),
    )


@pytest.mark.parametrize(
    "app, key",
    [
        ({"health_path": "/up"}, "web.app.health_path"),  # snake_case is not a key of the stack file
        ({"healthpath": "/up"}, "web.app.healthpath"),
        ({"release": {"health_timeout": 60}}, "web.app.release.health_timeout"),
        ({"release": {"drain": 1}}, "web.app.release.drain"),
        ({"registry": {"username": "u", "password": "p"}}, "web.app.registry.password"),  # the password is a secret
        ({"secrets": {"K": "v"}}, "web.app.secrets"),
    ],
)
def test_unknown_keys_are_refused_by_name(app, key):
    err = refused(with_app(app))
    assert err.key == f"{NAMESPACE}:{key}" and "unknown key (keys are camelCase" in str(err)


def test_an_image_is_required():
    raw = bare_config("production")
    raw["web"]["app"] = {"port": 8080}
    assert refused(raw).key == f"{NAMESPACE}:web.app.image"


@pytest.mark.parametrize(
    "app, key, message",
    [
        ({"image": "shop/web:1.0.0"}, "web.app", "image 'shop/web:1.0.0' is not a full image reference"),
        ({"image": "registry.example.com/shop/web"}, "web.app", "names no tag or digest"),
        ({"env": {"DATABASE_URL": "postgresql://elsewhere"}}, "web.app", "env 'DATABASE_URL' is set by the stack"),
        ({"env": {"RESILIENT_STACK_HOST": "x"}}, "web.app", "env 'RESILIENT_STACK_HOST' is set by the stack"),
        ({"healthPath": "healthz"}, "web.app", "healthPath must be a URL path"),
        ({"command": "python3 app.py"}, "web.app.command", ""),
        ({"migrate": ["a\nb"]}, "web.app", "migrate: every item is a non-empty line"),
        ({"registry": {"username": "deploy:bot"}}, "web.app", "registry.username must be one word without ':'"),
        ({"port": 0}, "web.app.port", ""),
        ({"release": {"healthTimeout": 4}}, "web.app.release.healthTimeout", ""),
        ({"release": {"drainSeconds": 601}}, "web.app.release.drainSeconds", ""),
        ({"release": {"order": ["gra", "gra"]}}, "web.app", "release order names a placement twice"),
    ],
)
def test_what_the_hosts_could_not_run_is_refused_naming_the_key(app, key, message):
    err = refused(with_app(app))
    assert err.key == f"{NAMESPACE}:{key}" and message in str(err)


def test_release_order_names_placements_with_web_hosts():
    """A placement without web hosts (here ik: its database member only) has nothing to release."""
    raw = with_app({"release": {"order": ["ik", "gra"]}})
    assert parse(raw).web.app.release.order == ("ik", "gra")
    raw["placements"][2]["webCount"] = 0
    err = refused(raw)
    assert err.key == f"{NAMESPACE}:web.app"
    assert "release order names ['ik'], which hold no web host (placements with web hosts: ['gra', 'waw'])" in str(err)
    raw = with_app({"release": {"order": ["nowhere"]}})
    assert "release order names ['nowhere']" in str(refused(raw))


# --------------------------------------------------------------------------------------------------
# appSecrets and appRegistryPassword
# --------------------------------------------------------------------------------------------------


def test_app_secrets_names_reach_the_spec_but_not_their_values():
    cfg = parse(with_app(appSecrets={"STRIPE_KEY": "sk_live_1", "API_KEY": "k"}))
    spec = cfg.web.app.spec(tuple(cfg.app_secrets))
    assert spec.secret_names == ("API_KEY", "STRIPE_KEY")
    assert "sk_live_1" not in repr(cfg) and "sk_live_1" not in json.dumps(spec.document())


@pytest.mark.parametrize(
    "secrets, message",
    [
        ({"PGPASSWORD": "x"}, "secret 'PGPASSWORD' is set by the stack"),
        ({"RESILIENT_STACK_WRITE_TOKEN": "x"}, "secret 'RESILIENT_STACK_WRITE_TOKEN' is set by the stack"),
        ({"bad-name": "x"}, "secret 'bad-name' is not an environment variable name"),
        ({"APP_TITLE": "x"}, "secret 'APP_TITLE' is also in env"),
    ],
)
def test_bad_secret_names_are_refused_naming_app_secrets(secrets, message):
    err = refused(with_app({"env": {"APP_TITLE": "Shop"}}, appSecrets=secrets))
    assert err.key == f"{NAMESPACE}:{APP_SECRETS}" and message in str(err)


def test_app_secrets_without_an_application_are_refused():
    raw = bare_config("production")
    del raw["web"]["app"]
    raw[APP_SECRETS] = {"STRIPE_KEY": "sk"}
    err = refused(raw)
    assert err.key == f"{NAMESPACE}:{APP_SECRETS}" and "web.app is not" in str(err)


def test_a_registry_username_and_its_password_go_together():
    """``registry.username``'s password is the secret ``appRegistryPassword`` (docs/application.md, the field's
    description): a user without it could not pull, a password without a user would never be used. Each is refused
    naming the key that is missing."""
    cfg = parse(with_app({"registry": {"username": "deploy-bot"}}, appRegistryPassword="pw"))
    assert cfg.web.app.spec(()).registry_user == "deploy-bot"
    assert cfg.app_registry_password.get_secret_value() == "pw"
    err = refused(with_app({"registry": {"username": "deploy-bot"}}))
    assert err.key == f"{NAMESPACE}:{REGISTRY_PASSWORD}" and "go together" in str(err)
    err = refused(with_app(appRegistryPassword="pw"))
    assert err.key == f"{NAMESPACE}:web.app.registry" and "go together" in str(err)


def program_config(extra: dict[str, str], secret_keys: list[str]) -> StackConfig:
    """The configuration as the running program reads it from the engine (staging's, plus ``extra``), with
    ``secret_keys`` the engine marks as secrets."""
    config, _ = read_stack_file(stack_file("staging"))
    values = {**engine_config(config), **extra}

    def read() -> StackConfig:
        from pulumi.runtime.config import set_all_config
        from pulumi.runtime.settings import reset_options

        reset_options(project="resilient-stack", stack="staging", preview=True)
        set_all_config(values, secret_keys)
        return from_pulumi_config("staging")

    return contextvars.copy_context().run(read)


@pytest.mark.parametrize("key, value", [(APP_SECRETS, json.dumps({"STRIPE_KEY": "sk"})), (REGISTRY_PASSWORD, "pw")])
def test_the_program_refuses_app_secrets_that_are_not_pulumi_secrets(key, value):
    """``pulumi config set`` without ``--secret`` would keep the value in clear in the stack file."""
    full = f"{NAMESPACE}:{key}"
    with pytest.raises(
        StackConfigError,
        match=rf"^stack staging: {full}: is in clear in the stack file; set it as a "
        rf"secret: `pulumi config set --secret {full} \.\.\.`$",
    ):
        program_config({full: value}, [])


def test_the_program_reads_app_secrets_given_as_pulumi_secrets():
    full = f"{NAMESPACE}:{APP_SECRETS}"
    cfg = program_config({full: json.dumps({"STRIPE_KEY": "sk"})}, [full])
    assert cfg.app_secrets["STRIPE_KEY"].get_secret_value() == "sk"


@pytest.mark.parametrize(
    "key, value",
    [
        (APP_SECRETS, "\n    STRIPE_KEY: sk_live_in_clear"),
        (APP_SECRETS, "\n    STRIPE_KEY:\n      secure: v1:AAAA\n    OTHER: in-clear"),  # one in clear is one too many
        (REGISTRY_PASSWORD, " in-clear"),
    ],
)
def test_a_stack_file_holding_app_secrets_in_clear_is_refused_naming_the_file(tmp_path, key, value):
    f = tmp_path / "Pulumi.staging.yaml"
    f.write_text(stack_file("staging").read_text() + f"  {NAMESPACE}:{key}:{value}\n")
    with pytest.raises(StackConfigError) as err:
        load_stack_file(f)
    assert str(err.value) == (
        f"{f}: {NAMESPACE}:{key}: is in clear in the stack file; set it with `pulumi config set --secret`"
    )


def test_encrypted_app_secrets_in_a_stack_file_are_read_by_name_only(tmp_path):
    """``pulumi config set --secret`` encrypts the whole value (the reader cannot even read the names) or, with
    ``--path``, each name's value: the reader knows the names, never the values (it cannot decrypt them)."""
    f = tmp_path / "Pulumi.staging.yaml"
    f.write_text(stack_file("staging").read_text() + f"  {NAMESPACE}:{APP_SECRETS}:\n    secure: v1:AAAA\n")
    assert load_stack_file(f).app_secrets is None
    f.write_text(
        stack_file("staging").read_text() + f"  {NAMESPACE}:{APP_SECRETS}:\n    STRIPE_KEY:\n      secure: v1:AAAA\n"
    )
    secrets = load_stack_file(f).app_secrets
    assert list(secrets) == ["STRIPE_KEY"] and secrets["STRIPE_KEY"].get_secret_value() == ENCRYPTED


def test_a_private_registry_set_up_as_documented_is_read_from_the_stack_file(tmp_path):
    """``web.app.registry.username`` in clear, ``appRegistryPassword`` encrypted: they go together."""
    raw = stack_file("staging").read_text()
    f = tmp_path / "Pulumi.staging.yaml"
    f.write_text(raw + f"  {NAMESPACE}:{REGISTRY_PASSWORD}:\n    secure: v1:AAAA\n")
    with pytest.raises(StackConfigError, match="go together"):
        load_stack_file(f)  # the password without a user
    doc = yaml.safe_load(raw)
    doc["config"][f"{NAMESPACE}:web"]["app"]["registry"] = {"username": "deploy-bot"}
    doc["config"][f"{NAMESPACE}:{REGISTRY_PASSWORD}"] = {"secure": "v1:AAAA"}
    f.write_text(yaml.safe_dump(doc))
    cfg = load_stack_file(f)
    assert cfg.web.app.registry.username == "deploy-bot" and cfg.app_registry_password is not None


def test_app_settings_alone_refuse_what_the_hosts_could_not_run():
    """The model itself holds the hosts layer's rules (``validate_app``): no spec the hosts refuse exists."""
    with pytest.raises(ValidationError, match="is not a full image reference"):
        AppSettings.model_validate({"image": "web:1"})
