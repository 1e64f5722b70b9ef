"""The rules table of ``docs/rules.md``, generated from the registry (:mod:`resilient_stack.core.rules.registry`):
one row per rule, in report order, with its levels, severity, title and fix, as ``explain``, SARIF and the pack
read them.

``python -m resilient_stack.audit.rules_table --write`` rewrites the table between its markers;
``--check`` exits 1 when it is stale (tests/audit/test_rules_table.py runs it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from resilient_stack.core.rules import RULES, default_level

BEGIN = "<!-- generated from resilient_stack/core/rules/registry.py: python -m resilient_stack.audit.rules_table --write -->"
END = "<!-- end of the generated rules table -->"
PAGE = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    """The table, markers included."""
    rows = [
        BEGIN,
        "| rule | family | default | strict | severity | what it finds | fix |",
        "|---|---|---|---|---|---|---|",
    ]
    for rule in RULES:
        rows.append(
            f"| [`{rule.id}`](#{rule.id}) | {rule.family} | {default_level(rule.id)} | "
            f"{default_level(rule.id, 'strict')} | {rule.severity} | {_cell(rule.title)} | {_cell(rule.fix)} |"
        )
    rows.append(END)
    return "\n".join(rows)


def splice(page: str, source: str = "docs/rules.md") -> str:
    """``page`` with its table replaced by :func:`render`; ValueError when the markers are missing."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{source}: the markers of the generated rules table are missing ({BEGIN!r} ... {END!r})")
    return page[:start] + render() + page[end + len(END) :]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resilient_stack.audit.rules_table", description=__doc__)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", action="store_true", help="rewrite the table in the page")
    what.add_argument("--check", action="store_true", help="exit 1 when the page's table is stale")
    parser.add_argument("page", nargs="?", default=str(PAGE), help="the page (default: the checkout's docs/rules.md)")
    args = parser.parse_args(argv)
    path = Path(args.page)
    try:
        current = path.read_text(encoding="utf-8")
        wanted = splice(current, str(path))
    except (OSError, ValueError) as exc:
        print(f"rules_table: error: {exc}", file=sys.stderr)
        return 2
    if args.write:
        if wanted != current:
            path.write_text(wanted, encoding="utf-8")
        return 0
    if wanted != current:
        print(f"{path}: the rules table is stale: python -m resilient_stack.audit.rules_table --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
