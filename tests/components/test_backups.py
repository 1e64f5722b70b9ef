"""The backup repository's credential, passphrase and deletion protection, under mocks.

The keys are the dedicated object-store user's Pulumi secrets (``backupS3AccessKey`` / ``backupS3SecretKey``):
a preview without them renders placeholders and warns, a ``pulumi up`` without them refuses, and nothing ever
creates a credential of the deploying user. pgBackRest encrypts the repository with a generated passphrase, the
same on every member (any may become the primary, and a restore on new hosts needs it). The keys, the passphrase and
the repository's path reach the members in their sealed secret documents, never in clear in ``pgbackrest.conf``."""

from __future__ import annotations

import json

import pytest
import yaml

from resilient_stack.components.backup_config import ACCESS_KEY, PREVIEW_KEYS, SECRET_KEY
from resilient_stack.components.stack_config import StackConfigError, load_stack_file
from resilient_stack.hosts import cloudinit
from resilient_stack.testing.mockrun import RecordingMocks, run_program, to_stack_export

from .conftest import PASSING, sealed_document, stack_file, user_data, user_data_file

INSTANCE = "openstack:compute/instance:Instance"
CONTAINER = "openstack:objectstorage/container:Container"
KEYS = {
    f"resilient-stack:{ACCESS_KEY}": "OVHS3ACCESSKEY0001",
    f"resilient-stack:{SECRET_KEY}": "s3cr3t-of-the-backup-user",
}
# what else `pulumi up` of the shipped production stack needs: its site's DNS name, for its HTTPS, and its zone
NAMED = {
    "resilient-stack:web": {"title": "Shop", "https": True, "serverName": "shop.example.org www.shop.example.org"},
    "resilient-stack:monitoring": {"placements": ["waw", "ik"], "zone": {"name": "shop.internal."}},
}


def _conf(host) -> dict[str, str]:
    """``pgbackrest.conf``'s [global] settings of a host's user data (no secret: those are in its sealed document)."""
    text = user_data_file(host, cloudinit.PGBACKREST_CONF)
    body = text.split("[global]", 1)[1].split("\n[", 1)[0]
    settings = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
    assert not {"repo1-s3-key", "repo1-s3-key-secret", "repo1-cipher-pass", "repo1-path"} & set(settings), host.name
    return settings


def _backup(res, host) -> tuple[str, str]:
    """The repository's keys in a member's sealed secret document."""
    backup = sealed_document(res, host)["backup"]
    return backup["key_id"], backup["key_secret"]


def test_up_without_the_dedicated_keys_refuses_and_names_the_key():
    mocks = RecordingMocks()
    with pytest.raises(StackConfigError) as err:
        run_program(stack_file("production"), preview=False, mocks=mocks)
    text = str(err.value)
    assert f"resilient-stack:{ACCESS_KEY}: is not set" in text and "never falls back" in text
    assert "pulumi config set --secret" in text and "\n" not in text
    assert not [r for r in mocks.resources if r.type == INSTANCE], "nothing is created"


@pytest.mark.parametrize("stack", PASSING)
def test_a_preview_without_keys_renders_placeholders_and_warns(stack):
    mocks = RecordingMocks()
    res = run_program(stack_file(stack), mocks=mocks)
    (warning,) = [m for level, m in mocks.messages if level == "WARNING" and ACCESS_KEY in m]
    assert warning.startswith(f"resilient-stack:{ACCESS_KEY} is not set") and "`pulumi up` will refuse" in warning
    assert "placeholder backup keys" in warning and "\n" not in warning
    hosts = [r for r in res if r.type == INSTANCE and r.inputs["name"].endswith("-db")]
    assert hosts
    for host in hosts:
        assert _conf(host)["repo1-cipher-type"] == "aes-256-cbc"
        assert _backup(res, host) == PREVIEW_KEYS


