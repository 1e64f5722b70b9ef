"""The data volume script on a real block device (issue 17, point 1): found by its id, formatted only when blank.

A privileged container of the host image (the script needs mount and a block device; the ordinary hosts of the
other tests get their volume already mounted) plays a host; a loop device over a sparse file plays the volume, and
the test makes the symlink udev would make for a virtio disk (``/dev/disk/by-id/virtio-<first 20 characters of the
volume id>``): the cloud's part. The script is the exact one of the user data. Checked: a blank volume gets ext4
and an fstab entry; a volume that holds a file system is mounted as it is (its files kept: never reformatted); a
device with a partition table and no file system is refused and left untouched; no device: a bounded wait, then
an error. Needs root (loop devices).
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
import yaml

from resilient_stack.hosts import paths
from resilient_stack.testing import podman
from tests.hosts.samples import CLUSTER_ID, member
from tests.integration.podman.test_boot import _missing, image  # noqa: F401 - the image fixture

# podman, but one throwaway container on podman's default network: make test runs it beside the live tests
pytestmark = [pytest.mark.podman, pytest.mark.beside_live]

VOLUME_ID = "7d4c1a9e-5b2f-4e8a-9c3d-1f0e2a4b6c8d"


@pytest.fixture
def host(image, tmp_path):  # noqa: F811 - the fixture above
    if os.geteuid() != 0:
        _missing("loop devices need root")
    doc = yaml.safe_load(member(data_volume_id=VOLUME_ID))
    script = next(f["content"] for f in doc["write_files"] if f["path"] == paths.DATA_VOLUME_SCRIPT)
    # the same script, waiting 6 s at most for its device (the shipped one waits 600 s)
    (tmp_path / "data-volume").write_text(script.replace("WAIT=600\n", "WAIT=6\n"))
    (tmp_path / "data-volume").chmod(0o755)
    disk = tmp_path / "volume.img"
    with open(disk, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    loop = subprocess.run(["losetup", "--find", "--show", str(disk)], capture_output=True, text=True)
    if loop.returncode != 0:
        _missing(f"no loop device: {loop.stderr.strip()}")
    device = loop.stdout.strip()
    name = podman.unique_name("datavol")
    try:
        podman._run(
            [
                "run",
                "-d",
                "--name",
                name,
                "--label",
                podman.LABEL,
                "--privileged",
                "--systemd=always",
                "-v",
                f"{tmp_path / 'data-volume'}:/usr/local/sbin/data-volume:ro",
                image,
            ]
        )
        podman.wait_boot_finished(name, timeout=120)  # no seed: cloud-init finds no user data and finishes

        def sh(script: str, check: bool = True) -> subprocess.CompletedProcess:
            return podman.exec_in(name, ["bash", "-c", script], check=check, timeout=120)

        yield sh, device, disk
    finally:
        podman.remove(name)
        subprocess.run(["losetup", "--detach", device], capture_output=True)


def attach(sh, device: str) -> None:
    """The cloud's part: the disk appears with its serial under /dev/disk/by-id."""
    sh(f"mkdir -p /dev/disk/by-id && ln -sfn {device} /dev/disk/by-id/virtio-{VOLUME_ID[:20]}")


def test_a_blank_volume_gets_ext4_and_a_volume_with_data_is_mounted_as_it_is(host):
    sh, device, _ = host
    attach(sh, device)
    out = sh("/usr/local/sbin/data-volume").stdout
    assert "is blank: making an ext4 file system" in out, out
    assert sh(f"findmnt -no SOURCE,FSTYPE {paths.DATA_MOUNT}").stdout.split() == [device, "ext4"]
    assert f"LABEL={paths.DATA_VOLUME_LABEL}" in sh(f"blkid {device}").stdout.replace('"', "")
    fstab = sh("cat /etc/fstab").stdout
    assert (
        f"# resilient-stack data volume {VOLUME_ID}" in fstab and f" {paths.DATA_MOUNT} ext4 defaults,nofail" in fstab
    )
    assert sh(f"stat -c %U {paths.DATA_MOUNT} {paths.ETCD_DATA}").stdout.split() == ["postgres", "etcd"]
    marker = str(uuid.uuid4())
    sh(
        f"echo {marker} > {paths.DATA_MOUNT}/marker && umount {paths.DATA_MOUNT} && sed -i '/resilient-stack/,+1d' /etc/fstab"
    )
    # a replacement host: its root disk new, the volume the same
    out = sh("/usr/local/sbin/data-volume").stdout
    assert "holds a ext4 file system" in out and "mounted as it is" in out, out
    assert sh(f"cat {paths.DATA_MOUNT}/marker").stdout.strip() == marker, "the data is still there"
    assert "kept as it is" in sh("/usr/local/sbin/data-volume").stdout, "a mounted volume is left alone"


