"""Tests of resilient_stack.hosts.fields: the checks of the values the host renderers take."""

from __future__ import annotations

import pytest

from resilient_stack.hosts import fields as check

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host"


@pytest.mark.parametrize(
    "call",
    [
        lambda: check.host("db1.internal\n", "h"),
        lambda: check.sql_ident("app\n", "i"),
        lambda: check.hostname("web-1\n"),
        lambda: check.ssh_keys([KEY + "\n"]),
        lambda: check.calendar("daily\n", "c"),
    ],
)
def test_a_trailing_line_break_is_refused(call):
    """The vocabulary's patterns end with '$', which accepts one trailing '\\n': the checks use fullmatch."""
    with pytest.raises(ValueError):
        call()


def test_accepted_values():
    assert check.host("10.0.0.5", "h") == "10.0.0.5" and check.host("fd00::5", "h") == "fd00::5"
    assert check.host("db-primary.internal.", "h") == "db-primary.internal."
    assert check.sql_ident("shop_db", "i") == "shop_db"
    assert check.hostname(None) is None and check.hostname("shop-gra-db") == "shop-gra-db"
    assert check.ssh_keys((KEY,)) == [KEY]
    assert check.calendar("Mon..Sat *-*-* 02:00:00", "c")
    assert check.password("x" * check.MIN_PASSWORD_LEN, "p")


def test_cidrs_are_canonical_and_deduplicated():
    assert check.cidrs(["10.0.0.0/24", "fd00:0::/64", "10.0.0.0/24"], "n") == ["10.0.0.0/24", "fd00::/64"]
    assert check.cidrs([], "n", allow_empty=True) == []
    with pytest.raises(ValueError, match="n: '::/0' would open PostgreSQL to the whole Internet"):
        check.cidrs(["::/0"], "n")


@pytest.mark.parametrize("value", [True, 1.0, "3", 0, 11])
def test_integer_is_an_int_in_range(value):
    with pytest.raises(ValueError, match=r"n must be an int in 1..10"):
        check.integer(value, "n", 1, 10)


def test_labels():
    assert check.label("ovh/GRA11 <&>", "l") == "ovh/GRA11 <&>"
    for bad, match in (
        ("", "must not be empty"),
        ("  ", "must not be blank"),
        ("a\tb", "must not contain control"),
        ("x" * 201, "must be at most 200"),
        (3, "must be a string, got int"),
    ):
        with pytest.raises(ValueError, match=f"l {match}"):
            check.label(bad, "l")
