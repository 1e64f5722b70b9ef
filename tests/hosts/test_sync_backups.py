"""When the backups run (``backups.schedule``): in a member's runtime document and first boot, and root's sync writing
it as the timers' drop-ins, run here as a module with its paths in a temporary directory and its commands recorded
(the calendars checked by the real ``systemd-analyze`` where the machine has it). On booted hosts: the fire drill's
backups site scenario takes its backups on a schedule of minutes (tests/integration/firedrill/test_live.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from resilient_stack.hosts import paths
from resilient_stack.hosts.backup import DIFF_CALENDAR, FULL_CALENDAR, SCHEDULE_DROP_IN, BackupSchedule
from tests.conftest import need_tool
from tests.hosts.samples import files, load, member, sync_of, web
from tests.hosts.test_sync_secrets import Recorder

EVERY_MINUTE = BackupSchedule(full="Sun *-*-* 02:00:00", diff="*:0/1", jitter_minutes=0)


class Systemd(Recorder):
    """Recorder whose ``systemd-analyze calendar`` refuses the calendars in ``refuse``."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.refuse = refuse

    def __call__(self, cmd, **kw):
        result = super().__call__(cmd, **kw)
        if list(cmd[:2]) == ["systemd-analyze", "calendar"] and cmd[2] in self.refuse:
            result.returncode = 1
        return result


def runtime_of(doc: dict) -> dict:
    return json.loads(files(doc)[paths.RUNTIME_CONFIG]["content"])


@pytest.fixture
def db_sync(tmp_path, monkeypatch):
    module = sync_of(load(member()), tmp_path)
    monkeypatch.setattr(module, "SYSTEMD_UNITS", str(tmp_path / "systemd"))
    monkeypatch.setattr(module, "write_private", _as_me(module.write_private))
    module.recorder = Systemd()
    monkeypatch.setattr(module.subprocess, "run", module.recorder)
    return module


def _as_me(write_private):
    me = (os.getuid(), os.getgid())
    return lambda path, text, owner, mode=0o600: write_private(path, text, me, mode)


def drop_in(tmp_path, kind: str) -> str:
    return (tmp_path / "systemd" / f"{paths.BACKUP_TIMER.format(kind=kind)}.d" / SCHEDULE_DROP_IN).read_text()


def test_a_members_runtime_and_first_boot_carry_the_schedule_a_web_host_none(tmp_path):
    default = runtime_of(load(member()))["backup_schedule"]
    assert default == {"full": FULL_CALENDAR, "diff": DIFF_CALENDAR, "jitter_s": 900}
    doc = load(member(backup_schedule=EVERY_MINUTE))
    assert runtime_of(doc)["backup_schedule"] == {"full": "Sun *-*-* 02:00:00", "diff": "*:0/1", "jitter_s": 0}
    timer = files(doc)[f"{paths.SYSTEMD_DIR}/{paths.BACKUP_TIMER.format(kind='diff')}"]["content"]
    assert "OnCalendar=*:0/1\n" in timer and "RandomizedDelaySec=0\n" in timer  # a replaced member boots on it
    assert "backup_schedule" not in runtime_of(load(member(backup=None)))
    assert "backup_schedule" not in runtime_of(load(web()))
    assert sync_of(load(web()), tmp_path).BACKUP_TIMERS == {}


def test_the_sync_writes_the_timers_drop_ins_and_restarts_only_what_changed(db_sync, tmp_path):
    assert db_sync.apply_backup_schedule(EVERY_MINUTE.document()) == [
        "backup schedule (resilient-stack-backup-diff.timer, resilient-stack-backup-full.timer)"
    ]
    assert drop_in(tmp_path, "diff").splitlines()[1:] == [
        "[Timer]",
        "OnCalendar=",
        "OnCalendar=*:0/1",
        "RandomizedDelaySec=0",
    ]
    assert "OnCalendar=Sun *-*-* 02:00:00\n" in drop_in(tmp_path, "full")
    calls = db_sync.recorder.calls
    assert calls[-2:] == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "try-restart", "resilient-stack-backup-diff.timer", "resilient-stack-backup-full.timer"],
    ]
    calls.clear()
    assert db_sync.apply_backup_schedule(EVERY_MINUTE.document()) == []  # the same schedule: nothing restarted
    assert all(c[0] == "systemd-analyze" for c in calls)
    later = BackupSchedule(full="Sun *-*-* 02:00:00", diff="*:0/5", jitter_minutes=0).document()
    assert db_sync.apply_backup_schedule(later) == ["backup schedule (resilient-stack-backup-diff.timer)"]
    assert calls[-1] == ["systemctl", "try-restart", "resilient-stack-backup-diff.timer"]


def test_a_calendar_systemd_refuses_changes_nothing_and_is_said(db_sync, tmp_path, capsys):
    db_sync.recorder.refuse = ("*:0/1",)
    assert db_sync.apply_backup_schedule(EVERY_MINUTE.document()) == [
        "backup schedule (resilient-stack-backup-full.timer)"
    ]
    assert not (tmp_path / "systemd" / f"{paths.BACKUP_TIMER.format(kind='diff')}.d").exists()
    assert "systemd refuses the diff calendar '*:0/1'" in capsys.readouterr().out


@pytest.mark.parametrize(
    "schedule",
    [
        {"full": FULL_CALENDAR, "diff": DIFF_CALENDAR},
        {"full": FULL_CALENDAR, "diff": "daily\nExecStart=/bin/sh", "jitter_s": 0},
        {"full": FULL_CALENDAR, "diff": DIFF_CALENDAR, "jitter_s": True},
        {"full": FULL_CALENDAR, "diff": DIFF_CALENDAR, "jitter_s": -1},
        {"full": FULL_CALENDAR, "diff": DIFF_CALENDAR, "jitter_s": 900, "incr": "hourly"},
        "Sun 02:00",
    ],
)
def test_the_sync_refuses_a_schedule_it_could_not_write_safely(db_sync, schedule):
    with pytest.raises(ValueError, match="backup_schedule must hold"):
        db_sync.check({"v": 1, "backup_schedule": schedule})


@pytest.mark.parametrize("value", ["daily; reboot", "Sun\n02:00", "", 7])
def test_the_hosts_layer_refuses_what_the_timers_could_not_take(value):
    with pytest.raises(ValueError, match="must be a systemd OnCalendar expression"):
        BackupSchedule(diff=value)
    with pytest.raises(ValueError, match="jitter_minutes must be an int in 0..720"):
        BackupSchedule(jitter_minutes=721)


def test_systemd_reads_the_default_calendars_and_a_schedule_of_minutes():
    """The real ``systemd-analyze`` (the check the sync runs on the host) takes what the stack ships and documents."""
    need_tool(shutil.which("systemd-analyze") is not None, "systemd-analyze is not installed (Debian's systemd)")
    for calendar in (FULL_CALENDAR, DIFF_CALENDAR, "*:0/1", "*:0/5"):
        proc = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    assert subprocess.run(["systemd-analyze", "calendar", "every minute"], capture_output=True).returncode != 0
