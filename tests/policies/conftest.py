"""The policy pack's rule modules (``resilient_policies``, installed with the package) under test."""

import pytest


@pytest.fixture(autouse=True)
def _fresh_secrecy_records():
    """The secrecy probe keeps per-URN records for one analysis run; tests must not see each other's."""
    from resilient_policies import secrecy

    secrecy.clear()
    yield
    secrecy.clear()
