"""`resilient-stack release ...` and `resilient-stack app ...` through the CLI's main(), with a fake ssh.

The fake (``--ssh``) records its argv and answers only the exact calls a test expects: any other call exits 99 with
a message, so a wrong command line fails loudly. No network, no real host.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from resilient_stack import cli
from resilient_stack.ops import app

OUTPUTS = {
    "placements": {
        "gra": {"region": "GRA11", "publicAddresses": ["198.51.100.10", "198.51.100.11"], "entryPoints": []},
        "waw": {"region": "WAW1", "publicAddresses": ["203.0.113.7"], "entryPoints": []},
    },
    "databaseAddresses": {"gra": "198.51.100.20", "waw": "203.0.113.8"},
    "databasePrimaryAddress": "198.51.100.20",
}
APP = "sudo /usr/local/sbin/resilient-stack-app"

FAKE_SSH = """#!{python}
import json, os, shlex, sys
here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
with open(os.path.join(here, "calls.jsonl"), "a") as f:
    f.write(json.dumps(args) + "\\n")
with open(os.path.join(here, "plan.json")) as f:
    plan = json.load(f)
def refuse(why):
    print("fake-ssh: " + why + ": " + shlex.join(args), file=sys.stderr)
    sys.exit(99)
if "--" not in args:
    refuse("no -- before the destination")
cut = args.index("--")
if args[:cut] != plan["options"]:
    refuse("options %r, expected %r" % (args[:cut], plan["options"]))
if len(args) != cut + 3:
    refuse("expected one destination and one command line")
answer = plan["answers"].get(args[cut + 1] + " " + args[cut + 2])
if answer is None:
    refuse("unexpected call")
