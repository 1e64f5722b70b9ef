"""plaintext-secret-in-user-data: a password or key sits in clear in user data.

Its check reads one instance; the security collector runs it as the resources stream by (resilient_stack.core.security)."""

from __future__ import annotations

from typing import Any, Mapping

from resilient_stack.core.readable import value
from resilient_stack.core.rules.rule import Rule
from resilient_stack.core.userdata import Unreadable, secret_material, unpacked

_FIX = (
    "pass it as a Pulumi secret (pulumi.Output.secret(...) or config.require_secret) so it is encrypted in the "
    "state, or let the instance fetch the secret at boot (e.g. from Barbican) instead of writing it into "
    "user data"
)


def check(props: Mapping[str, Any]) -> str | None:
    """Why an instance's ``userData`` (its input properties) carries secret material in clear, read as cloud-init
    reads it (base64, gzip inside unpacked); packed user data that cannot be read is a finding too. None: absent,
    unknown at preview, a Pulumi secret, a redacted secret, or nothing secret in it."""
    raw = value(props.get("userData"))
    if not isinstance(raw, str) or not raw.strip():
        return None
    found = secret_material(raw)
    try:
        packed = unpacked(raw)
    except Unreadable as exc:  # never a silent pass: what cloud-init would read cannot be checked
        return (
            f"userData is a plain string of packed user data that could not be read ({exc}): cannot tell "
            f"whether it carries secret material; {_FIX}"
        )
    if not found and packed is not None:
        text, how = packed
        found = [f"{h} of the {how} text" for h in secret_material(text)]
    if not found:
        return None
    shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    return f"userData is a plain string carrying secret material: {shown}; {_FIX}"


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
    check=check,
    checked_by="resilient_stack.core.security",
)
