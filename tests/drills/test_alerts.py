"""What the drill's alert receiver heard (issue 23): each alert's notifications per scenario, and the report's line."""

from __future__ import annotations

import json

from resilient_stack.drills import alerts
from resilient_stack.drills.report import FiredrillReport, alert_line, render_markdown, render_text
from tests.drills.test_report import scenario

FIRE = 1_800_000_000.0
GRA = "Gravelines campus (FR)"


def note(t: float, status: str, *items: tuple[str, dict, str]) -> str:
    body = {
        "status": status,
        "alerts": [{"status": s, "labels": {"alertname": name, **labels}} for name, labels, s in items],
    }
    return json.dumps({"t": t, "body": body})


LOG = [
    note(FIRE - 30, "firing", ("WebUnhealthy", {"instance": "w1", "site": "x"}, "firing")),  # before the fire
    note(FIRE + 59, "firing", ("Failover", {"instance": "shop-waw-db", "site": "Warsaw (PL)"}, "firing")),
    note(FIRE + 59, "firing", ("SiteDown", {"site": GRA, "severity": "critical"}, "firing")),
    "{cut short",  # a line the receiver was still writing
    note(FIRE + 119, "resolved", ("SiteDown", {"site": GRA}, "resolved")),
    note(FIRE + 400, "firing", ("SiteDown", {"site": "Warsaw (PL)"}, "firing")),  # the next scenario's
]


def test_each_alert_of_a_window_with_its_notifications_and_times():
    heard = alerts.heard(alerts.parse(LOG), FIRE, FIRE + 300)
    assert [h.as_dict() for h in heard] == [
        {
            "alert": "Failover",
            "site": "Warsaw (PL)",
            "instance": "shop-waw-db",
            "notifications": 1,
            "first_s": 59.0,
            "resolved_s": None,
        },
        {"alert": "SiteDown", "site": GRA, "notifications": 1, "first_s": 59.0, "resolved_s": 119.0},
    ]
    assert alerts.site_down(heard, GRA) is heard[1] and alerts.site_down(heard, "Warsaw (PL)") is None
    # a duplicate (two Alertmanagers that did not agree) is counted, not hidden
    twice = alerts.parse([*LOG, note(FIRE + 74, "firing", ("SiteDown", {"site": GRA}, "firing"))])
    assert alerts.site_down(alerts.heard(twice, FIRE, FIRE + 300), GRA).firing == 2


def test_the_receiver_is_the_visitors_and_the_report_says_what_was_heard():
    assert alerts.receiver_url("198.19.0.2") == "http://198.19.0.2:9095/alerts"
    heard = [h.as_dict() for h in alerts.heard(alerts.parse(LOG), FIRE, FIRE + 300)]
    assert alert_line(heard) == (
        "Failover (Warsaw (PL)) x1 at 59 s; SiteDown (Gravelines campus (FR)) x1 at 59 s, resolved at 119 s"
    )
    assert alert_line([]) == "none received"
    sc = scenario()
    sc.alerts = heard
    report = FiredrillReport("production", "p.yaml", [sc])
    assert "alerts: Failover (Warsaw (PL)) x1 at 59 s" in render_text(report)
    assert "- alerts: Failover" in render_markdown(report)
    assert report.as_dict()["scenarios"][0]["alerts"] == heard
    assert scenario().as_dict()["alerts"] is None  # a stack without monitoring: nothing to hear


def test_a_resolution_that_comes_during_the_next_scenario_is_its_own_scenarios():
    log = alerts.parse(
        [
            note(FIRE + 59, "firing", ("SiteDown", {"site": GRA}, "firing")),
            note(FIRE + 300, "firing", ("SiteDown", {"site": "Warsaw (PL)"}, "firing")),  # the next fire at +240
            note(FIRE + 310, "resolved", ("SiteDown", {"site": GRA}, "resolved")),
            note(FIRE + 320, "resolved", ("HostDown", {"site": "Warsaw (PL)", "instance": "w"}, "resolved")),
        ]
    )
    first = alerts.heard(log, FIRE, FIRE + 240)
    assert [(h.name, h.firing, h.resolved_s) for h in first] == [("SiteDown", 1, 310.0)]
    second = alerts.heard(log, FIRE + 240)
    # Gravelines' resolution belongs to the first scenario; a resolution of what never fired is said where it came
    assert [(h.name, h.labels.get("site"), h.firing) for h in second] == [
        ("SiteDown", "Warsaw (PL)", 1),
        ("HostDown", "Warsaw (PL)", 0),
    ]


def test_an_alert_that_resolved_and_fires_again_is_the_later_scenarios():
    """BackupLate may fire in a failover's scenario (the new primary's first backup is late on a schedule of minutes)
    and again when the backup store burns: the second is the store's scenario's, heard there once."""
    log = alerts.parse(
        [
            note(FIRE + 100, "firing", ("BackupLate", {}, "firing")),
            note(FIRE + 160, "resolved", ("BackupLate", {}, "resolved")),
            note(FIRE + 700, "firing", ("BackupLate", {}, "firing")),  # the store burned at +500
            note(FIRE + 900, "resolved", ("BackupLate", {}, "resolved")),
        ]
    )
    store = alerts.heard(log, FIRE + 500, FIRE + 1000)
    assert alerts.backup_late(store).as_dict() == {
        "alert": "BackupLate",
        "notifications": 1,
        "first_s": 200.0,
        "resolved_s": 400.0,
    }
    # still firing when a window starts: the earlier scenario's, not this one's
    assert alerts.backup_late(alerts.heard(log, FIRE + 120, FIRE + 500)) is None


def test_the_drill_waits_for_the_backup_alert_only_on_a_schedule_of_minutes():
    assert alerts.backup_wait_s(0.05) == 0.05 * 3600 + 120  # 3 minutes, the rule's minute and a margin
    assert alerts.backup_wait_s(0.1) == 480.0
    assert alerts.backup_wait_s(26) is None  # the shipped schedule: a day later
