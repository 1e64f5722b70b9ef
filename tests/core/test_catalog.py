import pytest

from resilient_stack.core.catalog import load_catalog
from resilient_stack.io.errors import InputError

REQUIRED_OVH = [
    "GRA7",
    "GRA9",
    "GRA11",
    "SBG5",
    "SBG7",
    "BHS5",
    "DE1",
    "UK1",
    "WAW1",
    "RBX-A",
    "EU-WEST-PAR",
    "SGP1",
    "SYD1",
    "CA-EAST-TOR",
    "US-EAST-VA-1",
    "US-WEST-OR-1",
]


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def test_every_required_ovh_region_is_catalogued_with_sources(cat):
    for name in REQUIRED_OVH:
        reg = cat.region("ovhcloud", name)
        assert reg is not None, name
        assert reg.sources and reg.confidence in ("high", "medium", "low", "unknown")
        assert reg.site.sources, name


def test_campuses_are_one_site(cat):
    assert {cat.region("ovhcloud", n).site.id for n in ("GRA7", "GRA9", "GRA11")} == {"ovh-gravelines"}
    assert {cat.region("ovhcloud", n).site.id for n in ("SBG5", "SBG7", "SBG1")} == {"ovh-strasbourg"}
    assert cat.region("ovhcloud", "BHS5").site.id == "ovh-beauharnois"


def test_paris_three_azs_are_three_buildings_of_one_site(cat):
    bs = set()
    for az in ("eu-west-par-a", "eu-west-par-b", "eu-west-par-c"):
        r = cat.resolve(region="EU-WEST-PAR", cloud="ovh", availability_zone=az)
        assert r.region.site.id == "ovh-paris"
        bs.add(r.building)
    assert len(bs) == 3


def test_unpinned_az_in_multi_az_region_is_one_pseudo_building(cat):
    r = cat.resolve(region="eu-west-par", cloud="ovh")
    assert r.building == "EU-WEST-PAR (AZ not pinned)"


def test_unknown_az_fails_closed(cat):
    r = cat.resolve(region="EU-WEST-PAR", cloud="ovh", availability_zone="eu-west-par-z")
    assert r.region is None and "eu-west-par-z" in r.problem


def test_second_provider_present(cat):
    r = cat.resolve(region="dc4-a", auth_url="https://api.pub2.infomaniak.cloud/identity/v3")
    assert r.region.provider == "infomaniak"


@pytest.mark.parametrize("region", ["gra11", " GRA11 ", "Gra11"])
def test_region_names_case_and_whitespace_insensitive(cat, region):
    r = cat.resolve(region=region, auth_url="https://AUTH.cloud.ovh.net/v3/")
    assert r.region and r.region.name == "GRA11"


def test_us_region_needs_us_identity(cat):
    ok = cat.resolve(region="US-EAST-VA-1", auth_url="https://auth.cloud.ovh.us/")
    assert ok.region is not None
    bad = cat.resolve(region="US-EAST-VA-1", auth_url="https://auth.cloud.ovh.net/v3")
    assert bad.region is None and "auth.cloud.ovh.us" in bad.problem


def test_unknown_cloud_and_host_fail_closed(cat):
    assert cat.resolve(region="GRA11", cloud="mycloud").region is None
    assert cat.resolve(region="GRA11", auth_url="https://keystone.example.org/v3").region is None
    assert cat.resolve(region="RegionOne").region is None
    assert cat.resolve(region="").region is None