def test_a_device_with_a_partition_table_is_refused_and_left_untouched(host):
    sh, device, disk = host
    mbr = bytearray(512)  # a DOS partition table: one Linux partition from sector 2048, no file system anywhere
    mbr[446:462] = bytes([0, 0, 0, 0, 0x83, 0, 0, 0]) + (2048).to_bytes(4, "little") + (4096).to_bytes(4, "little")
    mbr[510:512] = b"\x55\xaa"
    with open(disk, "r+b") as f:
        f.write(mbr)
    attach(sh, device)
    before = sh(f"sha256sum {device}").stdout.split()[0]
    out = sh("/usr/local/sbin/data-volume", check=False)
    assert out.returncode != 0 and "not formatted, not mounted" in out.stdout, out.stdout + out.stderr
    assert sh(f"sha256sum {device}").stdout.split()[0] == before
    assert sh(f"mountpoint -q {paths.DATA_MOUNT}", check=False).returncode != 0


def test_no_device_is_a_bounded_wait_then_an_error(host):
    sh, _, _ = host
    out = sh("/usr/local/sbin/data-volume", check=False)
    assert out.returncode != 0 and f"volume {VOLUME_ID} is not attached after 6s" in out.stdout


def remount_fresh(sh) -> None:
    """The volume detached and the host replaced: unmounted, the root disk's fstab entry gone."""
    sh(f"umount {paths.DATA_MOUNT} && sed -i '/resilient-stack/,+1d' /etc/fstab")


@pytest.mark.parametrize(
    "marker, why",
    [
        ("cluster=someothercluster\nmember=db-gra\n", "belongs to another cluster (someothercluster)"),
        (f"cluster={CLUSTER_ID}\nmember=db-waw\n", "belongs to another member of this cluster (db-waw)"),
        (None, "holds data but no marker of this cluster"),
    ],
)
def test_a_volume_of_another_cluster_or_member_is_refused_and_left_as_it_is(host, marker, why):
    """A volume is adopted only when its marker names this cluster and this member (a blank one is marked at its
    first use): a retained volume of a torn-down stack, another member's volume, or a volume with data and no
    marker is refused: unmounted, untouched, and the boot stops before etcd or Patroni could use it."""
    sh, device, _ = host
    attach(sh, device)
    out = sh("/usr/local/sbin/data-volume").stdout
    assert f"a new volume: marked as db-gra's of cluster {CLUSTER_ID}" in out, out
    if marker is None:
        sh(f"rm {paths.VOLUME_MARKER}")
    else:
        sh(f"printf '{marker}' > {paths.VOLUME_MARKER}")
    sh(f"install -d -o postgres {paths.DATA_MOUNT}/15 && echo data > {paths.DATA_MOUNT}/15/PG_VERSION")
    remount_fresh(sh)
    before = sh(f"sha256sum {device}").stdout.split()[0]
    out = sh("/usr/local/sbin/data-volume", check=False)
    assert out.returncode != 0 and why in out.stdout and "not used" in out.stdout, out.stdout + out.stderr
    assert sh(f"mountpoint -q {paths.DATA_MOUNT}", check=False).returncode != 0, "left unmounted"
    assert sh(f"sha256sum {device}").stdout.split()[0] == before, "left untouched"


def test_the_package_cluster_is_stopped_before_the_volume_hides_its_directory(host):
    """A replacement host boots with Debian's own PostgreSQL cluster running from the root disk's directory under the
    mount point (the package starts it before cloud-init runs the script). The script stops it, and keeps it from
    starting again, before it mounts the member's retained volume there: a server left running under the mount
    writes its control file into the member's data directory by absolute path (found on a replaced database host of
    the local clouds: its retained data claimed the package cluster's system id, and Patroni refused the member)."""
    sh, device, _ = host
    attach(sh, device)
    sh("/usr/local/sbin/data-volume")  # the first host: a blank volume, formatted and marked as this member's
    control = f"{paths.DATA_MOUNT}/15/main/global/pg_control"
    sh(f"install -d -o postgres {paths.DATA_MOUNT}/15/main/global && echo member-data > {control}")
    # a new root disk: no fstab entry (and none in systemd: the package's unit requires the mounts under its path)
    sh(f"umount {paths.DATA_MOUNT} && sed -i '/resilient-stack/,+1d' /etc/fstab && systemctl daemon-reload")
    # the replacement's boot: its new root disk's package cluster starts before cloud-init's final stage
    sh(f"echo auto > {paths.PG_START_CONF} && systemctl start {paths.PG_SERVICE}")
    assert sh("pgrep -x postgres", check=False).returncode == 0, "the package cluster runs before the script"
    out = sh("/usr/local/sbin/data-volume").stdout
    assert "mounted as it is" in out, out
    assert sh("pgrep -x postgres", check=False).returncode == 1, "no server runs under the mounted volume"
    assert sh(f"cat {paths.PG_START_CONF}").stdout.strip() == "manual"  # nor starts at the next boot
    assert sh(f"cat {control}").stdout.strip() == "member-data"
