"""resilient_stack/core/userdata.py (pure): user data read as cloud-init reads it (base64, gzip inside, bounded), and
the secret material in it: the shapes the review found missed (L8: ``chpasswd: {list: ...}``, ``.pgpass`` lines,
gzip+base64), and what must stay quiet."""

from __future__ import annotations

import base64
import gzip
import io
import time

import pytest

from resilient_stack.core.userdata import MAX_UNPACKED, Unreadable, secret_material, unpacked
from resilient_stack.hosts.document import pack_user_data

PW = "Hunter2-pw-0123"  # never in a description


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def gzb64(text: str | bytes) -> str:
    return b64(gzip.compress(text.encode() if isinstance(text, str) else text))


def gzip_bomb(size: int) -> str:
    """``size`` zero bytes gzipped then base64-encoded, written in 1 MiB chunks: the test process never holds the
    unpacked bytes (its peak memory is what tests/hostile's children inherit and measure)."""
    out = io.BytesIO()
    chunk = bytes(1 << 20)
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as f:
        for _ in range(size // len(chunk)):
            f.write(chunk)
        f.write(bytes(size % len(chunk)))
    return b64(out.getvalue())


# --------------------------------------------------------------------------------------------------
# chpasswd's list: user:password entries (RANDOM / R and hashes are not secrets in clear)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f'#cloud-config\nchpasswd: {{list: "debian:{PW}"}}\n',  # the review's reproduction
        f'#cloud-config\nchpasswd: {{expire: false, list: "root:RANDOM\\ndebian:{PW}"}}\n',  # escaped line break
        f"#cloud-config\nchpasswd:\n  expire: false\n  list: |\n    root:R\n    debian:{PW}\n",  # block literal
        f"#cloud-config\nchpasswd:\n  list:\n    - debian:{PW}\n",  # YAML list
        f"#cloud-config\nchpasswd: {{list: ['root:{PW}']}}\n",  # flow list
        f"## template: jinja\n#cloud-config\nchpasswd:\n  list: |\n    app:{PW}\n",  # behind a template header
        # a key given twice: the bounded reader refuses it, cloud-init applies the last one; so does the check
        f"#cloud-config\npackages: [a]\npackages: [b]\nchpasswd: {{list: 'debian:{PW}'}}\n",
        # aliases: cloud-init expands them
        f"#cloud-config\nx: &pw 'debian:{PW}'\nchpasswd: {{list: [*pw]}}\n",
    ],
)
def test_chpasswd_list_entries_are_found_and_named_by_user(text):
    found = secret_material(text)
    assert [h for h in found if "`chpasswd` list entry" in h], found
    assert all(PW not in h for h in found)


@pytest.mark.parametrize(
    "text",
    [
        "#cloud-config\nchpasswd:\n  list: |\n    root:RANDOM\n    debian:R\n",
        "#cloud-config\nchpasswd: {list: ['debian:$6$rounds=4096$saltsalt$hashhashhash']}\n",
        "#cloud-config\nchpasswd: {expire: true}\n",
        "#cloud-config\nchpasswd:\n  list: []\n",
        "#cloud-config\nchpasswd: [not, a, mapping]\n",
        "#cloud-config\nchpasswd: {list: [\n",  # not YAML: cloud-init would not apply it either
        "#cloud-config\nchpasswd: {list: [[nested, list], {a: b}, 42]}\n",
        "#cloud-config\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "chpasswd: {list: [*d, *d, *d, *d, *d, *d, *d, *d, *d]}\n",  # an alias bomb: never expanded
    ],
)
def test_chpasswd_without_a_literal_password_is_quiet(text):
    assert [h for h in secret_material(text) if "chpasswd" in h] == []


