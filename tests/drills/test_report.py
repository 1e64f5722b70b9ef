"""resilient_stack.drills.report: RTO, RPO, failover choice, verdicts and renderers (pure, no podman)."""

from __future__ import annotations

import json

import pytest

from resilient_stack.drills.report import (
    Attempt,
    Event,
    FiredrillReport,
    Prediction,
    RpoResult,
    ScenarioResult,
    classify,
    compute_rpo,
    most_advanced,
    parse_lsn,
    recovery_seconds,
    render_json,
    render_markdown,
    render_text,
)

FIRE = 1000.0


def ok(start, end=None):
    return Attempt(start, end if end is not None else start + 0.05, True)


def ko(start, end=None):
    return Attempt(start, end if end is not None else start + 0.05, False, "boom")


# -- RTO ------------------------------------------------------------------------------------------


def test_rto_is_zero_when_nothing_failed_after_the_fire():
    assert recovery_seconds([ko(990), ok(999), ok(1001), ok(1002)], FIRE) == 0.0


def test_rto_is_zero_without_any_attempt_after_the_fire():
    assert recovery_seconds([ok(990)], FIRE) == 0.0


def test_rto_is_the_first_success_after_the_last_failure():
    attempts = [ok(999), ko(1000.5), ok(1001, 1001.2), ko(1002), ok(1003, 1003.4), ok(1004)]
    assert recovery_seconds(attempts, FIRE) == pytest.approx(3.4)


def test_rto_is_none_when_still_down_at_the_end():
    assert recovery_seconds([ok(999), ko(1001), ko(1005)], FIRE) is None


def test_an_attempt_in_flight_at_the_fire_counts():
    assert recovery_seconds([Attempt(999.5, 1002.5, False), ok(1002.6, 1002.7)], FIRE) == pytest.approx(2.7)


def test_rto_counts_from_the_fire_even_when_the_success_overlaps_it():
    # a success that started before the last failure does not end the outage
    assert recovery_seconds([Attempt(1000.1, 1009, True), ko(1001), ok(1002, 1002.5)], FIRE) == pytest.approx(2.5)


# -- RPO ------------------------------------------------------------------------------------------


def acks(*rows, before=FIRE):
    """row -> ack time: rows acknowledged one every 0.1 s, the last just before ``before``."""
    return {n: before - 0.1 * (len(rows) - i) for i, n in enumerate(rows)}


def test_rpo_zero_when_every_acknowledged_row_is_there():
    a = {**acks(1, 2, 3), 10: FIRE + 5, 11: FIRE + 6}
    r = compute_rpo(a, [1, 2, 3, 4, 10, 11], FIRE)  # row 4: committed, never acknowledged: fine
    assert r.rows == 0 and r.lost == () and r.survivor_read and r.tail_only
    assert r.acknowledged == 5 and r.acknowledged_before_fire == 3


def test_rpo_async_tail():
    r = compute_rpo(acks(1, 2, 3, 4, 5), [1, 2, 3], FIRE)
    assert r.lost == (4, 5) and r.rows == 2
    assert r.tail_only
    assert r.lost_window_s == pytest.approx(0.2)


def test_rpo_a_hole_is_not_what_async_replication_promises():
    r = compute_rpo(acks(1, 2, 3, 4, 5), [1, 2, 4, 5], FIRE)
    assert r.lost == (3,) and not r.tail_only


def test_rpo_losing_a_row_acknowledged_after_the_fire_breaks_the_promise():
    a = {**acks(1, 2), 7: FIRE + 3}
    r = compute_rpo(a, [1, 2], FIRE)
    assert r.lost == (7,) and not r.tail_only


def test_rpo_without_any_surviving_copy_loses_everything():
    r = compute_rpo(acks(1, 2, 3), None, FIRE)
    assert r.lost == (1, 2, 3) and not r.survivor_read and not r.tail_only
    assert r.lost_window_s == pytest.approx(0.3)
    assert compute_rpo({}, None, FIRE).rows == 0


def test_rpo_as_dict():
    d = compute_rpo(acks(1, 2), [1], FIRE).as_dict()
    assert d["rows_lost"] == 1 and d["lost"] == [2] and d["lost_rows_are_async_tail"] is True


# -- failover -------------------------------------------------------------------------------------


def test_parse_lsn():
    assert parse_lsn("0/3000148") == 0x3000148
    assert parse_lsn("1/0") == 1 << 32
    assert parse_lsn("") is None and parse_lsn(None) is None and parse_lsn("zz/1") is None


def test_the_most_advanced_members():
    """What Patroni is expected to promote: the surviving replica(s) that received the most WAL."""
    assert most_advanced({"waw": "0/5000000", "ik": "0/6000000"}) == ["ik"]
    assert most_advanced({"ik": "0/6000000", "waw": "0/6000000"}) == ["ik", "waw"]
    assert most_advanced({"waw": None, "ik": "0/1"}) == ["ik"]
    assert most_advanced({"waw": None}) == ["waw"]
    assert most_advanced({}) == []


# -- verdicts -------------------------------------------------------------------------------------


def rpo(**kw):
    base = dict(
        acknowledged=10, acknowledged_before_fire=5, lost=(), survivor_read=True, tail_only=True, lost_window_s=None
    )
    return RpoResult(**{**base, **kw})


