#!/bin/bash
# Managed by resilient_stack (cloud-init): the database host's data volume, mounted at {{mount}} before etcd
# and Patroni start (their units refuse to start without it). PostgreSQL's data directory and etcd's member
# data live on it: a replacement host that re-attaches the volume rejoins the cluster as the same member.
# The volume is found by its id (the serial the hypervisor gives the disk), waiting (bounded) for the
# attachment; a device that holds a file system is mounted as it is, a blank one gets an ext4 file system, and
# anything else (a partition table, an unknown signature) is refused: this script never formats data.
# The mount is recorded in /etc/fstab by file system UUID for the later boots. Whose data it is, is written on the
# volume (its marker: the cluster's id and this member's name) when it is first used: a volume of another cluster,
# or of another member, is refused, and so is one holding data but no marker. A volume that holds a file system is
# read first through a read-only mount, so a refused one is left exactly as it was (not in /etc/fstab, not
# written to) and the boot stops there.
set -euo pipefail
MOUNT={{mount}}
VOLUME_ID={{volume_id}}
WAIT={{wait}}
LABEL={{label}}
ETCD_DATA={{etcd_data}}
MARKER={{marker}}
CLUSTER_ID={{cluster_id}}
MEMBER={{member}}
say() { echo "resilient-stack: $*"; }

# The PostgreSQL package's own cluster runs from the root disk's directory under $MOUNT (Debian starts it at boot,
# before cloud-init gets here): stopped, and kept from starting again, before the volume hides that directory. A
# server left running under the mount writes its control file by absolute path into the volume's data directory:
# found on a replaced host, whose retained data then claimed the package cluster's system id and Patroni refused it.
stop_package_cluster() {
    echo manual > {{start_conf}}
    systemctl stop {{pg_service}} || true
    if pgrep -x postgres >/dev/null; then
        say "a PostgreSQL server still runs from the root disk's $MOUNT: the volume is not mounted over it"
        exit 1
    fi
}

# virtio-blk disks carry the first 20 characters of the volume id as their serial (virtio-<serial> in
# /dev/disk/by-id); SCSI disks the whole id. Partitions are never candidates.
serial=${VOLUME_ID:0:20}
find_device() {
    local link name s
    for link in /dev/disk/by-id/*; do
        [ -e "$link" ] || continue
        case "$link" in *-part[0-9]*) continue ;; esac
        case "${link##*/}" in *"$serial"*) readlink -f "$link"; return 0 ;; esac
    done
    while read -r name s; do
        if [ -n "${s:-}" ] && [ "${s:0:20}" = "$serial" ]; then echo "$name"; return 0; fi
    done < <(lsblk -dnpo NAME,SERIAL 2>/dev/null || true)
    return 1
}

# Whose volume the file system mounted at $1 is: nothing when it is this member's or unused, else why not
whose() {
    local marker=$1/${MARKER#"$MOUNT"/} owner of
    if [ -f "$marker" ]; then
        owner=$(sed -n 's/^cluster=//p' "$marker"); of=$(sed -n 's/^member=//p' "$marker")
        if [ "$owner" != "$CLUSTER_ID" ]; then echo "the volume belongs to another cluster ($owner)"
        elif [ "$of" != "$MEMBER" ]; then echo "the volume belongs to another member of this cluster ($of)"
        fi
    elif find "$1" -mindepth 1 -maxdepth 1 ! -name lost+found | grep -q .; then
        echo "the volume holds data but no marker of this cluster"
    fi
}

if mountpoint -q "$MOUNT"; then
    say "$MOUNT is a mounted file system already: kept as it is"
else
    deadline=$((SECONDS + WAIT))
    until device=$(find_device); do
        [ "$SECONDS" -lt "$deadline" ] || { say "volume $VOLUME_ID is not attached after ${WAIT}s"; exit 1; }
        sleep 2
    done
    say "volume $VOLUME_ID is $device"
    if lsblk -nro MOUNTPOINT "$device" | grep -q .; then
        say "$device (or one of its partitions) is mounted elsewhere: not touched"
        exit 1
    fi
    fstype=$(blkid -p -o value -s TYPE "$device" 2>/dev/null || true)
    if [ -z "$fstype" ]; then
        # no file system: only a device without any signature (no partition table, nothing wipefs knows) is blank
        if [ -n "$(blkid -p -o value -s PTTYPE "$device" 2>/dev/null || true)" ] \
            || [ -n "$(wipefs --no-act --noheadings "$device" 2>/dev/null || true)" ]; then
            say "$device holds a partition table or an unknown signature: not formatted, not mounted"
            exit 1
        fi
        say "$device is blank: making an ext4 file system labelled $LABEL"
        mkfs.ext4 -q -L "$LABEL" "$device"
        fstype=ext4
    else
        say "$device holds a $fstype file system"
        probe=$(mktemp -d)
        options=ro; [ "$fstype" != ext4 ] || options=ro,noload  # noload: not even the journal is replayed
        mount -o "$options" "$device" "$probe" || { rmdir "$probe"; say "$device: its $fstype file system cannot be mounted: not used"; exit 1; }
        why=$(whose "$probe")
        umount "$probe" && rmdir "$probe"
        [ -z "$why" ] || { say "$why: not used, left as it is (docs/operations.md#a-refused-data-volume)"; exit 1; }
        say "$device: mounted as it is"
    fi
    uuid=$(blkid -p -o value -s UUID "$device")
    [ -n "$uuid" ] || { say "$device has no file system UUID"; exit 1; }
    stop_package_cluster
    install -d -m 0755 "$MOUNT"
    if ! grep -q "^UUID=$uuid " /etc/fstab; then
        printf '# resilient-stack data volume %s\nUUID=%s %s %s defaults,nofail,x-systemd.device-timeout=300 0 2\n' \
            "$VOLUME_ID" "$uuid" "$MOUNT" "$fstype" >> /etc/fstab
    fi
    systemctl daemon-reload
    mount "$MOUNT"
fi

why=$(whose "$MOUNT")
if [ -n "$why" ]; then
    say "$why: not used (docs/operations.md#a-refused-data-volume)"
    umount "$MOUNT" 2>/dev/null || true
    exit 1
fi
if [ -f "$MARKER" ]; then
    say "the volume is this member's ($MEMBER of cluster $CLUSTER_ID)"
else
    printf 'cluster=%s\nmember=%s\n' "$CLUSTER_ID" "$MEMBER" > "$MARKER.tmp"
    chmod 0644 "$MARKER.tmp" && mv "$MARKER.tmp" "$MARKER"
    say "a new volume: marked as $MEMBER's of cluster $CLUSTER_ID"
fi

# PostgreSQL's home (the data directory below it), and etcd's own directory on the same volume
chown postgres:postgres "$MOUNT"
chmod 0755 "$MOUNT"
install -d -o etcd -g etcd -m 0700 "$ETCD_DATA"
say "data volume ready at $MOUNT"