# --------------------------------------------------------------------------------------------------
# .pgpass lines: host:port:database:user:password
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"db.example.org:5432:shop:shop:{PW}\n",  # a line of its own
        f"#cloud-config\nwrite_files:\n- path: /srv/app/.pgpass\n  content: |\n    10.0.0.5:5432:shop:app:{PW}\n",
        f"*:*:*:replicator:{PW}\n",  # wildcards
        f"10.0.0.1:5432:*:app:pa\\:ss\\\\{PW}\n",  # escaped ':' and '\\'
        f"#!/bin/sh\necho 'db.example.org:5432:shop:shop:{PW}' >> ~/.pgpass\n",  # inside a command
        f"#cloud-config\nbootcmd:\n  - printf '%s\\n' db:6432:app:app:{PW} > /root/.pgpass\n",
        f"  - 192.0.2.7:5432:postgres:patroni_rewind:{PW}\n",  # a YAML list item
    ],
)
def test_pgpass_lines_are_found(text):
    found = secret_material(text)
    assert [h for h in found if ".pgpass" in h], found
    assert all(PW not in h for h in found)


@pytest.mark.parametrize(
    "text",
    [
        "fd00:1234:5678:9abc:def0\n",  # IPv6 groups
        "2001:db8:0:0:1\nfe80::1\n",
        "starts at 12:30:45, ends 13:00:00\n",  # times
        "aa:bb:cc:dd:ee:ff\n",  # a MAC address
        "url: https://example.org:443/a:b:c\nhttp://mirror.example:8080/debian\n",
        "ETCD_INITIAL_CLUSTER=a=https://192.0.2.1:2380,b=https://192.0.2.2:2380\n",
        "db.example.org:5432:shop:shop:\n",  # no password: libpq asks
        "*:*:*:app:*\n",
        "db:5432:shop:app:$(cat /run/secret)\n",
    ],
)
def test_things_with_colons_that_are_not_pgpass_lines_are_quiet(text):
    assert [h for h in secret_material(text) if ".pgpass" in h] == []


# --------------------------------------------------------------------------------------------------
# write_files: key and password files given inline, encoded content
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, what",
    [
        (
            "#cloud-config\nwrite_files:\n- path: /etc/resilient-stack/host.key\n  content: " + "K" * 64 + "\n",
            "secret file `/etc/resilient-stack/host.key`",
        ),
        (
            "#cloud-config\nwrite_files:\n- path: /run/app/api-token\n  content: 0123456789abcdef\n  permissions: '0600'\n",
            "secret file `/run/app/api-token`",
        ),
        ("#cloud-config\nwrite_files:\n- path: /etc/app/db.password\n  content: |\n    " + PW + "\n", "db.password"),
        (
            "#cloud-config\nwrite_files:\n- path: /root/.env\n  encoding: b64\n  content: "
            + b64(f"PGPASSWORD={PW}\n")
            + "\n",
            "`PGPASSWORD=` (line 1) of the decoded write_files entry `/root/.env`",
        ),
        (
            "#cloud-config\nwrite_files:\n- path: /root/.env\n  encoding: gz+b64\n  content: "
            + gzb64(f"PGPASSWORD={PW}\n")
            + "\n",
            "of the decoded write_files entry `/root/.env`",
        ),
        (
            "#cloud-config\nwrite_files:\n- path: /root/.pgpass\n  encoding: base64\n  content: "
            + b64(f"db:5432:shop:shop:{PW}\n")
            + "\n",
            "a .pgpass line (line 1) of the decoded write_files entry",
        ),
    ],
)
def test_write_files_secrets_are_found(text, what):
    found = secret_material(text)
    assert any(what in h for h in found), found
    assert all(PW not in h and "K" * 64 not in h for h in found)


