"""resilient_stack.components.readiness: what `pulumi up` refuses and a preview warns about, in the stack's namespace,
under the mock runner (the program as the engine runs it)."""

from __future__ import annotations

import pytest
import yaml

from resilient_stack.components.backup_config import ACCESS_KEY, SECRET_KEY
from resilient_stack.components.readiness import advisories, deploy_problems
from resilient_stack.components.stack_config import StackConfigError, load_stack_file, parse_stack_config
from resilient_stack.testing.mockrun import RecordingMocks, run_program

from .conftest import bare_config, stack_file

INSTANCE = "openstack:compute/instance:Instance"
KEYS = {ACCESS_KEY: "OVHS3ACCESSKEY0001", SECRET_KEY: "s3cr3t-of-the-backup-user"}
IMAGE = "registry.shop.internal/shop/web:1.0.0"  # the user's own registry (the shipped one is a placeholder)
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyExampleKeyExampleKeyExampleKe you@laptop"


APP = {**bare_config("production")["web"]["app"], "image": IMAGE}
ZONE = {**bare_config("production")["monitoring"], "zone": {"name": "shop.internal."}}  # the user's own zone


def with_image(values: dict, stack: str = "production") -> dict:
    """``values`` and the shipped stack's ``web`` with the user's own image (and production's monitoring hosts
    with the user's own zone)."""
    web = bare_config(stack)["web"]
    zone = {"monitoring": ZONE} if stack == "production" else {}
    return {**values, **zone, "web": {**web, "app": {**web["app"], "image": IMAGE}}}


def full(bare: dict, namespace: str = "resilient-stack") -> dict:
    return {f"{namespace}:{k}": v for k, v in bare.items()}


def warnings(mocks: RecordingMocks) -> list[str]:
    return [m for level, m in mocks.messages if level == "WARNING"]


# --------------------------------------------------------------------------------------------------
# the rules, on the validated configuration
# --------------------------------------------------------------------------------------------------


def test_the_shipped_production_stack_needs_its_keys_and_a_dns_name_and_names_them_in_order():
    cfg = load_stack_file(stack_file("production"))
    problems = deploy_problems(cfg)
    assert [p.key for p in problems] == [
        f"resilient-stack:{ACCESS_KEY}",
        "resilient-stack:web.serverName",
        "resilient-stack:web.app.image",
        "resilient-stack:monitoring.zone.name",
    ]
    assert problems[3].problem.startswith("'shop.example.com.' is the template's placeholder")
    assert problems[1].problem.startswith(
        "is not set and web.https is on: every web host would serve Debian's self-signed certificate"
    )
    assert "web.selfSigned: true" in problems[1].problem
    assert problems[2].problem.startswith("'registry.example.com/shop/web:1.0.0' is the template's placeholder")
    assert (
        problems[1]
        .warning()
        .endswith("this preview renders Debian's self-signed certificate, and `pulumi up` will refuse")
    )
    (advice,) = advisories(cfg)
    assert advice.startswith("resilient-stack:sshPublicKey is not set: nobody can log in")


def test_staging_needs_only_its_keys_and_a_complete_stack_nothing():
    raw = bare_config("staging")
    assert [p.key for p in deploy_problems(parse_stack_config(raw, "t"))] == [
        f"resilient-stack:{ACCESS_KEY}",
        "resilient-stack:web.app.image",
    ]
    raw.update(KEYS, sshPublicKey=SSH_KEY, adminCidrs=["198.18.7.0/24"])
    raw["web"] = {**raw["web"], "app": {**raw["web"]["app"], "image": IMAGE}}
    cfg = parse_stack_config(raw, "t")
    assert deploy_problems(cfg) == [] and advisories(cfg) == []


def test_ssh_closed_is_an_advisory_once_a_key_is_set():
    raw = {**bare_config("staging"), **KEYS, "sshPublicKey": SSH_KEY}
    (advice,) = advisories(parse_stack_config(raw, "t"), "my-shop")
    assert advice.startswith("my-shop:adminCidrs is empty: SSH is closed on every host")
    assert "pulumi config set --path 'my-shop:adminCidrs[0]'" in advice


# --------------------------------------------------------------------------------------------------
# enforced by the program: `pulumi up` refuses, a preview warns
# --------------------------------------------------------------------------------------------------


def test_up_of_production_with_its_keys_but_no_dns_name_refuses_naming_web_server_name():
    mocks = RecordingMocks()
    with pytest.raises(StackConfigError) as err:
        run_program(stack_file("production"), preview=False, mocks=mocks, config_overrides=full(with_image(KEYS)))
    text = str(err.value)
    assert text.startswith("stack production: resilient-stack:web.serverName: is not set and web.https is on")
    assert "\n" not in text and "more problem" not in text
    assert not [r for r in mocks.resources if r.custom], "refused before anything is registered"


