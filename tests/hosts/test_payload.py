"""Tests of resilient_stack.hosts.payload: the strict template, the payload files shipped as package data, and every
shell script the hosts receive -- as rendered for the shipped stacks and for the samples -- through ``bash -n`` and
``shellcheck`` (Debian package ``shellcheck``, installed by ``make tools``; required in CI).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from resilient_stack.hosts import payload
from resilient_stack.hosts.payload import Lines, PayloadError, PayloadTemplate
from tests.conftest import ROOT, need_tool
from tests.hosts.samples import BACKUP, DOCS, load, member

# --------------------------------------------------------------------------------------------------
# the template
# --------------------------------------------------------------------------------------------------


def fill(text: str, **values) -> str:
    return PayloadTemplate(text, "t").fill(values)


def test_placeholders_do_not_collide_with_the_payload_languages():
    text = (
        'echo "$HOME ${USER:-x} $(id)" {{a}}\nreturn 301 https://$host$request_uri;\n'
        "ExecStart=/usr/bin/x %i\nUnit=x@{{b}}.service\nALTER ROLE r PASSWORD :'pw'; \\gexec\n"
    )
    assert PayloadTemplate(text).get_identifiers() == ["a", "b"]
    out = fill(text, a="A", b=7)
    assert out == text.replace("{{a}}", "A").replace("{{b}}", "7")


@pytest.mark.parametrize(
    "values, match",
    [
        ({"a": "1"}, "no value for placeholder\\(s\\) b"),
        ({"a": "1", "b": "2", "c": "3"}, "value\\(s\\) c fill no placeholder"),
        ({"a": "1\n", "b": "2"}, "a must be one line"),
        ({"a": True, "b": "2"}, "a is a bool"),
        ({"a": None, "b": "2"}, "a is a NoneType"),
        ({"a": Lines(["x"]), "b": "2"}, "the block {{a}} must stand alone on its line"),
        ({"a": "1", "b": Lines(["x\ny"])}, "block b holds"),
    ],
)
def test_unknown_unused_and_malformed_values_are_errors(values, match):
    with pytest.raises(PayloadError, match=match):
        fill("x={{a}}\n{{b}}\n", **values)


@pytest.mark.parametrize("text", ["{{Name}}", "{{ name }}", "a {{", "{{name}", "{{1x}}", "${{x}}y{{"])
def test_a_stray_double_brace_is_an_error(text):
    with pytest.raises(PayloadError, match="starts no placeholder"):
        PayloadTemplate(text, "t.conf")


def test_blocks_replace_their_whole_line():
    text = "head\n{{rules}}\ntail {{x}}\n"
    assert fill(text, rules=Lines(["r1", "r2"]), x="X") == "head\nr1\nr2\ntail X\n"
    assert fill(text, rules=Lines(), x="X") == "head\ntail X\n"
    assert fill("{{one}}\n", one="v") == "v\n"  # an inline value alone on its line keeps its line
    assert fill("end\n{{rules}}", rules=Lines(["r"])) == "end\nr\n"


def test_values_are_never_read_for_placeholders():
    assert fill("{{a}} {{b}}\n", a="{{b}}", b="$x %i") == "{{b}} $x %i\n"
    assert fill("{{a}}\n", a=Lines(["{{a}}", "{{"])) == "{{a}}\n{{\n"


def test_load_refuses_names_outside_the_payloads():
    for name in ("../paths.py", "shell/../../paths.py", "/etc/passwd", "shell"):
        with pytest.raises(PayloadError, match="not a payload name"):
            payload.load(name)
    with pytest.raises(PayloadError, match="no payload 'shell/nothing.sh'"):
        payload.load("shell/nothing.sh")


# --------------------------------------------------------------------------------------------------
# the payload files
# --------------------------------------------------------------------------------------------------

FOLDER = ROOT / "resilient_stack" / "hosts" / "payloads"


def test_payloads_are_unix_text_and_parse():
    names = payload.names()
    assert names == sorted(str(p.relative_to(FOLDER)) for p in FOLDER.rglob("*") if p.is_file())
    for name in names:
        data = (FOLDER / name).read_bytes()
        assert b"\r" not in data and data.endswith(b"\n"), name
        data.decode("utf-8")
        payload.load(name)  # parses: no stray '{{'


def test_package_data_ships_every_payload():
    """pyproject.toml's package-data globs cover every payload file (an installed package renders too)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["resilient_stack.hosts"]
    for name in payload.names():
        assert any(fnmatch.fnmatch(f"payloads/{name}", g) for g in globs), f"{name} is not package data"


def test_every_payload_is_used(monkeypatch):
    """No dead payload: the samples' renderings load every file under payloads/."""
    used: set[str] = set()
    real = payload.load

    def spy(name):
        used.add(name)
        return real(name)

    monkeypatch.setattr(payload, "load", spy)
    for build in DOCS.values():
        build()
    member(backup=dataclasses.replace(BACKUP, endpoint="minio.internal:9000"))
    assert used == set(payload.names())


# --------------------------------------------------------------------------------------------------
# the shell scripts, as the hosts receive them
# --------------------------------------------------------------------------------------------------

# shellcheck runs with every default check at every severity (style included) and no exclusion: none is
# needed today. Should one be, exclude it HERE with its code and the reason (never by editing the scripts):
#   EXCLUDE = {"SC2016": "why this finding is a false positive in these scripts"}
EXCLUDE: dict[str, str] = {}


