"""A realistic state of the shipped production stack as deployed by THIS code, made offline.

A deployed stack's state holds what the provider's Check made of the program's inputs (defaults added, a
``__defaults`` list per object) and consistent ids and addresses. The real engine's preview of a new stack gives
the first (``newState.inputs`` of every step, with unknowns where a value comes from the cloud); the mock runner
gives the second (every id, address and generated password, consistent across resources, as the program computes
its inputs from them). :func:`deployed_state` merges the two into a ``pulumi stack export`` document, which
``pulumi stack import`` loads: a preview of the unchanged program against it must then show no change at all (the
test checks this first, so the state is as the engine would have left it), and a preview of a change shows what
that change would do to a running stack. Secrets are given in plaintext (as ``pulumi stack export
--show-secrets``): the import encrypts them with the stack's passphrase.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from resilient_stack.testing.mockrun import RecordedResource, to_stack_export
from resilient_stack.testing.pulumi_internals import SECRET_SIG

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown value in preview JSON
OPTIONS = ("protect", "retainOnDelete", "deleteBeforeReplace", "ignoreChanges", "additionalSecretOutputs")


def _merge(checked: Any, actual: Any) -> Any:
    """``checked`` (the preview's, with defaults) with every unknown or redacted value taken from ``actual``."""
    if isinstance(actual, dict) and SECRET_SIG in actual:
        return actual  # a secret: the mock's plaintext envelope
    if checked in (UNKNOWN, "[secret]"):
        return actual
    if isinstance(checked, dict) and isinstance(actual, dict):
        out = {k: _merge(v, actual[k]) if k in actual else v for k, v in checked.items()}
        out.update({k: v for k, v in actual.items() if k not in checked})
        return out
    if isinstance(checked, list) and isinstance(actual, list) and len(checked) == len(actual):
        return [_merge(c, a) for c, a in zip(checked, actual)]
    return actual if checked is None else checked


def _without_defaults(value: Any) -> Any:
    if isinstance(value, dict) and SECRET_SIG not in value:
        return {k: _without_defaults(v) for k, v in value.items() if k != "__defaults"}
    if isinstance(value, list):
        return [_without_defaults(v) for v in value]
    return value


def deployed_state(recorded: list[RecordedResource], preview_steps: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``pulumi stack export`` of ``recorded`` (a mocked run) as the engine would have deployed it."""
    export = to_stack_export(recorded, show_secrets=True)
    steps = {s["urn"]: s["newState"] for s in preview_steps if "newState" in s}
    for r in export["deployment"]["resources"]:
        step = steps.get(r["urn"])
        if step is None or not r.get("custom"):
            continue
        if r["type"].startswith("pulumi:providers:"):
            r["inputs"] = _merge(copy.deepcopy(step.get("inputs", {})), r["inputs"])
            r["outputs"] = {k: v for k, v in r["inputs"].items() if k != "__internal"}
            continue
        r["inputs"] = _merge(copy.deepcopy(step.get("inputs", {})), r["inputs"])
        r["outputs"] = _merge(_without_defaults(copy.deepcopy(step.get("inputs", {}))), r["outputs"])
        for key in OPTIONS:
            if step.get(key):
                r[key] = step[key]
    return export


# What the random provider stores for the options its resources default (its documented defaults: a real state
# holds them, e.g. tests/integration/engine/fixtures/production-state-7af5db8.json on branch wt-openstack); the
# options it leaves unset stay absent.
PROVIDER_DEFAULTS = {
    "random:index/randomPassword:RandomPassword": {
        "lower": True,
        "upper": True,
        "number": True,
        "numeric": True,
        "minLower": 0,
        "minUpper": 0,
        "minNumeric": 0,
        "minSpecial": 0,
        "keepers": None,
        "overrideSpecial": None,
    },
}


def _empty(spec: Mapping[str, Any]) -> Any:
    """What the cloud reports for an output the program did not set: an empty value of the property's type."""
    kind = spec.get("type")
    return {"string": "", "array": [], "boolean": False, "integer": 0, "number": 0}.get(
        kind, {} if kind == "object" else None
    )


def with_computed_outputs(state: dict[str, Any], schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Every output property of each resource's type (provider schemas: ``pulumi package get-schema``), as a
    deployed state holds them: the computed ones the program never set get an empty value of their type."""
    for r in state["deployment"]["resources"]:
        pkg = r["type"].split(":", 1)[0]
        spec = schemas.get(pkg, {}).get("resources", {}).get(r["type"])
        if spec is None or not r.get("custom"):
            continue
        defaults = PROVIDER_DEFAULTS.get(r["type"], {})
        for name, prop in spec.get("properties", {}).items():
            if name not in r["outputs"]:
                value = defaults[name] if name in defaults else _empty(prop)
                if value is not None:
                    r["outputs"][name] = value
    return state
