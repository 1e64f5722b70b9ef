"""The policy pack's modules are imported from policies/ (as the language host runs the pack: from its directory)."""

import sys

import pytest

from tests.policies.support import POLICIES_DIR

if str(POLICIES_DIR) not in sys.path:
    sys.path.insert(0, str(POLICIES_DIR))


@pytest.fixture(autouse=True)
def _fresh_secrecy_records():
    """The secrecy probe keeps per-URN records for one analysis run; tests must not see each other's."""
    from resilient_policies import secrecy

    secrecy.clear()
    yield
    secrecy.clear()
