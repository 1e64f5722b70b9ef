from resilient_stack.core.policy import PolicyConfig, build_catalog, parse_policy_config
from resilient_stack.core.rules import RuleConfig


def test_no_config_and_an_empty_config_decide_the_same():
    """`audit` without --config uses RuleConfig() directly (no pydantic import); the defaults must agree."""
    assert PolicyConfig().rule_config() == RuleConfig()
    assert parse_policy_config({}, "c.yaml").rule_config("strict") == RuleConfig(profile="strict")


def test_inline_catalog_of_a_config_extends_the_builtin_one():
    cfg = parse_policy_config(
        {
            "catalog": {
                "providers": [
                    {
                        "id": "acme",
                        "clouds": [" ACME "],
                        "sites": [{"id": "acme-lyon", "name": "Lyon"}],
                        "regions": [{"name": "LYS1", "site": "acme-lyon", "sources": ["x"], "confidence": "low"}],
                    }
                ]
            }
        },
        "c.yaml",
    )
    cat = build_catalog(cfg)
    res = cat.resolve(region="lys1", cloud="acme")
    assert res.region is not None and res.region.site.name == "Lyon" and res.region.confidence == "low"
    assert cat.region("ovhcloud", "GRA11") is not None  # the built-in catalog is still there
