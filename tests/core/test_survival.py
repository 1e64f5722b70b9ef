"""The paper drill: what each loss leaves, and when it is a failure."""

from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.placement import place
from resilient_stack.core.survival import drill

CAT = load_catalog()


def P(name, role, region, **kw):
    return place(CAT, resource=name, role=role, region=region, cloud="ovh", **kw)


def test_a_quorum_role_that_loses_its_majority_is_writes_down():
    ps = [
        P("db1", "database", "GRA11", quorum=True),
        P("db2", "database", "GRA9", quorum=True),
        P("db3", "database", "WAW1", quorum=True),
        P("w1", "web", "GRA11"),
        P("w2", "web", "WAW1"),
    ]
    by_site = {s.name: s for s in drill(ps, "site")}
    gra = by_site["Gravelines campus (FR)"]
    assert gra.roles["database"] == (1, 3) and gra.quorum_lost == ("database",)
    assert not gra.service_survives and "database" in gra.down_roles
    waw = by_site["Warsaw (PL)"]
    assert waw.service_survives and waw.quorum_lost == ()


def test_quorum_roles_from_the_config_vote_too():
    ps = [P("db1", "database", "GRA11"), P("db2", "database", "WAW1")]
    assert all(s.service_survives for s in drill(ps, "site"))  # nobody votes: one copy is enough to serve
    assert not any(s.service_survives for s in drill(ps, "site", quorum_roles={"database"}))  # 1 of 2 is no majority
