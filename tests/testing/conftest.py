"""The mock runner's tests share the component tests' session fixture (the shipped stacks under mocks)."""

from tests.components.conftest import runs  # noqa: F401  (pytest fixture)
