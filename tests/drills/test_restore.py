"""resilient_stack.drills.restore's pure parts and the restore scenario's verdicts (no podman)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resilient_stack.drills import restore
from resilient_stack.drills.plan import build_plan
from resilient_stack.drills.report import FiredrillReport, RpoResult, ScenarioResult, render_json, render_text

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "stacks" / "Pulumi.production.yaml"


def test_the_archived_boundary_is_the_last_moment_the_primary_wrote_an_archived_segment():
    seg = "0000000100000000000000{:02X}".format
    samples = [(10.0, seg(5), seg(4)), (11.0, seg(5), seg(4)), (12.0, seg(6), seg(5)), (13.0, seg(6), seg(5))]
    # segment 5 archived by the fire; the primary wrote it until t=11 (then 6, not archived)
    assert restore.archived_boundary(samples) == 11.0
    assert restore.archived_boundary([(10.0, seg(5), "")]) is None  # nothing archived
    assert restore.archived_boundary([]) is None
    # archived beyond every sample: the whole sampled window is in the archive
    assert restore.archived_boundary([(10.0, seg(5), seg(7)), (11.0, seg(6), seg(7))]) == 11.0


def test_only_rows_acknowledged_after_the_boundary_may_be_lost():
    acks = {1: 10.0, 2: 11.0, 3: 12.0, 4: 13.0}
    assert restore.unarchived_tail_only(acks, [3, 4], 11.0)
    assert not restore.unarchived_tail_only(acks, [2, 3, 4], 11.0)
    assert restore.unarchived_tail_only(acks, [1, 2, 3, 4], None)  # nothing archived: all of it is the tail


@pytest.fixture(scope="module")
def plans():
    plan = build_plan(PRODUCTION)
    restored = build_plan(
        PRODUCTION,
        plan.internet,
        config_overrides=restore.restore_overrides(plan.config),
        shown_overrides=restore.RESTORE_SETTING,
    )
    return plan, restored


def test_the_restore_plan_differs_by_the_one_setting_and_says_so(plans):
    plan, restored = plans
    assert plan.config_overrides == {}
    assert restored.config_overrides == {"resilient-stack:database.bootstrapFrom": "backup"}
    assert [h.name for h in plan.hosts] == [h.name for h in restored.hosts]
    assert [h.public_ip for h in plan.hosts] == [h.public_ip for h in restored.hosts]  # the same addresses
    for before, after in zip(plan.hosts, restored.hosts):
        if before.role in ("web", "monitoring"):
            assert before.user_data == after.user_data
        else:
            assert "resilient-stack-restore" in after.user_data and "resilient-stack-restore" not in before.user_data
    assert restored.config.database.app_database == plan.config.database.app_database == "shop"


def test_every_database_site_burns_and_the_paper_drill_keeps_the_data_in_the_backups(plans):
    plan, _ = plans
    burned = restore.database_sites(plan)
    assert plan.backup_site not in burned and len(burned) == 3
    p = restore.prediction(plan, burned)
    assert (p.service_survives, p.data_survives, p.data_lost) == (False, True, ())
    assert set(p.down_roles) == {"database", "web", "monitoring"}  # production watches from two members' sites


def _scenario(lost, tail_only, ok=True, rto=240.0):
    rpo = RpoResult(100, 100, tuple(lost), True, True, 1.0 if lost else None)
    return ScenarioResult(
        site="every site",
        site_id="restore",
        placements=("gra",),
        killed=("x",),
        prediction=None,
        fire_at=1000.0,  # type: ignore[arg-type]  (set by the caller)
        rto_web=rto,
        rto_writes=rto,
        rpo=rpo,
        restore={"ok": ok, "lost_only_unarchived_tail": tail_only},
    )


@pytest.mark.parametrize(
    "lost, tail_only, ok, code, data",
    [
        ((), True, True, 0, "intact"),
        ((99, 100), True, True, 0, "unarchived-tail"),
        ((50, 99, 100), False, True, 1, "lost"),
        ((), True, False, 1, "lost"),
    ],
)
def test_the_restore_verdict(plans, lost, tail_only, ok, code, data):
    plan, _ = plans
    s = _scenario(lost, tail_only, ok)
    s.prediction = restore.prediction(plan, restore.database_sites(plan))
    assert s.data_outcome == data
    report = FiredrillReport(
        stack="production", source="x", scenarios=[s], config_overrides=dict(restore.RESTORE_SETTING)
    )
    assert report.exit_code == code
    doc = json.loads(render_json(report))
    assert doc["design"]["config_overrides"] == {"resilient-stack:database.bootstrapFrom": "backup"}
    assert doc["scenarios"][0]["restore"]["lost_only_unarchived_tail"] is tail_only
    assert "restored (unarchived tail lost)" in render_text(report) or data != "unarchived-tail"


def test_a_restore_that_never_accepts_writes_fails(plans):
    plan, _ = plans
    s = _scenario((), True, ok=True, rto=None)
    s.prediction = restore.prediction(plan, restore.database_sites(plan))
    assert FiredrillReport(stack="production", source="x", scenarios=[s]).exit_code == 1
