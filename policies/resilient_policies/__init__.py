"""resilient-stack's CrossGuard policies, importable without starting a policy server.

One policy per rule id of :mod:`resilient_stack.core.rules` (the ONE registry of rule ids, descriptions and
default levels): the placement rules as stack validation policies (:mod:`.placement`), the security
defaults as resource validation policies (:mod:`.security`), their shared config (:mod:`.config`) and
the mapping of the SDK's resources to the auditor's views (:mod:`.resources`), and two helpers that are not
rules (:mod:`.exemptions`: the waived findings, as advisories; :mod:`.secrecy`: tells the security policies
which inputs are Pulumi secrets).
"""

from resilient_stack.core.rules import RULE_IDS

from .exemptions import exempted_findings
from .placement import PLACEMENT_POLICIES
from .secrecy import secrecy_probe
from .security import SECURITY_POLICIES

PACK_NAME = "resilient-stack"
PACK_DESCRIPTION = (
    "resilient-stack placement rules (no role in one building, site or provider; backups off-site; quorum "
    "survives a site; every replica placeable) and security defaults (no SSH/database port open to the "
    "internet, no plaintext secret in user data): the same code as `resilient-stack audit`."
)
RULE_POLICIES = [*PLACEMENT_POLICIES, *SECURITY_POLICIES]
# + the helpers: waived findings as advisories (the last stack policy), and the probe that lets validations see
# Pulumi secrets
POLICIES = [*RULE_POLICIES, exempted_findings, secrecy_probe]

if [p.name for p in RULE_POLICIES] != list(RULE_IDS):  # pragma: no cover - a rule added without its policy
    raise RuntimeError("resilient_policies: one policy per rule id of resilient_stack.core.rules, in registry order")

__all__ = ["PACK_DESCRIPTION", "PACK_NAME", "POLICIES", "RULE_POLICIES", "PLACEMENT_POLICIES", "SECURITY_POLICIES"]
