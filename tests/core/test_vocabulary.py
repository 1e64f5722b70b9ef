"""The shared words: labels as the components write them and the readers read them, and the name patterns."""

import re

import pytest

from resilient_stack.core import vocabulary as v
from resilient_stack.core.resources import ResourceView, role_of


def test_labels_and_tags_carry_every_key():
    assert v.labels("backup", protects="database", quorum=True, exempt="why") == {
        v.ROLE_KEY: "backup",
        v.PROTECTS_KEY: "database",
        v.QUORUM_KEY: "true",
        v.EXEMPT_KEY: "why",
    }
    assert v.labels("web") == {v.ROLE_KEY: "web"}
    assert v.tags("web", exempt="lab") == [f"{v.ROLE_KEY}=web", f"{v.EXEMPT_KEY}=lab"]


@pytest.mark.parametrize("spelling", ["metadata", "header-safe", "tags"])
def test_what_the_components_write_the_reader_reads(spelling):
    """Every spelling the components use for a label is read back by the auditor's placement code."""
    written = v.labels(v.DATABASE, quorum=True)
    props = {
        "metadata": {"metadata": written},
        "header-safe": {"metadata": v.header_safe(written)},
        "tags": {"tags": [f"{k}={val}" for k, val in written.items()]},
    }[spelling]
    typ = "openstack:compute/instance:Instance" if spelling != "tags" else "openstack:database/instance:Instance"
    role, labels = role_of(ResourceView("urn:pulumi:s::p::" + typ + "::x", typ, props))
    assert role == v.DATABASE
    assert labels[v.QUORUM_KEY] == "true"


def test_header_safe_labels_are_http_header_names():
    token = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token
    for key in v.header_safe(v.labels("backup", protects="database", quorum=True, exempt="x")):
        assert token.match(key), key


@pytest.mark.parametrize(
    "pattern, good, bad",
    [
        (v.PLACEMENT_NAME_RE, ["gra", "waw-2", "a1"], ["Gra", "-gra", "gra-", "gra--x", "1gra", ""]),
        (v.SQL_IDENT_RE, ["app", "_x", "shop_2"], ["App", "2x", "a-b", "x" * 64, ""]),
        (
            v.UUID_RE,
            ["6f1d8a52-3c1e-4f57-9a31-9d7a0c1f2b44", "6f1d8a523c1e4f579a319d7a0c1f2b44"],
            ["6f1d8a52", "zz1d8a52-3c1e-4f57-9a31-9d7a0c1f2b44"],
        ),
        (v.BUCKET_RE, ["shop-pgbackrest", "a.b.c"], ["ab", "Shop", "-shop", "shop-", "a" * 64]),
        (v.HOST_LABEL_RE, ["shop-gra-db", "x"], ["-x", "x-", "a.b", "a" * 64]),
        (
            v.SSH_PUBLIC_KEY_RE,
            ["ssh-ed25519 AAAAC3Nz you@laptop", "ssh-rsa AAAA"],
            ["ssh-ed25519", "ssh-dss AAAA", "AAAA x"],
        ),
    ],
)
def test_name_patterns(pattern, good, bad):
    for name in good:
        assert pattern.match(name), name
    for name in bad:
        assert not pattern.match(name), name


def test_host_roles_and_ports_are_distinct():
    assert len(set(v.HOST_ROLES)) == 4
    assert v.POSTGRES_PORT in v.DATABASE_PORTS and v.SSH_PORT not in v.DATABASE_PORTS
