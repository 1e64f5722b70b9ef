"""unknown-preview-security-rule: a security rule is unknown until the resources it uses exist.

Checked by the security collector, as the resources stream by (resilient_stack.core.security)."""

from __future__ import annotations

from resilient_stack.core.rules.rule import Rule

RULE = Rule(
    id="unknown-preview-security-rule",
    family="security",
    default="advisory",
    severity="high",
    title="A security rule is unknown until the resources it uses exist",
    description=(
        "At preview, a security group rule that may open SSH or a database port takes its remote prefix, port, protocol or direction from a resource not created yet: it is judged once known (the pack during `pulumi up`, the auditor on the state)."
    ),
    fix="Judge it once created: the pack during pulumi up, the auditor on the state.",
    scope="security",
    check=None,
    checked_by="resilient_stack.core.security",
)