@pytest.mark.parametrize(
    "text",
    [
        "#cloud-config\nwrite_files:\n- path: /etc/pam.d/common-password\n  content: |\n"
        "    password requisite pam_pwquality.so retry=3\n",  # a configuration file, not a password
        "#cloud-config\nwrite_files:\n- path: /etc/passwd\n  append: true\n  content: 'app:x:1001:1001::/srv:/bin/sh'\n",
        "#cloud-config\nwrite_files:\n- path: /etc/ssl/certs/ca.crt\n  content: |\n"
        "    -----BEGIN CERTIFICATE-----\n    MIIB\n    -----END CERTIFICATE-----\n",
        "#cloud-config\nwrite_files:\n- path: /etc/app/api-token\n  content: ''\n",  # filled at boot
        "#cloud-config\nwrite_files:\n- path: /etc/app/api-token\n  content: ${TOKEN}\n",
        "#cloud-config\nwrite_files:\n- path: /etc/resilient-stack/secrets.sealed\n  content: " + "Ab-_" * 40 + "\n",
        "#cloud-config\nwrite_files:\n- path: /etc/motd\n  encoding: b64\n  content: " + b64("welcome\n") + "\n",
        "#cloud-config\nwrite_files:\n- path: /etc/motd\n  encoding: b64\n  content: '%%% not base64'\n",
        "#cloud-config\nwrite_files: [{content: no path}, 7, {path: 3}]\n",
    ],
)
def test_write_files_without_secrets_are_quiet(text):
    assert secret_material(text) == []


# --------------------------------------------------------------------------------------------------
# reading packed user data as cloud-init does
# --------------------------------------------------------------------------------------------------


def test_unpacked_reads_base64_and_gzip_inside_it():
    text = f"#cloud-config\nchpasswd: {{list: 'debian:{PW}'}}\n"
    assert unpacked(text) is None, "plain text is read as it is"
    assert unpacked(b64(text)) == (text, "base64-decoded")
    assert unpacked(gzb64(text)) == (text, "gzip+base64-unpacked")
    assert unpacked(pack_user_data(text)) == (text, "gzip+base64-unpacked"), "what the components hand Nova"
    wrapped = "\n".join(pack_user_data(text)[i : i + 60] for i in range(0, len(pack_user_data(text)), 60))
    assert unpacked(wrapped) == (text, "gzip+base64-unpacked"), "line breaks in base64 are ignored"
    assert unpacked(b64(b"\x00\xff\xfe binary")) is None, "base64 of other bytes: not text"
    assert unpacked("#cloud-config") is None and unpacked("short") is None


def test_unpacking_is_bounded_and_unreadable_gzip_is_never_silently_passed():
    at_limit = gzb64(b"a" * MAX_UNPACKED)
    assert unpacked(at_limit) == ("a" * MAX_UNPACKED, "gzip+base64-unpacked")
    with pytest.raises(Unreadable, match=f"more than {MAX_UNPACKED} bytes"):
        unpacked(gzb64(b"a" * (MAX_UNPACKED + 1)))
    bomb = gzip_bomb(64 << 20)  # 64 MiB of zeros: about 64 KiB packed
    with pytest.raises(Unreadable, match="more than"):
        unpacked(bomb)
    with pytest.raises(Unreadable, match="cannot be unpacked"):
        unpacked(b64(b"\x1f\x8b" + b"\x00" * 40))  # damaged
    with pytest.raises(Unreadable, match="cannot be unpacked"):
        unpacked(b64(gzip.compress(b"#cloud-config\n" * 100)[:-12]))  # truncated
    with pytest.raises(Unreadable, match="not UTF-8"):
        unpacked(gzb64(b"\xff\xfe\x00 binary"))


@pytest.mark.parametrize(
    "text",
    [
        "A" * 65536,  # a long run of base64 letters (the assignment scan was quadratic)
        "a+" * 32768,
        "x." * 32768,
        "-a" * 32768,  # scheme-like runs (the URL scan was quadratic)
        "a:1:a:a:" * 8192,
        "a://b:" * 10922,
        "password" * 8192,
    ],
)
def test_the_scan_is_linear_on_user_data_of_novas_size(text):
    """Packed user data is up to 64 KiB of base64 in clear: the scan once took minutes on such text (a preview or
    an audit stuck on one instance)."""
    start = time.monotonic()
    secret_material(text)
    assert time.monotonic() - start < 10, "the scan must stay linear"