sys.stdout.write("".join(line + "\\n" for line in answer["stdout"]))
sys.stderr.write(answer["stderr"])
sys.exit(answer["code"])
"""


class FakeSsh:
    """An ssh that answers only what it was told to (``expect``), and the calls it received."""

    def __init__(self, where: Path) -> None:
        self.dir = where / "fake-ssh"
        self.dir.mkdir()
        self.path = self.dir / "ssh"
        self.path.write_text(FAKE_SSH.format(python=sys.executable))
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)
        self.plan: dict = {"options": [], "answers": {}}
        self._save()

    def _save(self) -> None:
        (self.dir / "plan.json").write_text(json.dumps(self.plan))

    def options(self, *options: str) -> None:
        self.plan["options"] = list(options)
        self._save()

    def expect(
        self, destination: str, command: str, stdout: tuple[str, ...] = (), code: int = 0, stderr: str = ""
    ) -> None:
        self.plan["answers"][f"{destination} {command}"] = {"stdout": list(stdout), "code": code, "stderr": stderr}
        self._save()

    def unreachable(self, destination: str, command: str) -> None:
        host = destination.split("@")[1]
        self.expect(
            destination, command, code=255, stderr=f"ssh: connect to host {host} port 22: Connection timed out\n"
        )

    def calls(self) -> list[list[str]]:
        log = self.dir / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def ssh(tmp_path) -> FakeSsh:
    return FakeSsh(tmp_path)


@pytest.fixture
def outputs(tmp_path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    return path


@pytest.fixture
def run(capfd, ssh, outputs):
    """main() of the CLI with the fake ssh and the outputs file: (exit code, stdout, stderr)."""

    def go(*argv: str, ssh_command: str | None = None, with_outputs: bool = True) -> tuple[int, str, str]:
        group, action, stack, *rest = argv
        extra = ["--ssh", ssh_command or str(ssh.path), *(["--outputs", str(outputs)] if with_outputs else [])]
        code = cli.main([group, action, stack, *extra, *rest])
        out, err = capfd.readouterr()
        return code, out, err

    return go


def test_release_status_asks_the_first_web_host(run, ssh):
    ssh.expect("debian@198.51.100.10", f"{APP} status", stdout=("release 3 deploy: r/web:2 -- done",))
    code, out, err = run("release", "status", "production")
    assert code == 0, err
    assert out == "release 3 deploy: r/web:2 -- done\n"
    assert "answered by 198.51.100.10 (gra)" in err
    assert ssh.calls() == [["--", "debian@198.51.100.10", f"{APP} status"]]


def test_release_status_json_is_passed_through(run, ssh):
    doc = {"stack_spec": "k", "releases": [{"id": 3, "state": "done"}], "hosts": []}
    ssh.expect("debian@198.51.100.10", f"{APP} status --json", stdout=(json.dumps(doc),))
    code, out, err = run("release", "status", "production", "--json")
    assert code == 0, err
    assert json.loads(out) == doc


def test_rollback_and_retry_pass_their_arguments_and_the_remote_exit_code(run, ssh):
    ssh.expect("debian@198.51.100.10", "true")  # the host is chosen before a release is registered
    ssh.expect(
        "debian@198.51.100.10",
        f"{APP} rollback --to 7",
        stdout=("release 9: rollback to release 7 (r/web:1); it stands until the stack's web.app changes",),
    )
    ssh.expect(
        "debian@198.51.100.10",
        f"{APP} rollback",
        stderr="resilient-stack-app: no earlier release that every host took\n",
        code=1,
    )
    ssh.expect("debian@198.51.100.10", f"{APP} retry", stdout=("release 10: r/web:2 again",))
    code, out, _ = run("release", "rollback", "production", "--to", "7")
    assert code == 0 and "rollback to release 7" in out
    code, out, err = run("release", "rollback", "production")
    assert code == 1 and out == "" and "no earlier release that every host took" in err
    code, out, _ = run("release", "retry", "production")
    assert code == 0 and out == "release 10: r/web:2 again\n"


def test_the_users_ssh_options_and_user_reach_ssh(run, ssh):
    ssh.options("-i", "/keys/ops key", "-J", "bastion")
    ssh.expect("admin@198.51.100.10", f"{APP} status", stdout=("ok",))
    code, out, err = run(
        "release", "status", "production", "--user", "admin", ssh_command=f"{ssh.path} -i '/keys/ops key' -J bastion"
    )
    assert code == 0, err
    assert ssh.calls() == [["-i", "/keys/ops key", "-J", "bastion", "--", "admin@198.51.100.10", f"{APP} status"]]


def test_an_unreachable_host_hands_over_to_the_next(run, ssh):
    ssh.unreachable("debian@198.51.100.10", f"{APP} status")
    ssh.unreachable("debian@198.51.100.11", f"{APP} status")
    ssh.expect("debian@203.0.113.7", f"{APP} status", stdout=("release 3",))
    code, out, err = run("release", "status", "production")
    assert code == 0 and out == "release 3\n"
    assert "198.51.100.10 (gra): ssh failed (exit 255); trying the next web host" in err
    assert "Connection timed out" in err  # ssh's own reason
    assert "answered by 203.0.113.7 (waw)" in err
    assert [c[-2] for c in ssh.calls()] == ["debian@198.51.100.10", "debian@198.51.100.11", "debian@203.0.113.7"]


def test_no_host_reachable_is_one_line_and_exit_2(run, ssh):
    for address in ("198.51.100.10", "198.51.100.11", "203.0.113.7"):
        ssh.unreachable(f"debian@{address}", "true")
    code, out, err = run("release", "retry", "production")
    assert code == 2 and out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        "resilient-stack: error: production: no web host answered over SSH (exit 255 from "
        "198.51.100.10 (gra), 198.51.100.11 (gra), 203.0.113.7 (waw))"
    )
    assert "Traceback" not in err and len(ssh.calls()) == 3


def test_a_rollback_whose_connection_drops_is_not_run_again_on_another_host(run, ssh):
    """ssh's 255 after the host answered may be a connection lost mid-command: the rollback may be registered, so it
    never runs a second time elsewhere (a second rollback would go one release further back)."""
    ssh.unreachable("debian@198.51.100.10", "true")
    ssh.expect("debian@198.51.100.11", "true")
    ssh.unreachable("debian@198.51.100.11", f"{APP} rollback")
    code, out, err = run("release", "rollback", "production")
    assert code == 255 and out == ""
    assert "not run again elsewhere" in err and "release status" in err
    assert [c[-2:] for c in ssh.calls()] == [
        ["debian@198.51.100.10", "true"],
        ["debian@198.51.100.11", "true"],
        ["debian@198.51.100.11", f"{APP} rollback"],
    ]


def test_logs_of_every_host_prefixed(run, ssh):
    for address, placement in (("198.51.100.10", "gra"), ("198.51.100.11", "gra"), ("203.0.113.7", "waw")):
        ssh.expect(
            f"debian@{address}",
            f"{APP} logs --since -1h -n 50 -f",
            stdout=tuple(f"{placement} line {i} of {address}" for i in range(3)),
        )
    code, out, err = run("app", "logs", "production", "--since=-1h", "--lines", "50", "--follow")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 9
    for address, placement in (("198.51.100.10", "gra"), ("198.51.100.11", "gra"), ("203.0.113.7", "waw")):
        label = f"{address} ({placement})".ljust(len("198.51.100.10 (gra)"))
        mine = [line for line in lines if line.startswith(label + " | ")]
        assert mine == [f"{label} | {placement} line {i} of {address}" for i in range(3)]


def test_logs_go_on_without_an_unreachable_host_and_exit_1(run, ssh):
    ssh.unreachable("debian@198.51.100.10", f"{APP} logs")
    ssh.expect("debian@198.51.100.11", f"{APP} logs", stdout=("fine",))
    ssh.expect("debian@203.0.113.7", f"{APP} logs", stdout=("also fine",))
    code, out, err = run("app", "logs", "production")
    assert code == 1
    assert sorted(out.splitlines()) == ["198.51.100.11 (gra) | fine", "203.0.113.7 (waw)   | also fine"]
    assert "198.51.100.10 (gra) | ssh: connect to host 198.51.100.10 port 22: Connection timed out" in err
    assert "resilient-stack: 198.51.100.10 (gra): unreachable (ssh 255)" in err


@pytest.mark.parametrize(
    ("host", "addresses"),
    [
        ("gra", ["198.51.100.10", "198.51.100.11"]),
        ("203.0.113.7", ["203.0.113.7"]),
    ],
)
def test_logs_of_a_placement_or_an_address(run, ssh, host, addresses):
    for address in addresses:
        ssh.expect(f"debian@{address}", f"{APP} logs -n 5", stdout=("x",))
    code, out, err = run("app", "logs", "production", "--host", host, "-n", "5")
    assert code == 0, err
    assert sorted(c[-2] for c in ssh.calls()) == [f"debian@{a}" for a in addresses]
    assert len(out.splitlines()) == len(addresses)


def test_exec_quotes_the_command_and_returns_its_exit_code(run, ssh):
    ssh.expect(
        "debian@198.51.100.11", f"{APP} exec psql -c 'select '\"'\"'a b'\"'\"';' --no-psqlrc", stdout=("a b",), code=3
    )
    code, out, err = run(
        "app", "exec", "production", "--host", "198.51.100.11", "--", "psql", "-c", "select 'a b';", "--no-psqlrc"
    )
    assert code == 3, err
    assert out == "a b\n"
    assert ssh.calls()[0][0] == "--"  # stdin is not a terminal here: no -t


def test_exec_on_a_placement_takes_its_first_host_with_a_terminal(run, ssh, monkeypatch):
    monkeypatch.setattr(app, "interactive", lambda: True)
    ssh.options("-t")
    ssh.expect("debian@198.51.100.10", f"{APP} exec sh")
    code, _, err = run("app", "exec", "production", "--host", "gra", "--", "sh")
    assert code == 0, err
    assert ssh.calls() == [["-t", "--", "debian@198.51.100.10", f"{APP} exec sh"]]


@pytest.mark.parametrize(
    "argv",
    [
        ("app", "exec", "production", "--host", "sbg", "--", "sh"),
        ("app", "logs", "production", "--host", "198.51.100.99"),
    ],
)
def test_an_unknown_host_is_refused_before_any_ssh(run, ssh, outputs, argv):
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    assert err.startswith(f"resilient-stack: error: {outputs}: --host ") and err.count("\n") == 1
    assert "placements: gra, waw" in err
    assert ssh.calls() == []


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{not json", "invalid JSON"),
        ("[]", "expected the JSON object printed by `pulumi stack output --json`"),
        ('{"entryPoints": []}', "missing outputs"),
        (json.dumps(dict(OUTPUTS, placements={"gra": {"publicAddresses": []}})), "no web host"),
    ],
)
def test_invalid_outputs_are_one_line(run, ssh, outputs, document, problem):
    outputs.write_text(document)
    code, out, err = run("release", "status", "production")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"resilient-stack: error: {outputs}: ") and problem in err
    assert ssh.calls() == []


def test_missing_outputs_file(run, ssh, tmp_path):
    code, _, err = run("release", "status", "production", "--outputs", str(tmp_path / "nope.json"), with_outputs=False)
    assert code == 2 and err == f"resilient-stack: error: {tmp_path / 'nope.json'}: no such file\n"


def test_an_ssh_that_cannot_run_is_one_line(run, tmp_path):
    code, _, err = run("release", "status", "production", ssh_command=str(tmp_path / "no-ssh"))
    assert code == 2 and err.startswith("resilient-stack: error: --ssh: cannot run ") and err.count("\n") == 1


def fake_pulumi(where: Path, script: str) -> Path:
    bin_dir = where / "bin"
    bin_dir.mkdir()
    path = bin_dir / "pulumi"
    path.write_text(f"#!{sys.executable}\nimport json, os, sys\n{script}")
    path.chmod(0o755)
    return bin_dir


def test_without_outputs_pulumi_is_asked_in_the_project_directory(run, ssh, tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    bin_dir = fake_pulumi(
        tmp_path,
        f"""
