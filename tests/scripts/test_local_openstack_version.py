"""The local clouds' image key (scripts/local-openstack/local_openstack.py ``version``): what the images are made
of, not how the checkout was made. A `git archive` tarball or another umask gives 0664 where a clone gives 0644:
that must not rebuild every image (about 10 minutes); a file made executable, or changed, must."""

from __future__ import annotations

import importlib.util
import shutil
import sys

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "local-openstack" / "local_openstack.py"


@pytest.fixture
def script(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("local_openstack_under_test", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    image = tmp_path / "image"
    shutil.copytree(module.IMAGE_DIR, image)
    monkeypatch.setattr(module, "IMAGE_DIR", image)
    return module


def files(script):
    return sorted(p for p in script.IMAGE_DIR.rglob("*") if p.is_file())


def test_the_key_ignores_group_and_other_write_bits(script):
    before = script.version()
    for p in files(script):
        p.chmod(p.stat().st_mode | 0o020 | 0o002)  # umask 0002, or a tarball's 0664
    assert script.version() == before


def test_the_key_follows_the_executable_bit_and_the_content(script):
    before = script.version()
    plain = next(p for p in files(script) if not p.stat().st_mode & 0o100)
    plain.chmod(plain.stat().st_mode | 0o100)
    flipped = script.version()
    assert flipped != before
    plain.chmod(plain.stat().st_mode & ~0o100)
    assert script.version() == before
    plain.write_bytes(plain.read_bytes() + b"\n")
    assert script.version() != before
