"""Every Pulumi SDK internal the mock runner leans on, imported in ONE place.

Pulumi's Python SDK does not promise these names: they live under ``pulumi.runtime`` and some start with an
underscore. The mock runner (:mod:`resilient_stack.testing.mockrun`) needs them to run the real program in
process, record what it registers and close what the SDK leaves open. An upgrade of ``pulumi`` (pinned in
``pyproject.toml``) may move any of them: ``tests/testing/test_pulumi_internals.py`` pins each one, with its
shape, and names what moved, so an upgrade fails there with a clear message instead of in fifty tests.

The one internal the components themselves read (``pulumi.runtime.config.CONFIG``, the program's whole
configuration, so that a misspelt key is reported instead of ignored: :mod:`resilient_stack.components.stack_config`)
is pinned by the same test; the components sit below this layer and import it directly.
"""

from __future__ import annotations

from pulumi.runtime import mocks
from pulumi.runtime.config import set_all_config
from pulumi.runtime.rpc import (
    _special_secret_sig as SECRET_VALUE,  # the value that marks an envelope as a secret
)
from pulumi.runtime.rpc import (
    _special_sig_key as SECRET_SIG,  # the key of a secret's envelope
)
from pulumi.runtime.rpc import deserialize_properties
from pulumi.runtime.settings import configure, reset_options
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _ensure_event_loop as thread_event_loop

Mocks = mocks.Mocks
MockMonitor = mocks.MockMonitor
MockSettings = mocks.MockSettings
MockEngine = mocks.MockEngine
MockResourceArgs = mocks.MockResourceArgs
MockCallArgs = mocks.MockCallArgs

__all__ = [
    "Mocks",
    "MockMonitor",
    "MockSettings",
    "MockEngine",
    "MockResourceArgs",
    "MockCallArgs",
    "set_all_config",
    "SECRET_SIG",
    "SECRET_VALUE",
    "deserialize_properties",
    "configure",
    "reset_options",
    "run_in_stack",
    "thread_event_loop",
]
