"""docs/costs.md agrees with the stack files: every count and total of its tables is recomputed here from the
shipped templates (and the `pulumi new` template's defaults), the flavors' figures from its own flavor table, and
the known part of each template's price from its own price table."""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal

import pytest
import yaml

from resilient_stack.components.stack_config import StackConfig, load_stack_file, parse_stack_config
from tests.conftest import ROOT

PAGE = (ROOT / "docs" / "costs.md").read_text(encoding="utf-8")


def table(heading: str) -> list[list[str]]:
    """The rows (cells, stripped) of the first table under ``## heading``."""
    section = PAGE.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert len(lines) > 2, heading
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines[2:]]


def templates() -> dict[str, StackConfig]:
    out = {
        f"`{stack}`": load_stack_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml") for stack in ("production", "staging")
    }
    out["`sbg2021` (refused: never deployed)"] = load_stack_file(ROOT / "stacks" / "Pulumi.sbg2021.yaml")
    prompts = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["template"]["config"]
    raw = {
        k: (json.loads(v["default"]) if k != "profile" else v["default"]) for k, v in prompts.items() if "default" in v
    }
    out["`pulumi new` (defaults)"] = parse_stack_config(raw, "Pulumi.yaml", stack="dev")
    return out


def instances(cfg: StackConfig) -> Counter:
    out: Counter = Counter()
    for p in cfg.placements:
        out[p.flavor] += p.web_count
        if p.hosts_database:
            out[p.effective_database_flavor] += 1
        if cfg.monitoring is not None and p.name in cfg.monitoring.placements:
            out[cfg.monitoring.flavor or p.flavor] += 1  # its monitoring host
    return +out


FLAVORS = {row[0].strip("`"): row for row in table("The flavors the templates name")}


def _number(cell: str) -> int:
    return int(re.match(r"\d+", cell).group())


@pytest.mark.parametrize("name", list(templates()))
def test_each_templates_row_is_what_its_stack_file_runs(name):
    cfg = templates()[name]
    rows = {row[0]: row for row in table("What each template runs")}
    assert set(rows) == set(templates())
    row = rows[name]
    counted = instances(cfg)
    listed = Counter({m.group(2): int(m.group(1)) for m in re.finditer(r"(\d+) × `([^`]+)`", row[1])})
    assert listed == counted, (name, row[1])
    assert set(counted) <= set(FLAVORS), "every flavor a template names has its row in the flavor table"
    assert _number(row[2]) == sum(n * _number(FLAVORS[f][2]) for f, n in counted.items())  # vCPU
    assert _number(row[3]) == sum(n * _number(FLAVORS[f][3]) for f, n in counted.items())  # RAM
    assert row[4] == f"{len(cfg.database_placements)} × {cfg.database.volume_size} GB"
    assert row[5] == "1 backup"  # the backups' container; the stack creates no other (no static-assets containers)
    regions = ", ".join(p.region for p in cfg.placements) + f"; backups {cfg.backups.region}"
    assert row[6] == regions
    projects = list(dict.fromkeys([*(p.cloud for p in cfg.placements), cfg.backups.cloud]))
    assert row[7].endswith(
        f"{len(projects)} project{'s' if len(projects) > 1 else ''}"
        + (f" ({', '.join(f'`{c}`' for c in projects)})" if len(projects) > 1 else "")
    ), row[7]
    catalog = cfg.catalog()
    providers = {
        catalog.resolve(
            region=x.region, auth_url=x.auth_url, cloud=x.cloud, availability_zone=x.availability_zone
        ).region.provider
        for x in (*cfg.placements, cfg.backups)
    }
    assert row[7].startswith(f"{len(providers)} ("), (providers, row[7])
    assert not any(p.load_balancer for p in cfg.placements)  # "No template has a load balancer"


def test_the_known_part_of_productions_price_is_its_instances_at_the_listed_prices():
    prices = {row[0].strip("`").removeprefix("OVHcloud `"): row for row in table("List prices")}
    per_month = {
        f: Decimal(re.match(r"([\d.]+) €/month", prices[f][1]).group(1)) for f in ("b3-8", "b3-16") if f in prices
    }
    assert set(per_month) == {"b3-8", "b3-16"} and all(prices[f][3] == "2026-10-28" for f in per_month)
    counted = instances(templates()["`production`"])
    known = sum(per_month[f] * n for f, n in counted.items() if f in per_month)
    costs = {row[0]: row for row in table("What the templates cost, as far as the sources go")}
    line = costs["`production`"][1]
    assert f"= **{known} €/month**" in line
    assert " + ".join(f"{n} × {per_month[f]}" for f, n in counted.items() if f in per_month) in line
    # the flavors without a price are said to be unknown, never given one
    for flavor in set(counted) - set(per_month):
        assert flavor.split("-")[0] in costs["`production`"][2] or "Infomaniak" in costs["`production`"][2]
    assert prices["d2-4"][1] == "unknown"