def test_up_with_the_keys_gives_them_to_every_member_with_one_passphrase_and_no_other_credential():
    res = run_program(stack_file("production"), preview=False, config_overrides={**KEYS, **NAMED})
    hosts = [r for r in res if r.type == INSTANCE and r.inputs["name"].endswith("-db")]
    assert len(hosts) == 3
    assert {_conf(h)["repo1-cipher-type"] for h in hosts} == {"aes-256-cbc"}
    backups = [sealed_document(res, h)["backup"] for h in hosts]
    assert {b["key_id"] for b in backups} == {"OVHS3ACCESSKEY0001"}
    assert {b["key_secret"] for b in backups} == {"s3cr3t-of-the-backup-user"}
    assert {b["path"] for b in backups} == {"/pgbackrest"}
    (passphrase,) = {b["cipher_pass"] for b in backups}
    assert len(passphrase) == 64 and passphrase.isalnum()
    for h in hosts:  # never in clear in the user data
        text = user_data(h)
        assert not any(v in text for v in ("OVHS3ACCESSKEY0001", "s3cr3t-of-the-backup-user", passphrase)), h.name
    assert not [r for r in res if r.type.startswith("openstack:identity/")]
    export = json.dumps(to_stack_export(res))
    for secret in ("s3cr3t-of-the-backup-user", "OVHS3ACCESSKEY0001", passphrase):
        assert secret not in export


@pytest.mark.parametrize("stack", PASSING)
def test_the_container_keeps_older_versions_by_default(stack):
    res = run_program(stack_file(stack))
    (container,) = [r for r in res if r.type == CONTAINER and r.inputs["name"].endswith("-pgbackrest")]
    assert container.inputs["versioning"] is True
    cfg = load_stack_file(stack_file(stack))
    off = {"resilient-stack:backups": {**cfg.backups.model_dump(by_alias=True, exclude_none=True), "versioning": False}}
    res = run_program(stack_file(stack), config_overrides=off)
    (container,) = [r for r in res if r.type == CONTAINER and r.inputs["name"].endswith("-pgbackrest")]
    assert container.inputs["versioning"] is False


def test_one_key_without_the_other_is_refused():
    with pytest.raises(StackConfigError, match=rf"resilient-stack:{SECRET_KEY}: is required with {ACCESS_KEY}"):
        run_program(stack_file("production"), config_overrides={f"resilient-stack:{ACCESS_KEY}": "AK"})


def test_a_secret_key_in_clear_in_a_stack_file_is_refused(tmp_path):
    text = stack_file("production").read_text() + f"  resilient-stack:{SECRET_KEY}: in-clear\n"
    f = tmp_path / "Pulumi.production.yaml"
    f.write_text(text)
    with pytest.raises(StackConfigError, match=rf"{SECRET_KEY}: is in clear in the stack file"):
        load_stack_file(f)


def test_encrypted_keys_in_a_stack_file_are_skipped_by_the_readers_that_cannot_decrypt_them(tmp_path):
    """An operator's stack file holds the keys encrypted (`pulumi config set --secret`): the stack-file reader and
    the mock runner (the fire drill's) go on without them: the mock runner previews with the placeholders."""
    text = stack_file("production").read_text() + "".join(
        f"  resilient-stack:{k}:\n    secure: v1:AAAABBBBCCCC\n" for k in (ACCESS_KEY, SECRET_KEY)
    )
    f = tmp_path / "Pulumi.production.yaml"
    f.write_text(text)
    assert load_stack_file(f).backup_s3_access_key is None
    res = run_program(f)
    host = next(r for r in res if r.type == INSTANCE and r.inputs["name"].endswith("-db"))
    assert _backup(res, host) == PREVIEW_KEYS


def test_keys_with_spaces_or_line_breaks_are_refused():
    with pytest.raises(StackConfigError, match=rf"resilient-stack:{SECRET_KEY}: must be one word"):
        run_program(
            stack_file("production"), config_overrides={**KEYS, f"resilient-stack:{SECRET_KEY}": "a\nrepo1-path=/x"}
        )


def test_bootstrap_from_backup_reaches_every_member_and_defaults_to_initdb():
    res = run_program(stack_file("production"))
    hosts = [r for r in res if r.type == INSTANCE and r.inputs["name"].endswith("-db")]
    assert hosts and all(cloudinit.RESTORE_SCRIPT not in user_data(h) for h in hosts)
    cfg = load_stack_file(stack_file("production"))
    database = {**cfg.database.model_dump(by_alias=True, exclude_none=True), "bootstrapFrom": "backup"}
    res = run_program(stack_file("production"), config_overrides={"resilient-stack:database": database})
    hosts = [r for r in res if r.type == INSTANCE and r.inputs["name"].endswith("-db")]
    assert len(hosts) == 3
    for host in hosts:
        conf = user_data_file(host, cloudinit.PATRONI_CONF)
        assert yaml.safe_load(conf)["bootstrap"]["method"] == "pgbackrest"