def shellify(cmdlist: list) -> str:
    """The /bin/sh script cloud-init makes of ``runcmd`` (cloudinit.util.shellify, cloud-init 22.4)."""
    content = "#!/bin/sh\n"
    for args in cmdlist:
        if isinstance(args, (list, tuple)):
            content += " ".join("'%s'" % str(a).replace("'", "'\\''") for a in args) + "\n"
        elif isinstance(args, str):
            content += args + "\n"
    return content


def scripts_of(text: str) -> dict[str, str]:
    """Every shell script of one user data: the ``#!`` files, runcmd as cloud-init runs it, and ``sh -c`` strings."""
    doc = load(text)
    out = {f["path"]: f["content"] for f in doc.get("write_files", []) if f["content"].startswith("#!/bin/")}
    runcmd = doc.get("runcmd", [])
    out["runcmd"] = shellify(runcmd)
    for i, cmd in enumerate(runcmd):
        if isinstance(cmd, list) and len(cmd) == 3 and cmd[0] in ("sh", "bash") and cmd[1] == "-c":
            out[f"runcmd[{i}]"] = f"#!/bin/{cmd[0]}\n{cmd[2]}\n"
    for i, cmd in enumerate(doc.get("bootcmd", [])):
        if isinstance(cmd, list) and len(cmd) == 3 and cmd[0] in ("sh", "bash") and cmd[1] == "-c":
            out[f"bootcmd[{i}]"] = f"#!/bin/{cmd[0]}\n{cmd[2]}\n"
    return out


@pytest.fixture(scope="module")
def all_scripts(shipped_user_data, tmp_path_factory) -> dict[str, Path]:
    """``{label: file}``: every script of every shipped host and every sample, written once (deduplicated)."""
    texts = {f"{stack}/{host}": text for stack, hosts in shipped_user_data.items() for host, text in hosts.items()}
    texts.update({f"sample/{kind}": build() for kind, build in DOCS.items()})
    folder = tmp_path_factory.mktemp("scripts")
    seen: dict[str, Path] = {}
    out: dict[str, Path] = {}
    for label, text in sorted(texts.items()):
        for path, script in scripts_of(text).items():
            if script not in seen:
                p = folder / f"{len(seen):03d}-{Path(path).name.replace('[', '_').replace(']', '')}"
                p.write_text(script, encoding="utf-8")
                seen[script] = p
            out[f"{label}:{path}"] = seen[script]
    return out


def test_the_shipped_hosts_have_the_scripts_we_lint(all_scripts):
    names = {label.split(":", 1)[1] for label in all_scripts}
    assert {
        "/usr/local/sbin/resilient-stack-db-init",
        "/usr/local/sbin/resilient-stack-db-start",
        "/usr/local/sbin/resilient-stack-cluster",
        "/usr/local/sbin/resilient-stack-backup",
        "/usr/local/sbin/resilient-stack-backup-init",
        "runcmd",
        "runcmd[1]",
    } <= names
    assert any(label.startswith("production/") for label in all_scripts)


def test_shell_scripts_parse(all_scripts):
    for label, p in all_scripts.items():
        shell = "bash" if p.read_text().startswith("#!/bin/bash") else "sh"
        proc = subprocess.run([shell, "-n", str(p)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{label}: {proc.stderr}"


def test_write_files_scripts_are_executable_bash(shipped_user_data):
    texts = [text for hosts in shipped_user_data.values() for text in hosts.values()] + [b() for b in DOCS.values()]
    for text in texts:
        for f in load(text)["write_files"]:
            if f["content"].startswith("#!"):
                # the shell scripts are bash; the other programs python3 (the application, the sync); the
                # firewall's ruleset is nft's (a file nftables.service loads, not run)
                if f["path"] == "/etc/nftables.conf":
                    assert f["content"].startswith("#!/usr/sbin/nft -f\n") and f["permissions"] == "0644"
                    continue
                assert f["content"].startswith(("#!/bin/bash\n", "#!/usr/bin/python3\n")), f["path"]
                assert f["permissions"] == "0755", f["path"]


def test_shellcheck_finds_nothing(all_scripts):
    shellcheck = shutil.which("shellcheck")
    need_tool(shellcheck is not None, "shellcheck missing: apt-get install shellcheck (make tools installs it)")
    files = sorted({str(p) for p in all_scripts.values()})
    cmd = [shellcheck, "--norc", "--severity=style", "--format=gcc"]
    if EXCLUDE:
        cmd.append("--exclude=" + ",".join(sorted(EXCLUDE)))
    proc = subprocess.run([*cmd, *files], capture_output=True, text=True, timeout=300)
    where = {str(p): label for label, p in sorted(all_scripts.items(), reverse=True)}
    report = "\n".join(f"{where.get(line.split(':', 1)[0], '?')}: {line}" for line in proc.stdout.splitlines())
    assert proc.returncode == 0 and not proc.stdout, report or proc.stderr


def test_shellcheck_is_not_vacuous(tmp_path):
    """The same invocation flags a classic bug (an unquoted variable in rm)."""
    shellcheck = shutil.which("shellcheck")
    need_tool(shellcheck is not None, "shellcheck missing: apt-get install shellcheck (make tools installs it)")
    bad = tmp_path / "bad"
    bad.write_text("#!/bin/bash\nset -euo pipefail\nDATA=$1\nrm -rf $DATA/tmp\n")
    proc = subprocess.run(
        [shellcheck, "--norc", "--severity=style", "--format=gcc", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and "SC2086" in proc.stdout