def test_classify():
    assert classify(0.0, 4.0, rpo()) == (True, "intact")
    assert classify(0.0, 4.0, rpo(lost=(5,), lost_window_s=0.05)) == (True, "async-tail")
    assert classify(0.0, 4.0, rpo(lost=(3,), tail_only=False)) == (True, "lost")
    assert classify(None, None, rpo(lost=(1, 2), survivor_read=False, tail_only=False)) == (False, "lost")
    assert classify(0.0, None, rpo()) == (False, "intact")


HEALED = {
    "primaries": ["waw"],
    "rebuilt_replicas": ["ik"],
    "stale_replicas": [],
    "etcd": {"members": 3, "healthy": ["waw", "ik"], "majority": True},
    "ok": True,
    "healed_s": 13.1,
}


def scenario(*, rto_web=0.0, rto_writes=4.6, r=None, predicted=(True, True), cluster=HEALED, rejoin=None):
    return ScenarioResult(
        site="Gravelines campus (FR)",
        site_id="ovh-gravelines",
        placements=("gra",),
        killed=("shop-gra-db", "shop-gra-web-1"),
        prediction=Prediction(*predicted),
        fire_at=FIRE,
        rto_web=rto_web,
        rto_writes=rto_writes,
        rpo=r or rpo(),
        failover={"old_primary": "gra", "promoted": "waw"},
        cluster=cluster,
        rejoin=rejoin if rejoin is not None else {"database": "gra", "rejoined_as": "replica", "ok": True},
        timeline=[
            Event(FIRE - 60, "boot", "booted"),
            Event(FIRE, "fire", "gra burns"),
            Event(FIRE + 4.6, "recovery", "writes back"),
        ],
        notes=["replica(s) ik still follow the burned primary"],
    )


def test_exit_code_zero_only_when_everything_survived_as_predicted():
    assert FiredrillReport("production", "p.yaml", [scenario()]).exit_code == 0
    lost = scenario(
        rto_web=None, rto_writes=None, r=rpo(lost=(1,), survivor_read=False, tail_only=False), predicted=(False, False)
    )
    assert lost.matches_prediction and not lost.survived
    assert FiredrillReport("sbg2021", "s.yaml", [lost], rejected_rules=("single-site",)).exit_code == 1
    surprise = scenario(predicted=(False, False))  # survived although the paper drill said it would not
    assert not surprise.matches_prediction
    assert FiredrillReport("x", "x.yaml", [scenario(), surprise]).exit_code == 1
    assert FiredrillReport("x", "x.yaml", []).exit_code == 1


def test_a_cluster_that_did_not_heal_fails_the_drill():
    stale = scenario(cluster={**HEALED, "stale_replicas": ["ik"], "ok": False})
    assert stale.matches_prediction and not stale.cluster_ok and not stale.survived
    assert FiredrillReport("p", "p.yaml", [stale]).exit_code == 1
    forked = scenario(rejoin={"database": "gra", "rejoined_as": "primary", "ok": False})
    assert not forked.survived and FiredrillReport("p", "p.yaml", [forked]).exit_code == 1
    assert "a cluster did NOT heal" in render_text(FiredrillReport("p", "p.yaml", [forked]))
    nothing_survived = scenario(cluster=None, rejoin={})
    nothing_survived.rejoin = None
    assert nothing_survived.cluster_ok  # nothing to heal: the verdict is the lost data's


def test_json_report():
    rep = FiredrillReport("sbg2021", "s.yaml", [scenario()], rejected_rules=("backup-colocated", "single-site"))
    doc = json.loads(render_json(rep))
    assert doc["schema"] == "resilient-stack/firedrill/v1"
    assert doc["design"] == {
        "accepted": False,
        "rejected_by": ["backup-colocated", "single-site"],
        "config_overrides": {},
    }
    assert "asynchronous" in doc["replication"]["mode"] and "Patroni" in doc["replication"]["mode"]
    sc = doc["scenarios"][0]
    assert sc["rto_web_s"] == 0.0 and sc["rto_writes_s"] == 4.6 and sc["rpo"]["rows_lost"] == 0
    assert sc["measured"] == {"service_survives": True, "data_survives": True, "data": "intact"}
    assert sc["predicted"]["service_survives"] is True and sc["matches_prediction"] is True
    assert [e["t_fire_s"] for e in sc["timeline"]] == [-60.0, 0.0, 4.6]
    assert sc["cluster"]["rebuilt_replicas"] == ["ik"] and sc["rejoin"]["rejoined_as"] == "replica"
    assert sc["healed"] is True
    assert doc["verdict"] == "pass" and doc["exit_code"] == 0


def test_text_report():
    out = render_text(FiredrillReport("sbg2021", "s.yaml", [scenario(rto_web=None)], rejected_rules=("single-site",)))
    assert "DESIGN REJECTED" in out and "single-site" in out
    assert "Gravelines campus (FR)" in out and "never" in out and "4.6 s" in out
    assert "T    +0.0s  fire" in out and "note: replica(s) ik" in out
    assert "exit 1" in out


def test_markdown_report():
    out = render_markdown(FiredrillReport("production", "p.yaml", [scenario()]))
    assert out.startswith("## Live fire drill: `production`")
    assert "| site burned | hosts killed | RTO web | RTO writes | RPO rows | predicted | measured | match |" in out
    assert "| Gravelines campus (FR) | 2 | 0.0 s | 4.6 s | 0 of 10 | UP / safe | UP / safe | yes |" in out
    assert "```" in out and "exit 0" in out
