"""Pins every Pulumi SDK internal the project leans on, one test each, with a message naming what moved.

The mock runner (tests, benchmarks, the live drill), the components' config reader and the policy pack use
names the SDKs do not promise. When an upgrade of pulumi / pulumi-policy moves one, the failure is here and
says which name and who uses it, instead of fifty tests failing somewhere else.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from importlib import metadata

import pytest

from resilient_stack.core import vocabulary

PINNED = {"pulumi": "3.272.0", "pulumi-policy": "1.21.0"}


def moved(what: str, user: str) -> str:
    versions = ", ".join(f"{p} {metadata.version(p)} (pinned {v})" for p, v in PINNED.items())
    return f"{what} moved or changed in this SDK ({versions}); it is used by {user}: adapt that module"


def params(fn) -> set[str]:
    return set(inspect.signature(fn).parameters)


def _mocks():
    from resilient_stack.testing import pulumi_internals as pi

    class Nothing(pi.Mocks):
        def new_resource(self, args):
            return None, {}

        def call(self, args):
            return {}

    return Nothing()


def test_the_pinned_versions_are_installed():
    for package, version in PINNED.items():
        assert metadata.version(package) == version, moved(f"{package} version", "pyproject.toml's pins")


def test_secret_markers():
    from resilient_stack.testing import pulumi_internals as pi

    assert pi.SECRET_SIG == vocabulary.SECRET_SIG, moved("pulumi.runtime.rpc._special_sig_key", "mockrun, core")
    assert pi.SECRET_VALUE == "1b47061264138c4ac30d75fd1eb44270", moved(
        "pulumi.runtime.rpc._special_secret_sig", "mockrun"
    )


def test_mock_monitor_shape():
    from resilient_stack.testing import pulumi_internals as pi

    what = "pulumi.runtime.mocks.MockMonitor"
    assert issubclass(pi.MockMonitor, object)
    for method in ("RegisterResource", "RegisterResourceOutputs", "ReadResource", "GetDeploymentInfo", "make_urn"):
        assert callable(getattr(pi.MockMonitor, method, None)), moved(f"{what}.{method}", "mockrun.RecordingMonitor")
    monitor = pi.MockMonitor(_mocks())
    assert isinstance(monitor.resources, dict), moved(f"{what}.resources", "mockrun.RecordingMonitor")
    assert monitor.make_urn("", "acme:index:Thing", "x").endswith("::acme:index:Thing::x"), moved(
        f"{what}.make_urn", "mockrun"
    )
    features = monitor.GetDeploymentInfo(None).supportedFeatures
    assert len(list(features)) > 0, moved(f"{what}.GetDeploymentInfo().supportedFeatures", "mockrun._run")


def test_mock_settings_and_engine():
    from resilient_stack.testing import pulumi_internals as pi

    settings = pi.MockSettings(
        monitor=pi.MockMonitor(_mocks()),
        monitor_features=set(),
        engine=pi.MockEngine(None),
        project="p",
        stack="s",
        dry_run=True,
        organization="o",
        callbacks=None,
    )
    assert settings.project == "p" and settings.stack == "s", moved("pulumi.runtime.mocks.MockSettings", "mockrun._run")
    assert {"logger"} <= params(pi.MockEngine.__init__), moved("pulumi.runtime.mocks.MockEngine", "mockrun._run")


def test_runtime_settings_entry_points():
    from resilient_stack.testing import pulumi_internals as pi

    assert {"settings"} <= params(pi.configure), moved("pulumi.runtime.settings.configure", "mockrun._run")
    assert {"project", "stack", "preview", "organization"} <= params(pi.reset_options), moved(
        "pulumi.runtime.settings.reset_options", "mockrun._run"
    )
    assert inspect.iscoroutinefunction(pi.run_in_stack), moved("pulumi.runtime.stack.run_in_stack", "mockrun._run")
    assert {"config", "secret_keys"} <= params(pi.set_all_config), moved(
        "pulumi.runtime.config.set_all_config", "mockrun._run"
    )
    assert {"props_struct"} <= params(pi.deserialize_properties), moved(
        "pulumi.runtime.rpc.deserialize_properties", "mockrun.RecordingMonitor"
    )


def test_thread_event_loop_is_one_loop_per_thread():
    """mockrun closes the loops pulumi's mock monitor makes per executor thread; it must get the same loop back."""
    from resilient_stack.testing import pulumi_internals as pi

    def in_thread():
        first, second = pi.thread_event_loop(), pi.thread_event_loop()
        try:
            return first is second and isinstance(first, asyncio.AbstractEventLoop)
        finally:
            first.close()

    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        assert ex.submit(in_thread).result(), moved(
            "pulumi.runtime.sync_await._ensure_event_loop", "mockrun.RecordingMonitor"
        )


def test_program_config_context_variable():
    """components.stack_config reads the whole program config from pulumi.runtime.config (misspelt keys are reported)."""
    from pulumi.runtime import config as runtime_config

    assert isinstance(runtime_config.CONFIG, contextvars.ContextVar), moved(
        "pulumi.runtime.config.CONFIG", "components.stack_config._engine_config"
    )
    assert callable(runtime_config.get_config_env), moved(
        "pulumi.runtime.config.get_config_env", "components.stack_config"
    )

    def read_back():
        runtime_config.set_all_config({"resilient-stack:name": "x"}, [])
        return dict(runtime_config.CONFIG.get())

    assert contextvars.copy_context().run(read_back) == {"resilient-stack:name": "x"}, moved(
        "pulumi.runtime.config.set_all_config -> CONFIG", "components.stack_config"
    )


@pytest.mark.parametrize(
    "name",
    [
        "UNKNOWN_BOOLEAN_VALUE",
        "UNKNOWN_NUMBER_VALUE",
        "UNKNOWN_STRING_VALUE",
        "UNKNOWN_ARRAY_VALUE",
        "UNKNOWN_ASSET_VALUE",
        "UNKNOWN_ARCHIVE_VALUE",
        "UNKNOWN_OBJECT_VALUE",
    ],
)
def test_policy_sdk_unknown_markers(name):
    from pulumi_policy import proxy

    assert hasattr(proxy, name), moved(f"pulumi_policy.proxy.{name}", "policies/resilient_policies/resources.py")


def test_policy_sdk_proxies_and_secrets():
    from pulumi_policy import deserialize, proxy, secret

    assert issubclass(proxy.UnknownValueError, Exception), moved(
        "pulumi_policy.proxy.UnknownValueError", "resilient_policies.resources"
    )
    assert callable(proxy.unknown_checking_proxy), moved(
        "pulumi_policy.proxy.unknown_checking_proxy", "bench/pack_validate.py"
    )
    assert callable(deserialize.deserialize_properties), moved(
        "pulumi_policy.deserialize.deserialize_properties", "bench/pack_validate.py"
    )
    assert secret.Secret("x").value == "x", moved("pulumi_policy.secret.Secret", "resilient_policies.resources")
