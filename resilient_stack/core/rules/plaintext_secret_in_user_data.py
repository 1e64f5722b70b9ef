"""plaintext-secret-in-user-data: a password or key sits in clear in user data.

Checked by the security collector, as the resources stream by (resilient_stack.core.security)."""

from __future__ import annotations

from resilient_stack.core.rules.rule import Rule

RULE = Rule(
    id="plaintext-secret-in-user-data",
    family="security",
    default="mandatory",
    severity="high",
    title="A password or key sits in clear in user data",
    description=(
        "An instance's user data carries a password or private key as a plain string: it lands in clear in the Pulumi state, previews and logs."
    ),
    fix="Pass the secret as a Pulumi secret (pulumi.Output.secret) or through the metadata the stack seals.",
    scope="security",
    check=None,
    checked_by="resilient_stack.core.security",
)
