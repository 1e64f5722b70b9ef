"""The template path for real: `pulumi new` from the repository into a temp dir, `pulumi up` against the local
clouds with only the prompted values (the template's defaults: GRA11, WAW1, UK1, backups in DE1) and the backups'
S3 keys (a dedicated user's, as Pulumi secrets: what the README's startup path asks for), then the documented
teardown (unprotect, destroy: the backup container and the data volumes are kept).

`pulumi new` runs as a user runs it: it copies the template (the repository's files, as a clone has them),
creates the project's virtualenv and installs requirements.txt into it (PyPI: a package registry, the one
network access the tests allow). Then everything else runs inside the clouds' namespace.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT
from tests.integration.openstack.conftest import everything, give_backup_keys

pytestmark = [pytest.mark.engine, pytest.mark.openstack]

STACK = "dev"


def template_copy(dest):
    """The repository as a fresh clone has it: tracked and new (not ignored) files only, no .venv."""
    r = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for rel in filter(None, r.stdout.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def test_pulumi_new_then_up_with_the_prompted_defaults_then_destroy(hub_pulumi, local_clouds, tmp_path):
    template = template_copy(tmp_path / "template")
    project = tmp_path / "shop"
    # outside the clouds' namespace: `pulumi new` installs the project's requirements from PyPI
    new = subprocess.run(
        [
            "pulumi",
            "new",
            str(template),
            "--dir",
            str(project),
            "--name",
            "shop",
            "--stack",
            STACK,
            "--yes",
            "--non-interactive",
        ],
        env=hub_pulumi.environ(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert new.returncode == 0, (new.stdout[-3000:], new.stderr[-3000:])
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    config = yaml.safe_load(stack_file.read_text())["config"]
    defaults = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["template"]["config"]
    # only the prompted values: `--yes` takes each default, and a prompt without one (the SSH key, the S3 keys) saves
    # nothing; the keys are given below, as the README says
    assert {k.split(":", 1)[1] for k in config} == {k for k, v in defaults.items() if v.get("default")}
    placements = yaml.safe_load(config["shop:placements"])  # template defaults are JSON strings
    give_backup_keys(hub_pulumi, local_clouds, project, STACK, "shop", yaml.safe_load(config["shop:backups"])["cloud"])
    before = local_clouds.inventory()
    up = hub_pulumi("up", "--yes", "--skip-preview", "--stack", STACK, "--color", "never", cwd=project, timeout=1800)
    assert up.returncode == 0, (up.stdout[-4000:], up.stderr[-4000:])
    during = local_clouds.inventory()
    servers = everything(during, "servers")
    prefix = f"rs-{STACK}"
    for p in placements:
        names = {f"{prefix}-{p['name']}-web-{i}" for i in range(1, p["webCount"] + 1)} | {f"{prefix}-{p['name']}-db"}
        assert names <= set(servers[f"{p['cloud']}/{p['region']}"]), (p, servers)
    hub_pulumi.ok("state", "unprotect", "--all", "--yes", "--stack", STACK, cwd=project)
    destroy = hub_pulumi("destroy", "--yes", "--skip-preview", "--stack", STACK, cwd=project, timeout=1800)
    assert destroy.returncode == 0, destroy.stdout[-4000:]
    after = local_clouds.inventory()
    for kind in (
        "servers",
        "networks",
        "subnets",
        "ports",
        "floating_ips",
        "routers",
        "security_groups",
        "server_groups",
    ):
        assert everything(after, kind) == everything(before, kind), kind
    old = {v["id"] for held in before.values() for v in held["volumes"]}
    kept_volumes = sorted(v["name"] for held in after.values() for v in held["volumes"] if v["id"] not in old)
    assert kept_volumes == sorted(f"{prefix}-{p['name']}-db-data" for p in placements), kept_volumes
    backups = yaml.safe_load(defaults["backups"]["default"])
    where = f"{backups['cloud']}/{backups['region']}"
    assert f"{prefix}-pgbackrest" in after[where]["containers"]  # kept (reused clouds: it may have been there before)
    kept = {
        w: sorted(set(after[w]["containers"]) - set(before[w]["containers"]) - {f"{prefix}-pgbackrest"}) for w in after
    }
    assert not any(kept.values()), kept
