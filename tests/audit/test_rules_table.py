"""docs/rules.md's rules table is generated from the registry (issue 26, point 7), like `explain`, SARIF's rule
metadata and the pack's policies: a rule added, retitled or given another level shows there, or the check fails."""

from __future__ import annotations

import re

from resilient_stack.audit import rules_table
from resilient_stack.core.rules import RULE_IDS, RULES
from tests.conftest import ROOT

PAGE = ROOT / "docs" / "rules.md"


def test_the_page_holds_the_table_the_registry_makes():
    assert rules_table.main(["--check", str(PAGE)]) == 0


def test_every_rule_has_a_row_and_the_section_its_row_links_to():
    page = PAGE.read_text(encoding="utf-8")
    table = page[page.index(rules_table.BEGIN) : page.index(rules_table.END)]
    rows = re.findall(r"^\| \[`([a-z-]+)`\]\(#([a-z-]+)\)", table, flags=re.M)
    assert [rule for rule, _ in rows] == [r.id for r in RULES] and sorted(RULE_IDS) == sorted(r for r, _ in rows)
    sections = set(re.findall(r"^### ([a-z-]+)$", page, flags=re.M))
    assert {anchor for _, anchor in rows} <= sections


def test_a_stale_table_is_found_and_rewritten(tmp_path, capsys):
    stale = tmp_path / "rules.md"
    stale.write_text(
        PAGE.read_text(encoding="utf-8").replace("| advisory | mandatory |", "| mandatory | mandatory |", 1)
    )
    assert rules_table.main(["--check", str(stale)]) == 1
    assert "the rules table is stale" in capsys.readouterr().err
    assert rules_table.main(["--write", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == PAGE.read_text(encoding="utf-8")


def test_a_page_without_the_markers_is_one_line_and_exit_2(tmp_path, capsys):
    page = tmp_path / "rules.md"
    page.write_text("# Rules\n")
    assert rules_table.main(["--check", str(page)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(page) in err and "markers" in err