def test_user_catalog_extends_and_overrides(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text(
        """
providers:
  - id: ovhcloud
    clouds: [my-ovh]
  - id: acme
    clouds: [acme]
    auth_hosts: [keystone.acme.example]
    sites:
      - {id: acme-lyon, name: Lyon, sources: [contract], confidence: high}
    regions:
      - {name: LYO1, site: acme-lyon, sources: [contract], confidence: high}
"""
    )
    cat = load_catalog([str(f)])
    assert cat.resolve(region="GRA11", cloud="my-ovh").region.provider == "ovhcloud"
    r = cat.resolve(region="lyo1", auth_url="https://keystone.acme.example:5000/v3")
    assert r.region.site.id == "acme-lyon"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("providers: [{id: x, regions: [{name: R, site: nowhere}]}]", "unknown site"),
        ("providers: [{id: x, bogus: 1}]", "bogus"),
        ("providers:\n- id: Bad Id\n", "invalid catalog at providers.0.id"),
        ("providers: 3", "providers"),
        ("- a\n- b", "mapping"),
        (
            "providers: [{id: x, sites: [{id: s, name: S}], regions: [{name: R, site: s, confidence: sure}]}]",
            "confidence",
        ),
    ],
)
def test_bad_user_catalog_is_a_clear_error(tmp_path, text, problem):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(InputError) as exc:
        load_catalog([str(f)])
    assert str(f) in str(exc.value) and problem in str(exc.value)


def test_compiled_builtin_catalog_matches_the_yaml():
    """The index reads data/catalog.compiled.json (no pydantic at audit time); it must be the YAML, validated."""
    from importlib import resources

    from resilient_stack.core.catalog_schema import compile_builtin

    shipped = resources.files("resilient_stack.core").joinpath("data/catalog.compiled.json").read_text("utf-8")
    assert shipped == compile_builtin(), "stale: run python -m resilient_stack.core.catalog_schema --write"


def test_catalog_file_overrides_a_shipped_region(tmp_path):
    f = tmp_path / "cat.yaml"
    f.write_text(
        "providers:\n- id: ovhcloud\n  sites: [{id: ovh-gravelines, name: Gravelines}]\n"
        "  regions: [{name: GRA11, site: ovh-gravelines, buildings: [GRA11-B], confidence: high, sources: [mine]}]\n"
    )
    cat = load_catalog([str(f)])
    reg = cat.region("ovhcloud", "gra11")
    assert reg.building == "GRA11-B" and reg.confidence == "high"
    assert cat.region("ovhcloud", "SBG5") is not None  # other shipped regions kept
    assert cat.resolve(region="GRA11", auth_url="https://auth.cloud.ovh.net/v3").building == "GRA11-B"


def test_two_providers_in_one_city_are_one_physical_site():
    from resilient_stack.core.placement import place
    from resilient_stack.core.rules import evaluate
    from resilient_stack.core.survival import drill

    cat = load_catalog()
    ps = [
        place(cat, resource="a", role="web", region="Sto2", cloud="citycloud"),
        place(cat, resource="b", role="web", region="europe-se-1", cloud="binero"),
    ]
    assert {p.site for p in ps} == {"stockholm"} and {p.provider for p in ps} == {"cleura", "binero"}
    rep = evaluate(ps, catalog=cat)
    assert "single-site" in {f.rule for f in rep.findings if f.blocking}
    assert [s.name for s in drill(ps, "site")] == ["Stockholm (SE)"]  # listed once


def test_a_local_zone_counts_with_its_city():
    cat = load_catalog()
    lz = cat.resolve(region="EU-SOUTH-LZ-MIL-A", cloud="ovh").region
    region = cat.resolve(region="EU-SOUTH-MIL", cloud="ovh").region
    assert lz.site.physical_id == region.site.physical_id == "milan"


def test_every_shipped_site_names_its_city_unless_unsourced():
    cat = load_catalog()
    for r in cat.regions():
        assert r.site.city or "not sourced" in r.site.name or r.provider == "fuga", r.site.id


def test_a_user_site_in_a_city_of_another_provider_needs_a_shared_metro(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text(
        "providers:\n- id: acme\n  clouds: [acme]\n  sites: [{id: acme-sto, name: Acme Stockholm, city: Stockholm (SE)}]\n"
        "  regions: [{name: STO9, site: acme-sto}]\n"
    )
    with pytest.raises(InputError, match="both in Stockholm .SE.*metro"):
        load_catalog([str(f)])
    f.write_text(f.read_text().replace("city: Stockholm (SE)}", "city: Stockholm (SE), metro: stockholm}"))
    assert load_catalog([str(f)]).resolve(region="STO9", cloud="acme").region.site.physical_id == "stockholm"
