"""The design file: what the auditor reads before anything is deployed."""

from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.design import parse_design
from resilient_stack.core.rules import evaluate

CAT = load_catalog()


def design(**extra):
    raw = {
        "name": "shop",
        "placements": [
            {"name": "sbg5", "cloud": "ovh", "region": "SBG5", "replicas": {"web": 1, "database": 1}},
            {"name": "sbg7", "cloud": "ovh", "region": "SBG7", "replicas": {"web": 1, "database": 1}},
            {"name": "gra", "cloud": "ovh", "region": "GRA11", "replicas": {"web": 1, "database": 1}},
        ],
    }
    raw.update(extra)
    return parse_design(raw, "test")


def test_top_level_quorum_roles_make_every_replica_of_the_role_vote():
    voting = [p for p in design(quorum_roles=["database"]).placements_for(CAT) if p.quorum]
    assert sorted(p.resource for p in voting) == ["gra/database/1", "sbg5/database/1", "sbg7/database/1"]
    report = evaluate(design(quorum_roles=["database"]).placements_for(CAT), catalog=CAT)
    majority = [f for f in report.findings if f.rule == "site-majority"]
    assert [f.role for f in majority] == ["database"] and majority[0].blocking
    assert "2 of 3 `database` voting members" in majority[0].message


def test_without_quorum_roles_nobody_votes():
    assert not [p for p in design().placements_for(CAT) if p.quorum]
    assert "site-majority" not in {f.rule for f in evaluate(design().placements_for(CAT)).findings}