def test_up_with_nothing_set_names_the_first_problem_and_counts_the_others():
    with pytest.raises(StackConfigError) as err:
        run_program(stack_file("production"), preview=False)
    assert str(err.value).startswith(f"stack production: resilient-stack:{ACCESS_KEY}: is not set")
    assert str(err.value).endswith("(and 3 more problems: `pulumi preview` lists them)")


@pytest.mark.parametrize(
    "web",
    [
        {"title": "Shop", "https": True, "serverName": "shop.example.org www.shop.example.org"},
        {"title": "Shop", "https": True, "selfSigned": True},
        {"title": "Shop", "https": False},
    ],
)
def test_up_goes_on_once_the_site_is_named_or_the_warning_accepted(web):
    mocks = RecordingMocks()
    res = run_program(
        stack_file("production"),
        preview=False,
        mocks=mocks,
        config_overrides=full({**KEYS, "web": {**web, "app": APP}, "sshPublicKey": SSH_KEY, "monitoring": ZONE}),
    )
    assert len([r for r in res if r.type == INSTANCE]) == 10  # 5 web hosts, 3 members, 2 monitoring hosts
    assert [w for w in warnings(mocks) if "web.serverName" in w or ACCESS_KEY in w] == []


def test_a_preview_of_the_shipped_production_stack_warns_about_each_problem():
    mocks = RecordingMocks()
    run_program(stack_file("production"), mocks=mocks)
    found = warnings(mocks)
    assert [w.split(" ", 1)[0] for w in found] == [
        f"resilient-stack:{ACCESS_KEY}",
        "resilient-stack:web.serverName",
        "resilient-stack:web.app.image",
        "resilient-stack:monitoring.zone.name",
        "resilient-stack:sshPublicKey",
    ]
    assert all("\n" not in w for w in found)


# --------------------------------------------------------------------------------------------------
# a project made with `pulumi new` under another name: its own namespace, and only one
# --------------------------------------------------------------------------------------------------


def _project_file(tmp_path, config: dict):
    f = tmp_path / "Pulumi.dev2.yaml"
    f.write_text(yaml.safe_dump({"config": config}))
    return f


def test_messages_name_the_keys_of_the_projects_own_namespace(tmp_path):
    f = _project_file(tmp_path, full(bare_config("staging"), "my-shop"))
    with pytest.raises(StackConfigError) as err:
        run_program(f, project="my-shop", preview=False)
    assert str(err.value).startswith(f"stack dev2: my-shop:{ACCESS_KEY}: is not set")
    assert f"pulumi config set --secret my-shop:{ACCESS_KEY}" in str(err.value)
    assert "resilient-stack:" not in str(err.value)


def test_the_reviews_namespace_flip_is_refused_with_the_command_that_fixes_it(tmp_path):
    """The users' review (December 2026): the staging keys under `my-shop:` and ONE `resilient-stack:backupS3AccessKey`
    (the README's command then) made the program read the other namespace: `placements: is required`."""
    f = _project_file(
        tmp_path, {**full(bare_config("staging"), "my-shop"), f"resilient-stack:{ACCESS_KEY}": "OVHS3ACCESSKEY0001"}
    )
    with pytest.raises(StackConfigError) as err:
        run_program(f, project="my-shop")
    text = str(err.value)
    assert text.startswith(
        f"stack dev2: resilient-stack:{ACCESS_KEY}: this stack's configuration is in the my-shop: namespace"
    )
    assert (
        f"`pulumi config rm resilient-stack:{ACCESS_KEY}`, then `pulumi config set --secret {ACCESS_KEY} ...`" in text
    )
    assert "placements: is required" not in text and "\n" not in text


def test_a_bare_key_beside_a_copied_stack_file_is_refused_naming_the_files_namespace(tmp_path):
    f = _project_file(
        tmp_path,
        {**full(bare_config("staging")), "my-shop:sshPublicKey": SSH_KEY, "my-shop:adminCidrs": ["198.18.7.0/24"]},
    )
    with pytest.raises(StackConfigError) as err:
        run_program(f, project="my-shop")
    assert str(err.value).startswith(
        "stack dev2: my-shop:adminCidrs: this stack's configuration is in the resilient-stack: namespace"
    )
    assert str(err.value).endswith(
        "then `pulumi config set resilient-stack:adminCidrs ...` (and 1 more key of my-shop:)"
    )
