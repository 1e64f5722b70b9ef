"""resilient_stack.drills.cluster without containers: the probe's answers, the verdict on the survivors, and the
lines of Patroni's journal the timeline shows."""

from __future__ import annotations

from resilient_stack.drills import cluster
from resilient_stack.drills.cluster import MemberState

ADDRESSES = {"gra": "198.18.42.10", "waw": "198.18.42.15", "ik": "198.18.42.13"}


def test_parse_probe():
    s = cluster.parse_probe(
        "waw", "role=replica\nreceiver=streaming 198.18.42.13\ntimeline=2\nlsn=0/7009F50\netcd=healthy\n"
    )
    assert s == MemberState("waw", True, "replica", "198.18.42.13", 2, "0/7009F50", True)
    down = cluster.parse_probe("gra", "role=\nreceiver=\ntimeline=\nlsn=\netcd=down\n")
    assert down == MemberState("gra", True, None, None, None, None, False)
    catching_up = cluster.parse_probe("ik", "role=replica\nreceiver=starting -\ntimeline=1\nlsn=0/1\netcd=healthy\n")
    assert catching_up.streaming_from is None


def test_a_healed_cluster_after_the_primary_burned():
    chk = cluster.check(
        [
            MemberState("gra", False),
            MemberState("waw", True, "replica", ADDRESSES["ik"], etcd_healthy=True),
            MemberState("ik", True, "primary", etcd_healthy=True),
        ],
        ADDRESSES,
    )
    assert chk.ok and chk.primary == "ik" and chk.rebuilt_replicas == ("waw",) and chk.etcd_majority
    assert chk.as_dict() == {
        "primaries": ["ik"],
        "rebuilt_replicas": ["waw"],
        "stale_replicas": [],
        "etcd": {"members": 3, "healthy": ["waw", "ik"], "majority": True},
        "ok": True,
    }
    assert chk.describe() == "primary ik; streaming from it: waw; etcd 2/3 healthy"


def test_a_replica_still_following_the_burned_primary_is_stale():
    chk = cluster.check(
        [
            MemberState("gra", False),
            MemberState("waw", True, "replica", None, etcd_healthy=True),
            MemberState("ik", True, "primary", etcd_healthy=True),
        ],
        ADDRESSES,
    )
    assert not chk.ok and chk.stale_replicas == ("waw",) and "NOT streaming from it: waw" in chk.describe()


def test_two_primaries_or_none_is_not_healed():
    two = cluster.check(
        [
            MemberState("gra", True, "primary", etcd_healthy=True),
            MemberState("waw", True, "primary", etcd_healthy=True),
            MemberState("ik", False),
        ],
        ADDRESSES,
    )
    assert not two.ok and two.primary is None and "2 primaries (gra, waw)" in two.describe()
    none = cluster.check(
        [
            MemberState("gra", False),
            MemberState("waw", True, "replica", etcd_healthy=True),
            MemberState("ik", True, "replica", etcd_healthy=True),
        ],
        ADDRESSES,
    )
    assert not none.ok and none.describe().startswith("no primary")


def test_etcd_needs_a_majority_of_every_member_not_of_the_survivors():
    chk = cluster.check(
        [MemberState("gra", False), MemberState("waw", False), MemberState("ik", True, "primary", etcd_healthy=True)],
        ADDRESSES,
    )
    assert chk.primary == "ik" and not chk.etcd_majority and not chk.ok and "NO MAJORITY" in chk.describe()


JOURNAL = """\
1700000001.000000 shop-ik-db patroni[512]: 2023-11-14 22:13:21,000 INFO: no action. I am (shop-ik-db), a secondary, and following a leader (shop-gra-db)
1700000002.000000 shop-ik-db patroni[512]: 2023-11-14 22:13:22,000 INFO: no action. I am (shop-ik-db), a secondary, and following a leader (shop-gra-db)
1700000015.500000 shop-ik-db patroni[512]: 2023-11-14 22:13:35,500 INFO: promoted self to leader by acquiring session lock
1700000016.000000 shop-ik-db patroni[512]: 2023-11-14 22:13:36,000 INFO: Lock owner: shop-ik-db; I am shop-ik-db
1700000017.000000 shop-ik-db patroni[512]: 2023-11-14 22:13:37,000 INFO: Lock owner: shop-ik-db; I am shop-ik-db
-- No entries --
"""


def test_the_first_patroni_line_of_each_kind_is_an_event():
    assert cluster.patroni_events(JOURNAL, "shop-ik-db") == [
        (1700000001.0, "shop-ik-db: a secondary, and following a leader (shop-gra-db)"),
        (1700000015.5, "shop-ik-db: promoted self to leader by acquiring session lock"),
        (1700000016.0, "shop-ik-db: Lock owner: shop-ik-db; I am shop-ik-db"),
    ]
    assert cluster.patroni_events("", "x") == []
