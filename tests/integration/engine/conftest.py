"""The real Pulumi engine (scripts/install-pulumi-engine.sh), offline, on throwaway local backends.

The environment of scripts/engine-env.sh, a local file backend per test module, ``need_tool`` so that a
missing engine FAILS under RESILIENT_STACK_REQUIRE_TOOLS=1.
On top of it, everything a run must not borrow from the machine it runs on is replaced:

- ``OS_*`` variables are dropped and ``OS_CLIENT_CONFIG_FILE`` names a dummy clouds.yaml (``ovh``,
  ``ovh-backups``, ``ovh-us``, ``infomaniak`` entries) in a temp dir: the OpenStack provider reads clouds.yaml even for a
  preview; ``~/.config/openstack`` is never read or written;
- ``PULUMI_CONFIG_PASSPHRASE`` is fixed (``PULUMI_CONFIG_PASSPHRASE_FILE`` dropped), and
  ``PULUMI_ENABLE_STREAMING_JSON_PREVIEW`` is only set by the tests that want it;
- stacks are created with ``--no-select`` and every command names its ``--stack``; PULUMI_HOME is a temp dir
  whose ``plugins`` is the engine's (so per-command logs do not pile up in the engine cache).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_tool

POLICIES = str(ROOT / "policies")
PASSPHRASE = "resilient-stack-engine-tests"

DUMMY_CLOUDS = """\
# Dummy credentials for offline previews: nothing is ever contacted with them.
clouds:
  ovh:
    auth: {auth_url: "https://auth.cloud.ovh.net/v3", username: user-offline, password: offline,
           project_id: 00000000000000000000000000000000, user_domain_name: Default, project_domain_name: Default}
    identity_api_version: 3
  ovh-backups:
    auth: {auth_url: "https://auth.cloud.ovh.net/v3", username: user-offline-backups, password: offline,
           project_id: 11111111111111111111111111111111, user_domain_name: Default, project_domain_name: Default}
    identity_api_version: 3
  ovh-us:
    auth: {auth_url: "https://auth.cloud.ovh.us/v3", username: user-offline, password: offline,
           project_id: 00000000000000000000000000000000, user_domain_name: Default, project_domain_name: Default}
    identity_api_version: 3
  infomaniak:
    auth: {auth_url: "https://api.pub2.infomaniak.cloud/identity/v3", username: PCU-OFFLINE, password: offline,
           project_id: 00000000000000000000000000000000, user_domain_name: Default, project_domain_name: Default}
    identity_api_version: 3
