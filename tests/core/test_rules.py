"""Every rule both ways, on placements resolved through the real catalog."""

from datetime import date

import pytest

from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.placement import place
from resilient_stack.core.rules import RULE_IDS, Exemption, RuleConfig, evaluate

CAT = load_catalog()


def P(name, role, region, cloud="ovh", az=None, **kw):
    return place(CAT, resource=name, role=role, region=region, cloud=cloud, availability_zone=az, **kw)


def rules_of(report, blocking_only=True):
    return {f.rule for f in report.findings if f.blocking or not blocking_only}


def test_spread_design_passes():
    ps = [P("w1", "web", "GRA11"), P("w2", "web", "WAW1"), P("w3", "web", "dc4-a", cloud="infomaniak")]
    rep = evaluate(ps, catalog=CAT)
    assert rep.verdict == "pass" and rep.findings == ()


def test_single_building_fires_and_clears():
    bad = evaluate([P("w1", "web", "GRA11"), P("w2", "web", "GRA11")])
    assert "single-building" in rules_of(bad)
    good = evaluate(
        [P("w1", "web", "EU-WEST-PAR", az="eu-west-par-a"), P("w2", "web", "EU-WEST-PAR", az="eu-west-par-b")],
        RuleConfig(min_sites=1),
    )
    assert "single-building" not in rules_of(good) and good.verdict == "pass"


def test_unpinned_azs_cannot_prove_building_spread():
    rep = evaluate([P("w1", "web", "EU-WEST-PAR"), P("w2", "web", "EU-WEST-PAR")], RuleConfig(min_sites=1))
    assert "single-building" in rules_of(rep)


def test_single_site_fires_for_strasbourg_campus_and_clears():
    rep = evaluate([P("w1", "web", "SBG5"), P("w2", "web", "SBG7")], catalog=CAT)
    f = next(f for f in rep.findings if f.rule == "single-site")
    assert "single-building" not in rules_of(rep)  # two regions: two buildings, one site
    assert "Strasbourg" in f.message and "SBG5, SBG7" in f.message and "another site" in f.message
    assert "e.g. GRA11 or WAW1" in f.message
    assert "single-site" not in rules_of(evaluate([P("w1", "web", "SBG5"), P("w2", "web", "GRA11")]))


def test_min_sites_threshold_is_configurable():
    ps = [P("w1", "web", "SBG5"), P("w2", "web", "GRA11")]
    assert "single-site" in rules_of(evaluate(ps, RuleConfig(min_sites=3)))


def test_single_provider_is_advisory_by_default_and_mandatory_when_strict():
    ps = [P("w1", "web", "SBG5"), P("w2", "web", "GRA11")]
    rep = evaluate(ps)
    f = next(f for f in rep.findings if f.rule == "single-provider")
    assert f.level == "advisory" and rep.verdict == "pass"
    strict = evaluate(ps, RuleConfig(profile="strict"))
    assert strict.verdict == "fail" and "single-provider" in rules_of(strict)
    two = evaluate(ps + [P("w3", "web", "dc4-a", cloud="infomaniak")], RuleConfig(profile="strict"))
    assert two.verdict == "pass"


def test_backup_colocated_fires_and_clears():
    db = [P("d1", "database", "SBG5"), P("d2", "database", "GRA11")]
    on_campus = P("b1", "backup", "SBG7", protects="database")
    rep = evaluate(db + [on_campus])
    assert "backup-colocated" in rules_of(rep)
    off_site = P("b2", "backup", "DE1", protects="database")
    assert "backup-colocated" not in rules_of(evaluate(db + [on_campus, off_site]))


def test_site_majority_fires_when_losing_one_site_loses_quorum():
    members = [
        P("d1", "database", "GRA11", quorum=True),
        P("d2", "database", "GRA9", quorum=True),
        P("d3", "database", "WAW1", quorum=True),
    ]
    rep = evaluate(members)
    f = next(f for f in rep.findings if f.rule == "site-majority")
    assert f.level == "mandatory" and "2 of 3" in f.message and "Gravelines" in f.message
    spread = [
        P("d1", "database", "GRA11", quorum=True),
        P("d2", "database", "WAW1", quorum=True),
        P("d3", "database", "DE1", quorum=True),
    ]
    assert "site-majority" not in rules_of(evaluate(spread))


def test_site_majority_two_members_on_two_sites_cannot_keep_quorum():
    rep = evaluate([P("d1", "database", "GRA11", quorum=True), P("d2", "database", "WAW1", quorum=True)])
    assert "site-majority" in rules_of(rep)


def test_quorum_roles_from_config():
    ps = [P("d1", "database", "GRA11"), P("d2", "database", "GRA9"), P("d3", "database", "WAW1")]
    assert "site-majority" not in rules_of(evaluate(ps))
    assert "site-majority" in rules_of(evaluate(ps, RuleConfig(quorum_roles=frozenset({"database"}))))


def test_unknown_placement_fails_closed():
    ps = [P("w1", "web", "GRA11"), P("w2", "web", "RegionOne", cloud=None), P("w3", "web", "WAW1")]
    rep = evaluate(ps)
    f = next(f for f in rep.findings if f.rule == "unknown-placement")
    assert f.resources == ("w2",) and "RegionOne" in f.message and rep.verdict == "fail"


