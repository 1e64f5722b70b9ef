"""The `pulumi new` template (the `template:` block of Pulumi.yaml) and the README's first deployments, as written.

- What `pulumi new` asks, in its order and words, is pinned in ``snapshots/pulumi-new.prompts.txt`` (an intended
  change: RESILIENT_STACK_UPDATE_SNAPSHOTS=1), and it asks for every key a first `pulumi up` needs.
- The README's two first-deployment blocks run as written: their `pulumi config set` commands are applied with the
  engine's own rules (a bare key is the project's; `--path` into a YAML value, or over a plain string as `pulumi
  new` writes them) to the stack file they start from (the shipped production stack; a `pulumi new` project named
  `my-shop`), then the program runs as `pulumi up` does, under the mock runner: it must create the stack.

The engine's rules followed here are pulumi v3.274.1's (pkg/cmd/pulumi/newcmd/config.go: keys sorted by namespace
then name, an empty answer not saved, answers saved as plain strings; sdk/go/common/resource/config: a path set
over a plain string replaces it with a new container; an index one past the end appends).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from resilient_stack.components.backup_config import SECRET_CONFIG_KEYS
from resilient_stack.components.readiness import deploy_problems
from resilient_stack.components.stack_config import (
    NAMESPACE,
    StackConfig,
    StackConfigError,
    parse_stack_config,
    read_stack_file,
)
from resilient_stack.testing.mockrun import RecordingMocks, run_program
from tests.conftest import ROOT

SNAPSHOT = Path(__file__).parent / "snapshots" / "pulumi-new.prompts.txt"
UPDATE = os.environ.get("RESILIENT_STACK_UPDATE_SNAPSHOTS") == "1"
TEMPLATE = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["template"]["config"]
INSTANCE = "openstack:compute/instance:Instance"

# What a reader types for each placeholder of the README (every `<...>` of its commands must be here).
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyExampleKeyExampleKeyExampleKe you@laptop"
TYPED = {
    "$(cat ~/.ssh/id_ed25519.pub)": SSH_KEY,
    "<your office or VPN network>/24": "198.18.7.0/24",
    "<your DNS names>": "shop.example.org www.shop.example.org",
    "<your registry>/shop/web:1.0.0": "registry.shop.internal/shop/web:1.0.0",
    "<access key>": "OVHS3ACCESSKEY0001",
    "<secret key>": "s3cr3t-of-the-backup-user",
    "<your webhook URL>": "https://hooks.example.org/T0KEN",
    "<your zone>": "shop.internal.",
}


# --------------------------------------------------------------------------------------------------
# what `pulumi new` asks
# --------------------------------------------------------------------------------------------------


def prompts(project: str = "my-shop") -> str:
    """The prompts of `pulumi new --name PROJECT`, in the engine's order, as it words them (``DESCRIPTION (KEY)``),
    each with its default (a secret's is hidden, and an empty answer saves nothing)."""
    keys = sorted(TEMPLATE, key=lambda k: tuple(k.split(":", 1)) if ":" in k else (project, k))
    out = [f"# `pulumi new` from this repository, project {project}: its prompts, in order (Pulumi.yaml, template:)"]
    for key in keys:
        entry = TEMPLATE[key]
        text = " ".join(str(entry.get("description", "")).split())
        default = entry.get("default")
        shown = "[secret]" if entry.get("secret") and default else default
        out += ["", f"{text} ({key})", f"  default: {shown if default else '(none: an empty answer sets nothing)'}"]
        if entry.get("secret"):
            out.append("  secret: saved encrypted")
    return "\n".join(out) + "\n"


def test_what_pulumi_new_asks_is_the_snapshot():
    current = prompts()
    if UPDATE:
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.is_file(), f"no snapshot {SNAPSHOT}: RESILIENT_STACK_UPDATE_SNAPSHOTS=1 writes it"
    assert current == SNAPSHOT.read_text(), (
        "what `pulumi new` asks changed; if intended: "
        "RESILIENT_STACK_UPDATE_SNAPSHOTS=1 pytest tests/components/test_template.py"
    )


def test_the_template_asks_for_everything_a_first_up_needs_with_the_secrets_as_secrets():
    fields = {f.alias or name for name, f in StackConfig.model_fields.items()}
    assert set(TEMPLATE) <= fields, set(TEMPLATE) - fields  # bare keys of the program, nothing else
    required = {f.alias for f in StackConfig.model_fields.values() if f.is_required()} - {"name"}  # name: rs-<stack>
    operator = {"adminCidrs", "sshPublicKey", "web"}  # the ways in: SSH, and the site's name for its certificate
    assert required | operator | set(SECRET_CONFIG_KEYS) <= set(TEMPLATE)
    assert {k for k, v in TEMPLATE.items() if v.get("secret")} == set(SECRET_CONFIG_KEYS)
    assert not any("default" in TEMPLATE[k] for k in (*SECRET_CONFIG_KEYS, "sshPublicKey")), "nobody's key by default"
    assert all(TEMPLATE[k].get("description") for k in TEMPLATE)
    # the application's image is a key of `web` (web.app.image): its prompt says how to give it, and that it may come
    # later (a first up without it serves a static page)
    assert '"app": {"image": "<your registry>/shop/web:1.0.0"}' in TEMPLATE["web"]["description"]
    assert "docs/application.md" in TEMPLATE["web"]["description"]


def test_a_template_answered_with_enter_only_previews_and_says_what_up_still_needs():
    defaults = {k: v["default"] for k, v in TEMPLATE.items() if "default" in v}
    cfg = parse_stack_config({k: json.loads(v) if k not in ("profile",) else v for k, v in defaults.items()}, "t")
    assert [p.key for p in deploy_problems(cfg, "my-shop")] == ["my-shop:backupS3AccessKey"]


# --------------------------------------------------------------------------------------------------
# `pulumi config set`, as the engine applies it
# --------------------------------------------------------------------------------------------------

_SEGMENT = re.compile(r"\.?([A-Za-z_][\w-]*)|\[(\d+)\]")


def _path(text: str) -> list[str | int]:
    parts, pos = [], 0
    while pos < len(text):
        m = _SEGMENT.match(text, pos)
        assert m and (pos or not text.startswith(".")), f"not a config path: {text!r}"
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    return parts


def _coerce(value: str) -> Any:
    """A value given with --path: true/false and integers become themselves (the engine's coerceObject)."""
    if value in ("true", "false"):
        return value == "true"
    return int(value) if re.fullmatch(r"-?\d+", value) else value


def config_set(config: dict[str, Any], project: str, args: list[str]) -> None:
    """`pulumi config set [--secret] [--path] KEY VALUE` on a stack file's ``config`` mapping."""
    flags = {a for a in args if a.startswith("--")}
    assert flags <= {"--secret", "--path"}, flags
    key, value = [a for a in args if not a.startswith("--")]
    if "--path" not in flags:
        full = key if ":" in key else f"{project}:{key}"
        config[full] = value
        return
    head, *rest = _path(key.split(":", 1)[1] if ":" in key else key)
    full = f"{key.split(':', 1)[0]}:{head}" if ":" in key else f"{project}:{head}"
    if not rest:
        config[full] = _coerce(value)
        return
    root = config.get(full)
    if not isinstance(root, (dict, list)):  # absent, or a plain string (what `pulumi new` writes): a new container
        root = [] if isinstance(rest[0], int) else {}
    node = root
    for i, part in enumerate(rest):
        last = i == len(rest) - 1
        if isinstance(part, int):
            assert isinstance(node, list) and part <= len(node), f"{key}: array index out of range"
            if part == len(node):
                node.append(None)
        else:
            assert isinstance(node, dict), f"{key}: expected a map"
        if last:
            node[part] = _coerce(value)
        else:
            if not isinstance(node[part] if isinstance(node, list) else node.get(part), (dict, list)):
                node[part] = [] if isinstance(rest[i + 1], int) else {}
            node = node[part]
    config[full] = root


def test_config_set_follows_the_engine():
    config: dict[str, Any] = {"p:web": {"title": "Shop", "https": True}, "p:adminCidrs": [], "p:new": '{"a": 1}'}
    config_set(config, "p", ["--path", "web.serverName", "a.example.org"])
    config_set(config, "p", ["--path", "adminCidrs[0]", "10.1.0.0/16"])
    config_set(config, "p", ["--path", "new.b", "true"])  # over a plain string: replaced, as the engine does
    config_set(config, "p", ["--secret", "other:key", "v"])
    assert config == {
        "p:web": {"title": "Shop", "https": True, "serverName": "a.example.org"},
        "p:adminCidrs": ["10.1.0.0/16"],
        "p:new": {"b": True},
        "other:key": "v",
    }
    with pytest.raises(AssertionError, match="out of range"):
        config_set(config, "p", ["--path", "adminCidrs[3]", "10.2.0.0/16"])


# --------------------------------------------------------------------------------------------------
# the README's first deployments
# --------------------------------------------------------------------------------------------------


def readme_block(heading: str) -> list[str]:
    """The lines of the first ```bash block under the README's ``## heading``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]
    return section.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()


def config_commands(lines: list[str]) -> list[list[str]]:
    """Every `pulumi config set` of ``lines``, its arguments after `set`, the placeholders typed in (``TYPED``)."""
    out = []
    for line in lines:
        words = shlex.split(line, comments=True)
        if words[:3] != ["pulumi", "config", "set"]:
            continue
        args = [TYPED.get(w, w) for w in words[3:]]
        assert not any("<" in a or "$(" in a for a in args), f"a placeholder this test does not know: {line}"
        out.append(args)
    return out


def deploy(tmp_path: Path, stack: str, project: str, config: dict[str, Any]) -> list:
    """The program as `pulumi up` runs it (it refuses what a first deployment lacks); nothing left to warn about."""
    f = tmp_path / f"Pulumi.{stack}.yaml"
    f.write_text(yaml.safe_dump({"config": config}))
    mocks = RecordingMocks()
    res = run_program(f, project=project, preview=False, mocks=mocks)
    assert not [m for level, m in mocks.messages if level == "WARNING"], mocks.messages
    return res


def test_the_readme_devops_steps_deploy_the_shipped_production_stack(tmp_path):
    lines = readme_block("DevOps: deploy the web stack with `pulumi up`")
    assert "pulumi stack select production --create        # reads stacks/Pulumi.production.yaml" in lines
    config, _ = read_stack_file(ROOT / "stacks" / "Pulumi.production.yaml")
    for args in config_commands(lines):
        config_set(config, NAMESPACE, args)
    web = config[f"{NAMESPACE}:web"]
    assert {k: v for k, v in web.items() if k != "app"} == {
        "title": "Shop",
        "https": True,
        "serverName": TYPED["<your DNS names>"],
    }
    assert web["app"]["image"] == TYPED["<your registry>/shop/web:1.0.0"]
    assert config[f"{NAMESPACE}:alertWebhook"] == TYPED["<your webhook URL>"]  # set as a secret
    assert config[f"{NAMESPACE}:monitoring"]["zone"] == {"name": TYPED["<your zone>"]}
    res = deploy(tmp_path, "production", NAMESPACE, config)
    assert len([r for r in res if r.type == INSTANCE]) == 10  # 5 web hosts, 3 members, 2 monitoring hosts


def test_the_readme_startup_steps_deploy_a_pulumi_new_project_named_otherwise(tmp_path):
    lines = readme_block("Startups: start from a template in `stacks/`")
    assert lines[0].startswith("pulumi new <path to this repository> --dir my-shop")
    # `pulumi new --name my-shop`: the reader types their key and network, Enter everywhere else (the default, or
    # nothing: the S3 keys left empty) ...
    answers = {"sshPublicKey": SSH_KEY, "adminCidrs": '["198.18.7.0/24"]'}
    config: dict[str, Any] = {
        f"my-shop:{k}": answers.get(k, v.get("default"))
        for k, v in TEMPLATE.items()
        if answers.get(k, v.get("default"))
    }
    with pytest.raises(StackConfigError, match=r"^stack dev: my-shop:backupS3AccessKey: is not set"):
        deploy(tmp_path, "dev", "my-shop", dict(config))
    # ... then the README's commands
    for args in config_commands(lines):
        config_set(config, "my-shop", args)
    assert set(config) == {f"my-shop:{k}" for k in TEMPLATE if TEMPLATE[k].get("default")} | {
        f"my-shop:{k}" for k in (*SECRET_CONFIG_KEYS, "sshPublicKey")
    }
    res = deploy(tmp_path, "dev", "my-shop", config)
    assert {r.inputs["name"] for r in res if r.type == INSTANCE} == {
        "rs-dev-gra-web-1",
        "rs-dev-waw-web-1",
        "rs-dev-gra-db",
        "rs-dev-waw-db",
        "rs-dev-uk-db",
    }
