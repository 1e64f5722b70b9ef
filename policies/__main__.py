"""Entry point of the policy pack: ONLY assembles the PolicyPack.

The Python language host starts it as ``python -u -m pulumi.policy <engine address> <this directory>``;
``PolicyPack(...)`` starts the analyzer gRPC server, prints its port and never returns. The policies
live in :mod:`resilient_policies` (tests import those, never this file).
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from resilient_policies import PACK_DESCRIPTION, PACK_NAME, POLICIES

PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,  # every policy sets its own level; this is only the fallback
    description=PACK_DESCRIPTION,
    display_name="resilient-stack placement and security rules",
)
