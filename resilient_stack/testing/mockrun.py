"""Run the real Pulumi program under recording mocks: no engine, no cloud, no network.

Used by the component tests, the policy pack's tests, the benchmarks and the fire drill::

    from resilient_stack.testing.mockrun import run_program, to_stack_export
    resources = run_program("stacks/Pulumi.production.yaml")      # list[RecordedResource]
    export = to_stack_export(resources)                             # `pulumi stack export` shape

- :class:`RecordingMocks` answers every resource registration with realistic outputs (ids, addresses
  taken from the subnets the program created, public addresses for ports on an external network, generated
  passwords and credentials) and FAILS LOUDLY on any resource type it does not know and on any invoke
  but the one the program makes (``get_network`` of an external network by name, when its ID is not given). Addresses and ids are derived from the resource's URN, so a run is reproducible (should two
  resources' hashes pick the same address of one subnet, registration order separates them).
- :class:`RecordingMonitor` records what the program registered: URN, parent, provider reference
  (``URN::ID``), inputs and outputs with their secretness, dependencies, and the component outputs.
- :func:`run_program` evaluates :func:`resilient_stack.components.stack.program` -- the function the root
  ``__main__.py`` calls -- with a stack file's config. Each run is isolated: the Pulumi runtime settings
  live in context variables, and the run happens in a copy of the current context that is then dropped.
- :func:`to_stack_export` produces ``{"version": 3, "deployment": {"resources": [...]}}`` as
  ``pulumi stack export`` does: providers as ``pulumi:providers:<pkg>`` resources with their inputs
  (default providers synthesized for resources that use one), secrets as objects carrying
  ``4dabf18193072939515e22adb298388d``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NoReturn

import pulumi

from resilient_stack.components.backup_config import SECRET_CONFIG_KEYS
from resilient_stack.components.monitoring_config import ALERT_SECRET_KEYS
from resilient_stack.components.stack_config import read_stack_file
from resilient_stack.core.rules import DesignRejected
from resilient_stack.io.errors import InputError
from resilient_stack.testing import pulumi_internals as pulumi_mocks
from resilient_stack.testing.mock_cloud import (  # noqa: F401 - re-exported
    _NS,
    PKI_DAYS,
    PKI_NOW,
    PUBLIC_POOL,
    PUBLIC_POOL_V6,
    MockCloud,
    MockRunError,
    UnexpectedInvoke,
    UnmockedResource,
    _plain,
    _split,
)
from resilient_stack.testing.pulumi_internals import (
    SECRET_SIG,
    configure,
    deserialize_properties,
    reset_options,
    run_in_stack,
    set_all_config,
    thread_event_loop,
)
from resilient_stack.testing.stack_export import to_stack_export

__all__ = [
    "MockRunError",
    "UnexpectedInvoke",
    "UnmockedResource",
    "RecordedResource",
    "RecordingMocks",
    "RecordingMonitor",
    "run_program",
    "engine_config",
    "to_stack_export",
    "SECRET_SIG",
]

PROJECT = "resilient-stack"
STACK_TYPE = "pulumi:pulumi:Stack"
GET_NETWORK = "openstack:networking/getNetwork:getNetwork"


@dataclass(frozen=True)
class RecordedResource:
    """One resource the program registered, as the engine would have stored it.

    ``inputs``/``outputs`` hold plain values (secrets unwrapped); ``secret_inputs``/``secret_outputs``
    name the top-level keys that are secrets. ``provider`` is the ``URN::ID`` reference ("" when the
    resource uses its package's default provider); ``package_version`` is its package's version.
    """

    urn: str
    type: str
    name: str
    custom: bool
    id: str | None
    parent: str | None
    provider: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    secret_inputs: frozenset[str] = frozenset()
    secret_outputs: frozenset[str] = frozenset()
    dependencies: tuple[str, ...] = ()
    package_version: str = ""
    options: dict[str, Any] = field(default_factory=dict, compare=False)  # protect, ignoreChanges, ... (when set)

    @property
    def provider_urn(self) -> str | None:
        return self.provider.rsplit("::", 1)[0] if "::" in self.provider else None

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")


# --------------------------------------------------------------------------------------------------
# The mocks
# --------------------------------------------------------------------------------------------------


def _options(request: Any) -> dict[str, Any]:
    """The resource options the engine would act on (lifecycle), as the program set them."""
    out: dict[str, Any] = {}
    for key in ("protect", "retainOnDelete", "deleteBeforeReplace"):
        if getattr(request, key, False):
            out[key] = True
    if list(request.ignoreChanges):
        out["ignoreChanges"] = list(request.ignoreChanges)
    return out


class _Collect(logging.Handler):
    def __init__(self, into: list[tuple[str, str]]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append((record.levelname, record.getMessage()))


class RecordingMocks(MockCloud, pulumi_mocks.Mocks):
    """Realistic, deterministic answers for the resource types resilient-stack creates.

    Unknown resource types and every invoke raise (:class:`UnmockedResource`, :class:`UnexpectedInvoke`).
    Component resources are accepted when their type starts with one of ``component_prefixes``.
    ``resources`` lists what was registered (filled by :class:`RecordingMonitor`), ``stack_outputs``
    what the program exported, ``failures`` every refusal (also raised).

    ``public_address``: an optional address allocator for public (external-network) addresses, called as
    ``public_address(name, nic_index)`` for a port on an external network (``name``: the port's, ``nic_index``
    0) or an instance NIC attached to one by name, and answering the IPv4 address the mock cloud reports
    (the port's ``allFixedIps``, an instance's ``networks[i].fixedIpV4``, hence ``accessIpV4``); ``None`` keeps
    the default (an address of 198.18.0.0/15 derived from the URN). The fire drill passes the static IPs it
    gives the containers on its "internet" network, so addresses reach the hosts exactly as the components
    pass them. A network is external when the program looked it up by name, or when it is not one of the
    networks the program created.
    """

    def __init__(
        self,
        component_prefixes: tuple[str, ...] = ("resilient-stack:",),
        *,
        public_address: Callable[[str, int], str] | None = None,
    ) -> None:
        MockCloud.__init__(self, public_address)
        self.component_prefixes = component_prefixes
        self.resources: list[RecordedResource] = []
        self.stack_outputs: dict[str, Any] = {}
        self.failures: list[str] = []
        self.messages: list[tuple[str, str]] = []  # what the program logged (pulumi.log): (level name, message)
        # the program's log goes here, not to the process's root logger (the drill's stderr is its progress)
        self.engine_logger = logging.Logger("resilient-stack-mockrun")
        self.engine_logger.addHandler(_Collect(self.messages))
        self._current = threading.local()

    # -- the Mocks interface ---------------------------------------------------------------------
    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]  # the SDK takes both
        inputs = _plain(dict(args.args))
        if args.token == GET_NETWORK and set(inputs) == {"name"} and isinstance(inputs["name"], str):
            # the one lookup the program makes: an external network's ID by its name (a port needs it)
            name = inputs["name"]
            nid = str(uuid.uuid5(_NS, f"external/{name}"))
            with self._lock:
                self._external[nid] = name
            return {
                "id": nid,
                "name": name,
                "external": True,
                "shared": "true",
                "adminStateUp": "true",
                "subnets": [str(uuid.uuid5(_NS, f"external/{name}/subnet"))],
                "allTags": [],
                "mtu": 1500,
            }
        self._fail(
            UnexpectedInvoke(
                f"mockrun: the program invoked {args.token} ({sorted(args.args)}); resilient-stack makes one "
                "data-source lookup only (an external network's ID by name): image, flavor and networks are given by name"
            )
        )

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        if args.resource_id:
            self._fail(
                UnmockedResource(
                    f"mockrun: the program reads or imports an existing {args.typ} ({args.name}, id {args.resource_id})"
                )
            )
        key = getattr(self._current, "urn", None) or f"{args.typ}::{args.name}"
        if args.typ.startswith("pulumi:providers:"):
            rid = str(uuid.uuid5(_NS, key))
            with self._lock:
                self._providers[rid] = dict(args.inputs)
            return rid, dict(args.inputs)
        if not args.custom and args.typ.startswith(self.component_prefixes):
            return "", {}
        handler = self._handlers.get(args.typ)
        if handler is None:
            kind = "component" if not args.custom else "resource"
            self._fail(
                UnmockedResource(
                    f"mockrun: no mock for {kind} type {args.typ} ({args.name}); teach resilient_stack.testing.mockrun "
                    "its outputs, or do not create it"
                )
            )
        rid = str(uuid.uuid5(_NS, key))
        region = self._provider_region(args.provider)
        outputs = handler(args, key, {"id": rid, **({"region": region} if region else {})})
        return rid, outputs

    # -- recording (called by RecordingMonitor) --------------------------------------------------
    @contextmanager
    def registering(self, urn: str) -> Iterator[None]:
        """Within: ``new_resource`` calls of this thread are for ``urn`` (ids and addresses derive from it)."""
        self._current.urn = urn
        try:
            yield
        finally:
            self._current.urn = None

    def record(self, resource: RecordedResource) -> None:
        with self._lock:
            self.resources.append(resource)

    def record_outputs(self, urn: str, outputs: Mapping[str, Any]) -> None:
        plain, secret = _split(outputs)
        with self._lock:
            for i, r in enumerate(self.resources):
                if r.urn == urn:
                    self.resources[i] = replace(r, outputs=plain, secret_outputs=secret)
                    break
            if urn.split("::")[2] == STACK_TYPE:
                self.stack_outputs = plain

    def _fail(self, exc: MockRunError) -> NoReturn:
        with self._lock:
            self.failures.append(str(exc))
        raise exc


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock resource monitor that records every registration in its :class:`RecordingMocks`."""

    mocks: RecordingMocks

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.thread_loops: set[asyncio.AbstractEventLoop] = set()
        self._loops_lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine gives: the parent's whole qualified type chain (pulumi's mock monitor keeps only the
        parent's last type), the root stack left out, so mocked exports carry the URNs of a real deployment."""
        if parent:
            qualified = parent.split("::")[2]
            if qualified != STACK_TYPE:
                type_ = f"{qualified}${type_}"
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{name}"

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        # pulumi's mock monitor gives each executor thread its own event loop (pulumi_internals.thread_event_loop) and never
        # closes it; left to the garbage collector, such a loop can print a traceback at interpreter exit.
        # Take the same loop here (no extra one is made) so that the run closes it (see _run).
        thread_loop = thread_event_loop()
        with self._loops_lock:
            self.thread_loops.add(thread_loop)
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs, secret_inputs = _split(deserialize_properties(request.object))
        with self.mocks.registering(urn):
            response = super().RegisterResource(request)
        registered = self.resources.get(urn)
        outputs = dict(registered.state) if registered else {}
        plain_outputs, secret_outputs = _split(outputs)
        secret_outputs |= frozenset(k for k in request.additionalSecretOutputs if k in plain_outputs)
        secret_outputs |= frozenset(k for k in secret_inputs if k in plain_outputs)
        custom = bool(request.custom)
        self.mocks.record(
            RecordedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=custom,
                id=(registered.id if registered else None) if custom else None,
                parent=request.parent or None,
                provider=request.provider or "",
                inputs=inputs if request.type != STACK_TYPE else {},
                outputs=plain_outputs if custom else {},
                secret_inputs=secret_inputs,
                secret_outputs=secret_outputs if custom else frozenset(),
                dependencies=tuple(sorted(set(request.dependencies))),
                package_version=request.version or "",
                options=_options(request),
            )
        )
        return response

    def RegisterResourceOutputs(self, request):  # noqa: N802 - gRPC method name
        self.mocks.record_outputs(request.urn, deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)

    def ReadResource(self, request):  # noqa: N802 - gRPC method name
        self.mocks._fail(
            UnmockedResource(
                f"mockrun: the program reads an existing {request.type} ({request.name}, id {request.id}): "
                "resilient-stack creates what it uses"
            )
        )