open({str(tmp_path / "pulumi-call.json")!r}, "w").write(json.dumps([sys.argv[1:], os.getcwd()]))
if sys.argv[1:] != ["stack", "output", "--json", "--stack", "production"]:
    sys.exit("fake-pulumi: unexpected call")
print(json.dumps({OUTPUTS!r}))
""",
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    ssh.expect("debian@198.51.100.10", f"{APP} status", stdout=("release 3",))
    code, out, err = run("release", "status", "production", "--cwd", str(project), with_outputs=False)
    assert code == 0, err
    assert out == "release 3\n"
    assert json.loads((tmp_path / "pulumi-call.json").read_text()) == [
        ["stack", "output", "--json", "--stack", "production"],
        os.path.realpath(project),
    ]


def test_pulumi_missing_or_failing_is_one_line(run, ssh, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, _, err = run("app", "logs", "production", with_outputs=False)
    assert code == 2 and err.startswith("resilient-stack: error: stack production: pulumi is not on PATH")
    assert err.count("\n") == 1
    bin_dir = fake_pulumi(tmp_path, "sys.stderr.write(\"error: no stack named 'production' found\\n\"); sys.exit(255)")
    monkeypatch.setenv("PATH", str(bin_dir))
    code, _, err = run("app", "logs", "production", with_outputs=False)
    assert code == 2 and err.count("\n") == 1
    assert "failed (exit 255): error: no stack named 'production' found" in err
    assert ssh.calls() == []


def test_the_installed_command_reads_outputs_from_stdin(cli, ssh):
    """The real process (python -m resilient_stack), the outputs on stdin: the remote output reaches stdout."""
    ssh.expect("debian@198.51.100.10", f"{APP} status --json", stdout=('{"releases": []}',))
    r = cli(
        "release",
        "status",
        "production",
        "--json",
        "--outputs",
        "-",
        "--ssh",
        str(ssh.path),
        stdin=json.dumps(OUTPUTS).encode(),
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"releases": []}
    assert b"answered by 198.51.100.10 (gra)" in r.stderr


def test_the_fake_ssh_refuses_any_call_it_was_not_told_of(run, ssh):
    """The fake is strict (the tests above prove something): an unexpected command line is exit 99, said loudly."""
    ssh.expect("debian@198.51.100.10", f"{APP} status --json", stdout=("{}",))
    code, out, err = run("release", "status", "production")
    assert code == 99 and out == ""
    assert f"fake-ssh: unexpected call: -- debian@198.51.100.10 '{APP} status'" in err
