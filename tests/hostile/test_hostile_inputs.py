"""Hostile and broken inputs through the real CLI: exit 2 or a finding with a clear message,
within bounded time and memory, never a traceback and never a silent pass."""

import json
import resource
import subprocess
import sys
import time

import pytest

from tests import builders as b
from tests.conftest import ROOT

LIMIT_S = 60
LIMIT_AS = 2 * 1024**3  # address-space cap for the child: a bomb hits this instead of the machine


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


def audit(path, *extra):
    t = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "resilient_stack", "audit", str(path), "--format", "json", *extra],
        capture_output=True,
        timeout=LIMIT_S,
        cwd=ROOT,
        preexec_fn=_limits,
    )
    return r, time.monotonic() - t


def assert_exit2(r, path, words):
    err = r.stderr.decode()
    assert r.returncode == 2, (r.returncode, err, r.stdout[:300])
    assert "Traceback" not in err and err.count("\n") == 1
    assert str(path) in err
    assert any(w in err for w in words), err


def assert_finding(r, rule, words):
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "fail"
    msgs = [f["message"] for f in doc["findings"] if f["rule"] == rule]
    assert msgs and any(any(w in m for w in words) for m in msgs), doc["findings"]


def test_empty_file(tmp_path):
    f = tmp_path / "empty.json"
    f.write_bytes(b"")
    assert_exit2(audit(f)[0], f, ["empty"])


def test_binary_garbage(tmp_path):
    f = tmp_path / "garbage.json"
    f.write_bytes(bytes(range(256)) * 4096)
    assert_exit2(audit(f)[0], f, ["binary"])


def test_random_bytes_without_nul(tmp_path):
    import random

    rnd = random.Random(1)
    f = tmp_path / "noise.json"
    f.write_bytes(bytes(rnd.randrange(1, 256) for _ in range(200_000)))
    assert_exit2(audit(f)[0], f, ["UTF-8", "invalid"])


@pytest.mark.parametrize("opener, closer", [(b"[", b"]"), (b'{"a":', b"}")])
def test_deeply_nested_json(tmp_path, opener, closer):
    f = tmp_path / "deep.json"
    f.write_bytes(opener * 500_000 + b"1" + closer * 500_000)
    r, took = audit(f)
    assert_exit2(r, f, ["nesting too deep"])
    assert took < LIMIT_S


def test_deeply_nested_yaml(tmp_path):
    f = tmp_path / "deep.yaml"
    f.write_bytes(b"placements: " + b"[" * 200_000 + b"]" * 200_000)
    assert_exit2(audit(f)[0], f, ["too deep", "invalid YAML"])


def test_a_gigabyte_claimed_by_a_small_sparse_file(tmp_path):
    f = tmp_path / "sparse.json"
    with open(f, "wb") as fh:
        fh.write(b'{"deployment": {"resources": [')
        fh.truncate(1024**3 + 10)  # 1 GiB of NULs that take no disk
    r, took = audit(f)
    assert_exit2(r, f, ["limit", "binary"])
    assert took < 10


def test_a_gigabyte_of_zeros_under_the_limit_is_sniffed_as_binary(tmp_path):
    f = tmp_path / "zeros.json"
    with open(f, "wb") as fh:
        fh.truncate(1024**3 - 1)
    r, took = audit(f)
    assert_exit2(r, f, ["binary"])
    assert took < 10


def test_huge_number_literal(tmp_path):
    f = tmp_path / "num.json"
    f.write_text('{"deployment": {"resources": [], "n": ' + "9" * 100_000 + "}}")
    r, _ = audit(f)
    assert r.returncode == 2 and b"Traceback" not in r.stderr


