"""What a verdict rests on (issue 26, point 6): the weakest catalog fact under the placements, the catalogs' days."""

from resilient_stack.core.catalog import Catalog, builtin_data
from resilient_stack.core.catalog_schema import validate_catalog
from resilient_stack.core.placement import Placement
from resilient_stack.core.scope import scope, scope_line, weakest_fact


def acme(site_a="high", site_b="high", region_a="high", region_b="high", gathered=None) -> dict:
    raw = {
        "providers": [
            {
                "id": "acme",
                "clouds": ["acme"],
                "confidence": "high",
                "sources": ["acme docs"],
                "sites": [
                    {
                        "id": "acme-north",
                        "name": "North campus",
                        "city": "Northtown",
                        "confidence": site_a,
                        "sources": ["acme docs"],
                    },
                    {
                        "id": "acme-south",
                        "name": "South campus",
                        "city": "Southtown",
                        "confidence": site_b,
                        "sources": ["acme docs"],
                    },
                ],
                "regions": [
                    {"name": "N1", "site": "acme-north", "confidence": region_a, "sources": ["acme docs"]},
                    {"name": "S1", "site": "acme-south", "confidence": region_b, "sources": ["acme docs"]},
                ],
            }
        ]
    }
    if gathered:
        raw["gathered"] = gathered
    return validate_catalog(raw, "acme.yaml")


def placed(catalog: Catalog, region: str, role="web") -> Placement:
    res = catalog.resolve(region=region, auth_url=None, cloud="acme", availability_zone=None)
    reg = res.region
    return Placement(
        resource=f"{role}-{region}",
        role=role,
        provider=reg.provider,
        region=reg.name,
        site=reg.site.physical_id,
        site_name=reg.site.physical_name,
        building=res.building,
        confidence=reg.confidence,
    )


def test_the_weakest_fact_is_the_lowest_confidence_under_any_placement():
    cat = Catalog([("acme.yaml", acme(site_b="low", region_a="medium"))])
    fact = weakest_fact([placed(cat, "N1"), placed(cat, "S1")], cat)
    assert fact.confidence == "low" and "acme-south" in fact.what


def test_a_region_below_its_site_is_the_weakest_and_unknown_is_below_low():
    cat = Catalog([("acme.yaml", acme(site_b="low", region_a="unknown"))])
    fact = weakest_fact([placed(cat, "N1"), placed(cat, "S1")], cat)
    assert fact.confidence == "unknown" and fact.what.startswith("N1's site and building")


def test_only_facts_in_use_count():
    cat = Catalog([("acme.yaml", acme(site_b="unknown"))])
    assert weakest_fact([placed(cat, "N1")], cat).confidence == "high"  # S1's weak site holds nothing


def test_no_resolved_placement_rests_on_no_fact():
    cat = Catalog([("acme.yaml", acme())])
    assert weakest_fact([Placement(resource="x", role="web", problem="no region")], cat) is None


def test_the_scope_names_every_catalog_and_its_day():
    cat = Catalog([("built-in catalog", builtin_data()), ("acme.yaml", acme(site_a="low", gathered="2026-01-31"))])
    s = scope([placed(cat, "N1")], cat, {"resources": 3, "evaluated": {"openstack:compute/instance:Instance": 1}})
    assert s["resources"] == 3 and s["evaluated"] == 1
    assert s["catalogs"] == [
        {"name": "built-in catalog", "gathered": builtin_data()["gathered"]},
        {"name": "acme.yaml", "gathered": "2026-01-31"},
    ]
    line = scope_line(s, "pass")
    assert line.startswith("scope: 1 of 3 resources evaluated; catalog: built-in catalog (gathered 20")
    assert "acme.yaml (gathered 2026-01-31)" in line
    assert line.endswith("passes, resting on a low-confidence fact: site acme-north (North campus) as one campus")


def test_an_undated_catalog_is_said_undated_and_a_fail_names_its_weakest_fact_too():
    cat = Catalog([("acme.yaml", acme(region_a="medium"))])
    line = scope_line(scope([placed(cat, "N1")], cat, None), "fail")
    assert "acme.yaml (undated)" in line
    assert line.endswith("; the weakest fact used: N1's site and building (acme), medium confidence")


def test_the_shipped_catalog_says_when_it_was_gathered():
    assert builtin_data()["gathered"] >= "2026-11-25"