def test_a_typo_is_one_finding_with_a_suggestion_not_a_cascade():
    ps = [P("w1", "web", "GRA11"), P("w2", "web", "WAW 1", cloud="ovh")]
    rep = evaluate(ps)
    assert [f.rule for f in rep.findings] == ["unknown-placement"] and rep.verdict == "fail"
    assert "did you mean WAW1?" in rep.findings[0].message


def test_diversity_rules_fire_when_no_placement_of_the_unplaced_could_satisfy_them():
    # three replicas in GRA11 and one typo: even if the typo were fixed to another site, min_sites=3 fails
    ps = [P(f"w{i}", "web", "GRA11") for i in range(3)] + [P("w9", "web", "GRA111", cloud="ovh")]
    rep = evaluate(ps, RuleConfig(min_sites=3))
    f = next(f for f in rep.findings if f.rule == "single-site")
    assert f.message.startswith("3 of 4 `web` replicas are in site Gravelines") and "1 could not be placed" in f.message


def test_unresolved_replicas_never_count_as_diversity_when_unknown_placement_does_not_block():
    ps = [P("w1", "web", "GRA11"), P("w2", "web", "Nowhere", cloud="ovh")]
    rep = evaluate(ps, RuleConfig(levels={"unknown-placement": "disabled"}))
    assert {"single-site", "single-building"} <= rules_of(rep)
    assert "1 of 2 `web` replicas is in" in next(f for f in rep.findings if f.rule == "single-site").message


@pytest.mark.parametrize("region, char", [("WAW1\u00a0", "U+00A0"), ("WAW1\x1f", "U+001F"), ("U\u212a1", "U+212A")])
def test_names_that_only_look_right_are_unknown_placements(region, char):
    rep = evaluate([P("w1", "web", "GRA11"), P("w2", "web", region)])
    assert [f.rule for f in rep.findings] == ["unknown-placement"]
    assert char in rep.findings[0].message and "did you mean" in rep.findings[0].message


def test_ascii_whitespace_around_a_name_is_trimmed():
    assert P("w", "web", " WAW1\t").resolved and not P("w", "web", "WAW1 ").problem


LAB = Exemption("lab only, see RISK-12", "platform-team", date(2027, 3, 31))


def test_exemption_is_honoured_only_when_the_organisation_allows_it_and_always_listed():
    ps = [
        P("w1", "web", "GRA11", exempt="lab only, see RISK-12"),
        P("w2", "web", "GRA11", exempt="lab only, see RISK-12"),
    ]
    rep = evaluate(ps)  # a label alone: listed, not honoured
    assert rep.verdict == "fail" and not any(f.exempted for f in rep.findings)
    assert rep.as_dict()["exemptions"][0] == {
        "resource": "w1",
        "reason": "lab only, see RISK-12",
        "status": "not allowed",
    }
    allowed = RuleConfig(exemptions=(LAB,), today=date(2027, 3, 31))  # the last day still counts
    rep = evaluate(ps, allowed)
    assert rep.verdict == "pass"
    exempted = [f for f in rep.findings if f.exempted]
    assert exempted and all("RISK-12" in f.exempted for f in exempted)
    assert rep.as_dict()["exemptions"][0] == {
        "resource": "w1",
        "reason": "lab only, see RISK-12",
        "status": "honoured",
        "owner": "platform-team",
        "expires": "2027-03-31",
    }
    expired = RuleConfig(exemptions=(LAB,), today=date(2027, 4, 1))
    rep = evaluate(ps, expired)
    assert rep.verdict == "fail" and rep.as_dict()["exemptions"][0]["status"] == "expired"
    scoped = RuleConfig(
        exemptions=(Exemption(LAB.reason, LAB.owner, LAB.expires, frozenset({"single-provider"})),),
        today=date(2027, 1, 1),
    )
    rep = evaluate(ps, scoped)
    assert {f.rule for f in rep.findings if f.blocking} == {"single-building", "single-site"}
    assert {f.rule for f in rep.findings if f.exempted} == {"single-provider"}


def test_partial_exemption_does_not_waive():
    ps = [P("w1", "web", "GRA11", exempt="lab"), P("w2", "web", "GRA11")]
    assert evaluate(ps).verdict == "fail"


@pytest.mark.parametrize("rule", RULE_IDS)
def test_each_rule_can_be_disabled_or_made_advisory(rule):
    ps = [
        P("w1", "web", "SBG5", quorum=True),
        P("w2", "web", "Nowhere", cloud="ovh"),
        P("b", "backup", "SBG7", protects="web"),
    ]
    for level in ("advisory", "disabled"):
        rep = evaluate(ps, RuleConfig(profile="strict", levels={rule: level}))
        assert all(f.level == level for f in rep.findings if f.rule == rule)
        if level == "disabled":
            assert rule not in {f.rule for f in rep.findings}


def test_findings_have_the_json_contract():
    rep = evaluate([P("w1", "web", "SBG5")]).as_dict()
    assert rep["verdict"] == "fail"
    for f in rep["findings"]:
        assert set(f) >= {"rule", "level", "role", "message", "resources"}
    assert set(rep["placements"][0]) >= {"resource", "role", "provider", "region", "site", "building"}