def test_billion_laughs(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    lines.append("placements: *i")
    f = tmp_path / "lol.yaml"
    f.write_text("\n".join(lines))
    r, took = audit(f)
    assert_exit2(r, f, ["alias"])
    assert took < 20


def test_python_object_tag_is_not_constructed(tmp_path):
    marker = tmp_path / "pwned"
    f = tmp_path / "evil.yaml"
    f.write_text(f"name: x\nplacements: !!python/object/apply:os.system ['touch {marker}']\n")
    assert_exit2(audit(f)[0], f, ["invalid YAML"])
    assert not marker.exists()


@pytest.mark.parametrize("doc", [{"version": 3}, {"checkpoint": {}}, {"resources": []}, [], 42, "text"])
def test_unknown_top_level_formats(tmp_path, doc):
    f = tmp_path / "odd.json"
    f.write_text(json.dumps(doc))
    assert_exit2(audit(f)[0], f, ["unrecognised format"])


def test_missing_providers(tmp_path):
    e = b.Export()
    e.resource(b.INSTANCE, "web-1", None, role="web")
    f = e.write(tmp_path / "noprov.json")
    assert_finding(audit(f)[0], "unknown-placement", ["records no provider"])


def test_provider_reference_pointing_nowhere(tmp_path):
    e = b.Export()
    e.resource(b.INSTANCE, "web-1", "urn:pulumi:dev::shop::pulumi:providers:openstack::ghost::123", role="web")
    f = e.write(tmp_path / "ghost.json")
    assert_finding(audit(f)[0], "unknown-placement", ["not in the file"])


def test_duplicate_urns(tmp_path):
    e = b.spread_export()
    e.resources.append(json.loads(json.dumps(e.resources[3])))
    f = e.write(tmp_path / "dupe.json")
    assert_exit2(audit(f)[0], f, ["duplicate URN"])


def test_regions_with_odd_case_and_whitespace_are_the_same_region(tmp_path):
    e = b.Export()
    a = e.provider("a", region="  gra11 ")
    c = e.provider("c", region="Waw1\t")
    e.resource(b.INSTANCE, "w1", a, role="web")
    e.resource(b.INSTANCE, "w2", c, role="web")
    f = e.write(tmp_path / "case.json")
    r, _ = audit(f)
    assert r.returncode == 0, r.stdout
    assert {p["region"] for p in json.loads(r.stdout)["placements"]} == {"GRA11", "WAW1"}


@pytest.mark.parametrize("field", ["region", "authUrl"])
def test_secrets_in_place_of_strings(tmp_path, field):
    e = b.Export()
    secret = {b.SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:xyz"}
    kw = {"region": "GRA11", "auth_url": b.OVH_AUTH}
    kw["region" if field == "region" else "auth_url"] = secret
    p = e.provider("p", **kw)
    e.resource(b.INSTANCE, "w1", p, role="web")
    f = e.write(tmp_path / "secret.json")
    assert_finding(audit(f)[0], "unknown-placement", ["secret"])


def test_wrong_types_everywhere(tmp_path):
    e = b.Export()
    p = e.provider("p", region=["GRA11"])
    e.resource(b.INSTANCE, "w1", p, role="web")
    e.resources.append(
        {
            "urn": "urn:pulumi:dev::shop::openstack:compute/instance:Instance::w2",
            "type": b.INSTANCE,
            "inputs": "not-a-dict",
            "outputs": 7,
            "provider": 12,
        }
    )
    f = e.write(tmp_path / "types.json")
    r, _ = audit(f)
    assert_finding(r, "unknown-placement", ["expected a string", "records no provider"])


def test_a_named_pipe_is_read_like_a_file(tmp_path):
    """`resilient-stack audit <(pulumi stack export)`: fstat gives no size, the reader reads on to the end."""
    import os
    import threading

    good = b.spread_export().write(tmp_path / "good.json")
    fifo = tmp_path / "export.fifo"
    os.mkfifo(fifo)
    payload = good.read_bytes() + b" " * (3 * 64 * 1024)  # longer than the sniffed first block

    def feed():
        with open(fifo, "wb") as fh:
            fh.write(payload)

    writer = threading.Thread(target=feed)
    writer.start()
    r, _ = audit(fifo)
    writer.join(timeout=10)
    from_file, _ = audit(good)
    assert r.returncode == from_file.returncode, r.stderr
    assert json.loads(r.stdout)["findings"] == json.loads(from_file.stdout)["findings"]


def test_stdin_beyond_the_size_limit_is_refused_without_reading_it_all(tmp_path):
    import os

    big = b'{"deployment": {"resources": [' + b" " * (512 * 1024)
    r = subprocess.run(
        [sys.executable, "-m", "resilient_stack", "audit", "-", "--format", "json"],
        input=big,
        capture_output=True,
        timeout=LIMIT_S,
        cwd=ROOT,
        preexec_fn=_limits,
        env={**os.environ, "RESILIENT_STACK_MAX_INPUT_BYTES": str(100 * 1024)},
    )
    assert_exit2(r, "<stdin>", ["limit"])
