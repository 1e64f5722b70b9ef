"""The audit's and the drill's report formats, one module each; this registry is what the CLI's ``--format``
choices and renderers read.

| format | module | several inputs |
|---|---|---|
| text | :mod:`.text` | one report after the other |
| json | :mod:`.json_report` | ``{"verdict": worst, "reports": [...]}`` |
| sarif | :mod:`.sarif` | one run each |
| junit | :mod:`.junit` | one test suite each |
| markdown | :mod:`.markdown` | one after the other |
| gitlab-sast, gitlab-codequality | :mod:`.gitlab` | one report of every finding |

What every format says the same way (escapes, the verdict line, coverage, scope and provenance) is in
:mod:`.common`. A new format: a module with ``audit(items) -> str`` (and ``drill(items, level)``), one line here.
"""

from __future__ import annotations

from typing import Callable

from resilient_stack.audit.formats import gitlab, json_report, junit, markdown, sarif, text
from resilient_stack.core.rules import Report
from resilient_stack.core.survival import DrillReport

AuditRenderer = Callable[[list[tuple[Report, str]]], str]
DrillRenderer = Callable[[list[tuple[DrillReport, str]], str], str]

AUDIT_RENDERERS: dict[str, AuditRenderer] = {
    "text": text.audit,
    "json": json_report.audit,
    "sarif": sarif.audit,
    "junit": junit.audit,
    "markdown": markdown.audit,
    "gitlab-sast": gitlab.sast,
    "gitlab-codequality": gitlab.codequality,
}
DRILL_RENDERERS: dict[str, DrillRenderer] = {"text": text.drill, "json": json_report.drill, "markdown": markdown.drill}
AUDIT_FORMATS = tuple(AUDIT_RENDERERS)
DRILL_FORMATS = tuple(DRILL_RENDERERS)


def render_audit(fmt: str, items: list[tuple[Report, str]]) -> str:
    """The report of one input, or of several (one verdict each; see the table above)."""
    return AUDIT_RENDERERS[fmt](items)


def render_drill(fmt: str, items: list[tuple[DrillReport, str]], level: str) -> str:
    """The paper drill of one input, or of several."""
    return DRILL_RENDERERS[fmt](items, level)