# --------------------------------------------------------------------------------------------------
# Running the program
# --------------------------------------------------------------------------------------------------


def _secret_key(key: str) -> bool:
    """One of the backup repository's keys (in any namespace): a secret the engine decrypts, the mocks cannot."""
    return key.rpartition(":")[2] in (*SECRET_CONFIG_KEYS, *ALERT_SECRET_KEYS)


def engine_config(config: Mapping[str, Any], source: str = "stack config") -> dict[str, str]:
    """A stack file's ``config:`` mapping as the engine hands it to the program (strings; JSON for objects).

    The backup repository's keys, when the file holds them encrypted, are left out: unreadable here, they are
    unset for the program, which then previews with placeholder keys (``components.stack.backup_keys``)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and "secure" in value and _secret_key(str(key)):
            continue
        if isinstance(value, Mapping) and "secure" in value:
            raise InputError(
                source,
                f"{key} is an encrypted secret; mockrun cannot decrypt it (pass it in clear with config_overrides)",
            )
        if isinstance(value, str):
            out[str(key)] = value
        elif isinstance(value, bool):
            out[str(key)] = "true" if value else "false"
        elif isinstance(value, (int, float)):
            out[str(key)] = json.dumps(value)
        else:
            out[str(key)] = json.dumps(value)
    return out


def _default_program(enforce_rules: bool = True) -> Any:
    from resilient_stack.components.stack import program

    return program(enforce_rules=enforce_rules)


def _run(
    mocks: RecordingMocks, project: str, stack: str, preview: bool, config: dict[str, str], program: Callable[[], Any]
) -> None:
    reset_options(project=project, stack=stack, preview=preview, organization="organization")
    monitor = RecordingMonitor(mocks)
    configure(
        pulumi_mocks.MockSettings(
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
            engine=pulumi_mocks.MockEngine(mocks.engine_logger),
            project=project,
            stack=stack,
            dry_run=preview,
            organization="organization",
            callbacks=None,
        )
    )
    set_all_config(config, [k for k in config if _secret_key(k)])  # given in clear here, secrets for the program
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run_in_stack(program))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        for thread_loop in monitor.thread_loops:  # the executor threads' loops: idle now, closed here
            if not thread_loop.is_closed() and not thread_loop.is_running():
                thread_loop.close()


def run_program(
    stack_file: str | Path,
    stack: str | None = None,
    *,
    project: str = PROJECT,
    preview: bool = True,
    mocks: RecordingMocks | None = None,
    program: Callable[[], Any] | None = None,
    config_overrides: Mapping[str, Any] | None = None,
    enforce_rules: bool = True,
) -> list[RecordedResource]:
    """Evaluate the Pulumi program with ``stack_file``'s config under :class:`RecordingMocks`.

    Args:
        stack_file: a ``Pulumi.<stack>.yaml`` file.
        stack: the stack name (default: from the file name).
        project: the project name (URNs).
        preview: run as ``pulumi preview`` does (the default: ``pulumi.runtime.is_dry_run()``; nothing is created,
            and without the backup repository's keys the hosts get placeholder keys); ``False``: as ``pulumi up``,
            which refuses without those keys (give them in ``config_overrides``, in clear: the mocks mark them secret).
        mocks: the mocks to use (pass your own to inspect ``resources``/``failures`` after an error).
        program: the program function (default: :func:`resilient_stack.components.stack.program`, as ``__main__.py``).
        config_overrides: full keys (``resilient-stack:webCount``...) replacing or adding config values.
        enforce_rules: ``False`` builds a design the placement rules reject instead of refusing it
            (:class:`~resilient_stack.components.stack.ResilientWebStack`'s escape hatch). For the fire drill only,
            which burns the rejected sbg2021 replay to show the loss; never read from config, and only
            with the default program.

    Returns:
        The recorded resources, the root stack included.

    Raises:
        StackConfigError / InputError, DesignRejected: as the program raises them (unwrapped from the
        ``pulumi.RunError`` that carries them to the engine); MockRunError for what the mocks refuse.
    """
    config, file_stack = read_stack_file(stack_file)
    if config_overrides:
        config = {**config, **config_overrides}
    values = engine_config(config, str(stack_file))
    mocks = mocks if mocks is not None else RecordingMocks()
    if not enforce_rules and program is not None:
        raise ValueError("enforce_rules=False applies to the default program only")
    if program is None:
        program = _default_program if enforce_rules else functools.partial(_default_program, enforce_rules=False)
    try:
        contextvars.copy_context().run(
            _run,
            mocks,
            project,
            stack or file_stack,
            preview,
            values,
            program,
        )
    except pulumi.RunError as exc:
        if isinstance(exc.__cause__, (InputError, DesignRejected)):
            raise exc.__cause__ from None
        raise
    if mocks.failures:
        raise MockRunError("; ".join(mocks.failures))
    return list(mocks.resources)
