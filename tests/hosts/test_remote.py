"""The operator's commands, the pure part: which web hosts, which ssh command line, which labels."""

import copy
import shlex

import pytest

from resilient_stack.hosts.remote import (
    APP,
    WebHost,
    logs_args,
    parse_ssh,
    prefixer,
    release_args,
    remote_command,
    select,
    ssh_argv,
    web_hosts,
)
from resilient_stack.io.errors import InputError

OUTPUTS = {
    "placements": {
        "waw": {"region": "WAW1", "publicAddresses": ["2001:DB8::10"], "entryPoints": []},
        "gra": {"region": "GRA11", "publicAddresses": ["198.51.100.10", "198.51.100.11"], "entryPoints": []},
        "uk": {"region": "UK1", "publicAddresses": [], "entryPoints": []},  # a database-only member
    },
    "databaseAddresses": {"gra": "198.51.100.20", "uk": "203.0.113.8"},
    "databasePrimaryAddress": "198.51.100.20",
}
GRA1, GRA2, WAW = WebHost("198.51.100.10", "gra"), WebHost("198.51.100.11", "gra"), WebHost("2001:db8::10", "waw")


def test_web_hosts_carry_their_placement_in_the_inventory_order():
    assert web_hosts(OUTPUTS, "out.json") == [GRA1, GRA2, WAW]


def test_a_stack_without_a_web_host_is_refused():
    outputs = copy.deepcopy(OUTPUTS)
    for p in outputs["placements"].values():
        p["publicAddresses"] = []
    with pytest.raises(InputError, match=r"^out.json: no web host"):
        web_hosts(outputs, "out.json")


def test_the_inventory_checks_the_outputs():
    with pytest.raises(InputError, match="missing outputs"):
        web_hosts({"placements": OUTPUTS["placements"]}, "out.json")
    with pytest.raises(InputError, match="not an IP address"):
        web_hosts(dict(OUTPUTS, placements={"gra": {"publicAddresses": ["[secret]"]}}), "out.json")


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (None, [GRA1, GRA2, WAW]),
        ("198.51.100.11", [GRA2]),
        (" 2001:DB8:0::10", [WAW]),  # an address as written: compared as an address
        ("gra", [GRA1, GRA2]),
        ("waw", [WAW]),
    ],
)
def test_select_by_address_or_placement(wanted, expected):
    assert select([GRA1, GRA2, WAW], wanted, "out.json") == expected


@pytest.mark.parametrize("wanted", ["198.51.100.99", "sbg", "uk", "GRA"])
def test_an_unknown_host_names_the_hosts_and_placements(wanted):
    with pytest.raises(InputError) as err:
        select([GRA1, GRA2, WAW], wanted, "out.json")
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"out.json: --host {wanted.strip()}")
    assert "198.51.100.10 (gra), 198.51.100.11 (gra), 2001:db8::10 (waw)" in line and "placements: gra, waw" in line


def test_the_remote_command_is_one_quoted_line_that_survives_the_remote_shell():
    args = ["psql", "-c", "select 'a b'; -- $HOME `id`", ""]
    line = remote_command("exec", args)
    assert line == (
        "sudo /usr/local/sbin/resilient-stack-app exec psql -c 'select '\"'\"'a b'\"'\"'; -- $HOME `id`' ''"
    )
    assert shlex.split(line) == ["sudo", APP, "exec", *args]


def test_ssh_argv_keeps_the_users_options_and_ends_them_before_the_destination():
    ssh = ["ssh", "-i", "key", "-J", "bastion"]
    assert ssh_argv(ssh, "debian", GRA1, "sudo x") == [*ssh, "--", "debian@198.51.100.10", "sudo x"]
    assert ssh_argv(ssh, "admin", WAW, "sudo x", tty=True) == [*ssh, "-t", "--", "admin@2001:db8::10", "sudo x"]


def test_parse_ssh():
    assert parse_ssh("ssh -o BatchMode=yes -i '/keys/my key'") == ["ssh", "-o", "BatchMode=yes", "-i", "/keys/my key"]
    for bad, why in (("", "empty"), ("   ", "empty"), ("ssh -i 'key", "cannot split")):
        with pytest.raises(InputError, match=f"^--ssh: {why}"):
            parse_ssh(bad)


def test_release_and_logs_arguments():
    assert release_args("status") == [] and release_args("status", as_json=True) == ["--json"]
    assert release_args("rollback") == [] and release_args("rollback", to=7) == ["--to", "7"]
    assert release_args("retry", as_json=True, to=7) == []
    assert logs_args() == []
    assert logs_args("-1h", 0, True) == ["--since", "-1h", "-n", "0", "-f"]


def test_prefixes_line_up():
    prefix = prefixer([GRA1, WAW])
    assert prefix(GRA1, "a") == "198.51.100.10 (gra) | a"
    assert prefix(WAW, "b") == "2001:db8::10 (waw)  | b"
