# Managed by resilient_stack (cloud-init): a database member's backups, part of root's sync (runtime/sync.py): the
# repository's keys (the sealed document's) and the schedule (the runtime document's).
BACKUP_TIMERS = {{backup_timers}}  # kind -> the timer's unit; empty on a host without backups
SYSTEMD_UNITS = "{{systemd_dir}}"
SCHEDULE_DROP_IN = "{{drop_in}}"
CALENDAR = re.compile({{calendar_re}})
JITTER_MAX_S = {{jitter_max_s}}


def apply_backup(backup):
    lines = ["# Managed by resilient_stack (root's sync): the repository's keys and passphrase. 0640 postgres.",
             "[global]"]
    for key, option in (("key_id", "repo1-s3-key"), ("key_secret", "repo1-s3-key-secret"),
                        ("cipher_pass", "repo1-cipher-pass"), ("path", "repo1-path")):
        if key in backup:
            lines.append(f"{option}={backup[key]}")
    return write_private(PGBACKREST_SECRETS, "\n".join(lines) + "\n", ids("root", "postgres"), 0o640)


def check_backup_schedule(schedule):
    if not (isinstance(schedule, dict) and set(schedule) == {"full", "diff", "jitter_s"}
            and all(isinstance(schedule[k], str) and CALENDAR.fullmatch(schedule[k]) for k in ("full", "diff"))
            and type(schedule["jitter_s"]) is int and 0 <= schedule["jitter_s"] <= JITTER_MAX_S):
        raise ValueError("backup_schedule must hold the full and diff OnCalendar expressions and jitter_s")


def apply_backup_schedule(schedule):
    """The timers' drop-ins (``OnCalendar``, ``RandomizedDelaySec``): written when they changed, after systemd said
    it reads each calendar; systemd reloaded and the changed timers restarted, so the next run follows the new
    schedule. A calendar systemd refuses changes nothing and is said."""
    changed = []
    for kind, timer in sorted(BACKUP_TIMERS.items()):
        calendar = schedule[kind]
        probe = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True)
        if probe.returncode != 0:
            say(f"backup schedule: systemd refuses the {kind} calendar {calendar!r}: {timer} keeps its schedule")
            continue
        text = ("# Managed by resilient_stack (root's sync): backups.schedule of the stack configuration.\n"
                f"[Timer]\nOnCalendar=\nOnCalendar={calendar}\nRandomizedDelaySec={schedule['jitter_s']}\n")
        if write_private(f"{SYSTEMD_UNITS}/{timer}.d/{SCHEDULE_DROP_IN}", text, (0, 0), 0o644):
            changed.append(timer)
    if changed:
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        subprocess.run(["systemctl", "try-restart", *changed], check=True)
    return [f"backup schedule ({', '.join(changed)})"] if changed else []
