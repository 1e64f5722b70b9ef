"""Whether a property value can be read: a Pulumi secret, a value unknown until the resource is created (a
preview's placeholder) or a redacted secret cannot, and a check that meets one fails closed or says so. The security
checks read values through :func:`value`. Pure.
"""

from __future__ import annotations

from typing import Any

from resilient_stack.core.vocabulary import REDACTED, SECRET_SIG, UNKNOWN

__all__ = ["OPAQUE", "Opaque", "blank", "value"]


class Opaque:
    """The marker of a value that cannot be read."""


OPAQUE = Opaque()


def value(v: Any) -> Any:
    """A readable value, or :data:`OPAQUE` for unknowns, secrets and redactions."""
    if type(v) is dict and SECRET_SIG in v:  # exact type: ABC checks are slow on 100k resources
        return OPAQUE
    if isinstance(v, str) and v in (UNKNOWN, REDACTED):
        return OPAQUE
    return v


def blank(v: Any) -> bool:
    """Unset: None or a string of blanks."""
    return v is None or (isinstance(v, str) and not v.strip())
