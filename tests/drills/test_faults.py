"""The fence verdict of the drill's pause and partition (resilient_stack.drills.faults): pure, from probe lines."""

from __future__ import annotations

from resilient_stack.drills.faults import FenceAttempt, fence_started, fence_verdict, parse_fence_line


def acks(member_times, status="ok", length=0.01):
    return [FenceAttempt(t, t + length, status) for t in member_times]


def ticks(start, end, step=0.2):
    out, t = [], start
    while t < end:
        out.append(round(t, 3))
        t += step
    return out


def test_a_clean_handover_has_no_two_writable_members():
    attempts = {
        "gra": acks(ticks(0, 10)) + [FenceAttempt(t, t + 50, "ok") for t in ()],  # acknowledged until the fault (t=10)
        "waw": acks(ticks(0, 40), "ro") + acks(ticks(40.4, 60)),  # a replica, then promoted at 40 s
        "ik": acks(ticks(0, 60), "ro"),
    }
    verdict = fence_verdict(attempts, fault_at=10.0)
    assert verdict["ok"] and verdict["two_writable"] == 0
    assert verdict["handover"] == {"old": "gra", "last_ack_old": 0.01, "new": "waw", "first_ack_new": 30.41}
    assert verdict["members"]["waw"]["acknowledged_after_fault"] == len(ticks(40.4, 60))
    assert verdict["members"]["ik"]["refused"] == len(ticks(0, 60))


def test_two_members_acknowledging_writes_at_once_fail():
    """The thawed primary that takes the key back: both acknowledge writes for a while."""
    attempts = {"gra": acks(ticks(0, 10)) + acks(ticks(45, 50)), "waw": acks(ticks(40, 50))}
    verdict = fence_verdict(attempts, fault_at=10.0)
    assert not verdict["ok"] and verdict["two_writable"] > 0
    assert all(o["members"] == ["gra", "waw"] for o in verdict["overlaps"])


def test_an_unconfirmed_or_late_commit_is_not_an_acknowledgement():
    """A commit whose synchronous wait was cancelled, or that the probe stopped waiting for, is not acknowledged:
    only a commit that returned ok, at the time it returned, counts."""
    attempts = {"gra": acks(ticks(0, 10)) + acks(ticks(10, 60), "unconfirmed"), "waw": acks(ticks(40, 60))}
    assert fence_verdict(attempts, fault_at=10.0)["ok"]
    # a commit the cut-off primary acknowledged late (its answer came after the new primary's first) does count
    late = {"gra": acks(ticks(0, 10)) + [FenceAttempt(12.0, 41.0, "ok")], "waw": acks(ticks(40, 60))}
    assert not fence_verdict(late, fault_at=10.0)["ok"]


def test_the_probe_lines_are_read_and_garbage_is_skipped():
    assert parse_fence_line("1700000000.100 1700000000.150 ok -\n") == FenceAttempt(
        1700000000.1, 1700000000.15, "ok", "-"
    )
    assert parse_fence_line("1.0 2.0 err connection refused\n").detail == "connection refused"
    for bad in ("end\n", "", "x y z\n", "1.0\n"):
        assert parse_fence_line(bad) is None


def test_the_fault_waits_for_a_commit_of_the_primary_and_an_answer_of_every_probe():
    """Striking before the primary's probe committed leaves no handover to judge (a CI run on a busy machine)."""
    assert not fence_started({"gra": [], "waw": [], "ik": []}, "gra")
    assert not fence_started({"gra": acks([1.0], "err"), "waw": acks([1.0], "ro"), "ik": acks([1.0], "ro")}, "gra")
    assert not fence_started({"gra": acks([1.0]), "waw": acks([1.0], "ro"), "ik": []}, "gra")
    assert fence_started({"gra": acks([1.0]), "waw": acks([1.0], "ro"), "ik": acks([1.1], "ro")}, "gra")
    assert not fence_started({"gra": acks([1.0], "ro"), "waw": acks([1.0]), "ik": acks([1.1], "ro")}, "gra")


def test_a_verdict_without_an_acknowledgement_before_the_fault_has_no_handover():
    verdict = fence_verdict({"gra": acks([11.0]), "waw": acks([12.0], "ro")}, fault_at=10.0)
    assert verdict["handover"] is None