"""


@pytest.fixture(scope="session")
def engine_env(tmp_path_factory) -> dict[str, str]:
    """The environment of scripts/engine-env.sh, minus anything borrowed from the machine (see above)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OS_")
        and k not in ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_BACKEND_URL", "PULUMI_ENABLE_STREAMING_JSON_PREVIEW")
    }
    base["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    base["PULUMI_BACKEND_URL"] = "file://" + str(tmp_path_factory.mktemp("unused-backend"))  # per module below
    r = subprocess.run(
        ["bash", "-c", "source scripts/engine-env.sh >/dev/null 2>&1; command -v pulumi >&2; env -0"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        timeout=60,
    )
    found = r.stderr.decode().strip().splitlines()
    need_tool(r.returncode == 0 and bool(found), "the Pulumi engine (bash scripts/install-pulumi-engine.sh)")
    env = dict(item.split("=", 1) for item in r.stdout.decode().split("\0") if "=" in item)
    home = env.get("PULUMI_HOME")
    if home and Path(home, "plugins").is_dir():
        # pulumi writes a log per command (and workspace files) under PULUMI_HOME: keep them out of the
        # engine cache, which CI machines keep between runs; the plugins are used in place
        temp_home = tmp_path_factory.mktemp("pulumi-home")
        (temp_home / "plugins").symlink_to(Path(home, "plugins"))
        env["PULUMI_HOME"] = str(temp_home)
    clouds = tmp_path_factory.mktemp("openstack") / "clouds.yaml"
    clouds.write_text(DUMMY_CLOUDS)
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    version = subprocess.run(["pulumi", "version"], env=env, capture_output=True, text=True, timeout=60)
    need_tool(version.returncode == 0, f"a working pulumi CLI ({version.stderr.strip()[:200]})")
    return env


@dataclass
class Pulumi:
    """`pulumi` on one throwaway local backend."""

    env: dict[str, str]
    state: Path

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**self.env, "PULUMI_BACKEND_URL": f"file://{self.state}", **(extra or {})}

    def __call__(
        self, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: int = 300
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["pulumi", *args], cwd=cwd, env=self.environ(env), capture_output=True, text=True, timeout=timeout
        )

    def ok(self, *args: str, **kw) -> subprocess.CompletedProcess:
        r = self(*args, **kw)
        assert r.returncode == 0, (args, r.stdout[-3000:], r.stderr[-3000:])
        return r

    def shell(self, script: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
        """A bash script (pipes) with the same environment, ``set -o pipefail`` off: each side is checked."""
        return subprocess.run(
            ["bash", "-c", script], cwd=cwd, env=self.environ(), capture_output=True, text=True, timeout=timeout
        )

    def init(self, stack: str, cwd: Path, config: dict[str, str] | None = None) -> None:
        self.ok("stack", "init", stack, "--no-select", cwd=cwd)
        for key, value in (config or {}).items():
            self.ok("config", "set", "--stack", stack, key, value, cwd=cwd)


@pytest.fixture(scope="module")
def pulumi(engine_env, tmp_path_factory) -> Pulumi:
    """One fresh local backend per test module (stack names never clash across modules)."""
    return Pulumi(engine_env, tmp_path_factory.mktemp("pulumi-state"))


def project_copy(dest: Path, main: str | None = None) -> Path:
    """The repository's Pulumi project (Pulumi.yaml, __main__.py, stacks/) copied to ``dest``.

    ``.venv`` is a symlink to the repository's (the project's ``virtualenv: .venv``); the stack files are
    copies, so `pulumi stack init` writes its encryption salt there, never in the repository.
    ``main``: another ``__main__.py`` (the shipped one is kept byte for byte otherwise).
    """
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "Pulumi.yaml", dest / "Pulumi.yaml")
    if main is None:
        shutil.copy2(ROOT / "__main__.py", dest / "__main__.py")
    else:
        (dest / "__main__.py").write_text(main)
    shutil.copytree(ROOT / "stacks", dest / "stacks", ignore=shutil.ignore_patterns("*.md"))
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def plain_project(dest: Path, name: str, program: str) -> Path:
    """A project of its own (not built with resilient-stack's components)."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "Pulumi.yaml").write_text(
        textwrap.dedent(f"""\
        name: {name}
        runtime:
          name: python
          options:
            virtualenv: {ROOT / ".venv"}
        """)
    )
    (dest / "__main__.py").write_text(textwrap.dedent(program))
    return dest


# ---- reading what the engine prints -------------------------------------------------------------------


def stream_events(stdout: str) -> list[dict]:
    """The JSON lines of `PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true pulumi preview --json` / `policy analyze --json`."""
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def policy_events(events: list[dict]) -> list[dict]:
    return [e["policyEvent"] for e in events if "policyEvent" in e]


EXEMPTED_POLICY = "exempted-findings"  # the pack's helper: waived findings, advisory, "[rule]" in the message


def by_level(pevents: list[dict]) -> dict[str, set[str]]:
    """{level: {policy names}} of policy events (the waived findings of the helper policy: see :func:`waived`)."""
    out: dict[str, set[str]] = {}
    for e in pevents:
        if e["policyName"] != EXEMPTED_POLICY:
            out.setdefault(e["enforcementLevel"], set()).add(e["policyName"])
    return out


def waived(pevents: list[dict]) -> set[str]:
    """The rule ids of the findings the pack reports as exempted (advisory, by its helper policy)."""
    out = set()
    for e in pevents:
        if e["policyName"] == EXEMPTED_POLICY:
            assert e["enforcementLevel"] == "advisory", e
            m = re.search(r"^exempted \(.*?\): \[([a-z-]+)\] ", e["message"], re.M)
            assert m, e["message"]
            out.add(m.group(1))
    return out


def summary(events: list[dict]) -> dict:
    found = [e["summaryEvent"] for e in events if "summaryEvent" in e]
    assert len(found) == 1, events[-3:]
    return found[0]


def errors(events: list[dict]) -> list[str]:
    return [
        e["diagnosticEvent"]["message"]
        for e in events
        if "diagnosticEvent" in e and e["diagnosticEvent"].get("severity") == "error"
    ]


def downgraded(pevents: list[dict]) -> list[dict]:
    """Events of a policy the SDK could not run and reported as advisory (the silent-downgrade trap)."""
    return [e for e in pevents if "can't run policy" in e["message"]]


# ---- the auditor ------------------------------------------------------------------------------------


@dataclass
class Audit:
    exit: int
    report: dict | None  # the --format json report (None when the input was refused: exit 2)
    stderr: str

    @property
    def blocking(self) -> set[str]:
        """Mandatory rule ids that are not waived by an exemption (what makes the verdict fail)."""
        assert self.report is not None, self.stderr
        return {f["rule"] for f in self.report["findings"] if f["level"] == "mandatory" and not f.get("exempted")}

    @property
    def levels(self) -> dict[str, set[str]]:
        assert self.report is not None, self.stderr
        out: dict[str, set[str]] = {}
        for f in self.report["findings"]:
            if not f.get("exempted"):
                out.setdefault(f["level"], set()).add(f["rule"])
        return out


def audit(path: Path | str, *args: str, stdin: str | None = None) -> Audit:
    """`resilient-stack audit PATH --format json ARGS` (PATH ``-``: ``stdin`` piped in)."""
    r = subprocess.run(
        [sys.executable, "-m", "resilient_stack", "audit", str(path), "--format", "json", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert r.returncode in (0, 1, 2), r.stderr
    report = json.loads(r.stdout) if r.returncode in (0, 1) else None
    if report is not None:
        assert report["verdict"] == ("fail" if r.returncode == 1 else "pass"), (r.returncode, report["verdict"])
    return Audit(r.returncode, report, r.stderr)
