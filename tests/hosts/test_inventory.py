"""`resilient-stack inventory`: testinfra targets from `pulumi stack output --json`."""

import json

from resilient_stack.testing.mockrun import run_program
from tests.conftest import ROOT

OUTPUTS = {
    "placements": {
        "gra": {"region": "GRA11", "publicAddresses": ["198.51.100.10", "198.51.100.11"], "entryPoints": []},
        "ik": {"region": "dc4-a", "publicAddresses": ["203.0.113.7"], "entryPoints": []},
    },
    "databaseAddresses": {"gra": "198.51.100.20", "ik": "203.0.113.8"},
    "databasePrimaryAddress": "198.51.100.20",
    "entryPoints": [],
}


def test_roles_and_targets(cli):
    r = cli("inventory", "-", stdin=json.dumps(OUTPUTS).encode())
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(": ", 1) for line in r.stdout.decode().splitlines())
    assert lines["web"] == "ssh://debian@198.51.100.10,ssh://debian@198.51.100.11,ssh://debian@203.0.113.7"
    assert lines["db-primary"] == "ssh://debian@198.51.100.20"
    assert lines["db-replica"] == "ssh://debian@203.0.113.8"


def test_monitoring_hosts_have_their_role(cli):
    outputs = dict(OUTPUTS, monitoringAddresses={"waw": "198.51.100.30", "ik": "203.0.113.9"})
    r = cli("inventory", "-", "--format", "shell", stdin=json.dumps(outputs).encode())
    assert r.returncode == 0, r.stderr
    assert (
        "python -m resilient_stack.hosts.checks --hosts=ssh://debian@203.0.113.9,ssh://debian@198.51.100.30 "
        "--role monitoring" in r.stdout.decode()
    )
    r = cli("inventory", "-", stdin=json.dumps(OUTPUTS).encode())
    assert "monitoring: (none)" in r.stdout.decode()  # a stack without monitoring hosts
    bad = dict(OUTPUTS, monitoringAddresses={"waw": "[secret]"})
    r = cli("inventory", "-", stdin=json.dumps(bad).encode())
    assert r.returncode == 2 and b"monitoringAddresses.waw is not an IP address" in r.stderr


def test_shell_format_gives_the_pytest_commands(cli):
    r = cli("inventory", "-", "--format", "shell", "--user", "admin", stdin=json.dumps(OUTPUTS).encode())
    out = r.stdout.decode()
    assert (
        "python -m resilient_stack.hosts.checks --hosts=ssh://admin@198.51.100.20 --role db-primary --expect-replicas 1 --expect-backup"
        in out
    )
    assert "--role web" in out and "--role db-replica" in out


def test_missing_or_secret_outputs_are_clear_errors(cli, tmp_path):
    f = tmp_path / "out.json"
    f.write_text(json.dumps({"entryPoints": []}))
    r = cli("inventory", str(f))
    assert r.returncode == 2 and b"missing outputs" in r.stderr and str(f).encode() in r.stderr
    bad = dict(OUTPUTS, databasePrimaryAddress="[secret]")
    f.write_text(json.dumps(bad))
    r = cli("inventory", str(f))
    assert r.returncode == 2 and b"not an IP address" in r.stderr


def test_inventory_reads_the_outputs_the_program_exports(cli, tmp_path):
    """The keys read here are the ones the real program exports (under mocks)."""
    recorded = run_program(ROOT / "stacks" / "Pulumi.production.yaml")
    stack = next(r for r in recorded if r.type == "pulumi:pulumi:Stack")
    outputs = getattr(stack, "outputs", None) or {}
    assert {"placements", "databaseAddresses", "databasePrimaryAddress"} <= set(outputs), outputs.keys()
    f = tmp_path / "out.json"
    f.write_text(json.dumps(outputs, default=str))
    r = cli("inventory", str(f), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["db-primary"]) == 1 and len(doc["db-replica"]) == 2 and len(doc["web"]) == 5
