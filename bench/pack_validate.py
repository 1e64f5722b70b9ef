#!/usr/bin/env python3
"""Benchmark helper: the policy pack's stack validation on the resources of a stack export.

    python -m bench.pack_validate EXPORT.json

Builds the pack's view of the stack the way `pulumi policy analyze --file` hands it over (each
resource's outputs, its provider with the provider's inputs, secrets redacted to "[secret]"),
deserialised and wrapped like the policy SDK's servicer does, then runs every placement policy's
validation. Prints one JSON line: the violations, and the seconds spent preparing the resources (the
SDK's share: decoding, deserialising, proxies) and validating them (the pack's share: the shared rules).
The benchmark times the whole process and reports the validation share on its own.
"""

from __future__ import annotations

import json
import sys
import time

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from resilient_policies import PLACEMENT_POLICIES
from resilient_stack.core.vocabulary import SECRET_SIG


def _redact(value):
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return "[secret]"
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _props(props) -> object:
    return unknown_checking_proxy(deserialize_properties(_redact(props or {})))


def resources(doc: dict) -> list[PolicyResource]:
    res = doc["deployment"]["resources"]
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    providers = {
        r["urn"]: PolicyProviderResource(r["type"], _props(r.get("inputs")), r["urn"], r["urn"].rsplit("::", 1)[1])
        for r in res
        if r["type"].startswith("pulumi:providers:")
    }
    out = []
    for r in res:
        ref = r.get("provider")
        prov = providers.get(ref.rsplit("::", 1)[0]) if isinstance(ref, str) and "::" in ref else None
        out.append(
            PolicyResource(
                r["type"], _props(r.get("outputs")), r["urn"], r["urn"].rsplit("::", 1)[1], opts, prov, None, [], {}
            )
        )
    return out


def main() -> int:
    t0 = time.perf_counter()
    with open(sys.argv[1], "rb") as fh:
        doc = json.load(fh)
    prepared = resources(doc)
    del doc
    t1 = time.perf_counter()
    seen: list[str] = []
    for policy in PLACEMENT_POLICIES:
        # the SDK's servicer gives every policy its own args (and re-deserialises every resource for each:
        # that SDK cost is counted once here); distinct args make the pack do its per-policy work for real
        args = StackValidationArgs(prepared, {})
        policy.validate(args, lambda message, urn=None: seen.append(message))
    t2 = time.perf_counter()
    print(json.dumps({"violations": len(seen), "prepare_seconds": t1 - t0, "validate_seconds": t2 - t1}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
