"""Shared by the policy-pack tests: SDK objects built by hand, stack exports seen the way the engine
hands them to a policy pack, and the auditor's verdict on the same resources.

``engine_resources(doc)`` follows ``pulumi policy analyze --file`` (pkg/resource/deploy/analyze_snapshot.go,
CLI v3.274.1): per-resource analysis gets each resource's INPUTS, stack analysis its OUTPUTS, and both
get the resource's provider with the provider's INPUTS; secrets the CLI cannot decrypt are redacted to
the string ``[secret]`` (``secrets="redact"``), decryptable ones reach the pack as secrets
(``secrets="envelope"``: the wire form ``{sig: secret, value}``, which the SDK unwraps).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from resilient_stack.core.vocabulary import SECRET_SIG
from tests import builders as b

ROOT = Path(__file__).resolve().parents[2]
POLICIES_DIR = ROOT / "policies"
SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270"
OPENSTACK = "pulumi:providers:openstack"
SECGROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"


# ---- SDK objects, as the servicer builds them --------------------------------------------------


def sdk_props(props: dict | None) -> Any:
    """Properties as a validation receives them: deserialized (secrets unwrapped) and unknown-checking."""
    return unknown_checking_proxy(deserialize_properties(props or {}))


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def provider(name: str = "gra", typ: str = OPENSTACK, **props: Any) -> PolicyProviderResource:
    return PolicyProviderResource(typ, sdk_props(props), b.urn(typ, name), name)


def resource(
    typ: str, name: str, props: dict | None = None, prov: PolicyProviderResource | None = None, deps: dict | None = None
) -> PolicyResource:
    return PolicyResource(typ, sdk_props(props), b.urn(typ, name), name, options(), prov, None, [], deps or {})


def replica(
    name: str,
    prov: PolicyProviderResource | None,
    role: str = "web",
    typ: str = b.INSTANCE,
    deps: dict | None = None,
    **props: Any,
) -> PolicyResource:
    labels = {"resilient-stack:role": role}
    labels.update(props.pop("labels", {}))
    return resource(typ, name, {"metadata": labels, **props}, prov, deps)


def stack_args(resources: list[PolicyResource], config: dict | None = None) -> StackValidationArgs:
    return StackValidationArgs(resources, config)


def resource_args(
    typ: str,
    name: str,
    props: dict | None = None,
    prov: PolicyProviderResource | None = None,
    config: dict | None = None,
) -> ResourceValidationArgs:
    return ResourceValidationArgs(typ, sdk_props(props), b.urn(typ, name), name, options(), prov, config)


@dataclass
class Violations:
    """A ``report_violation`` that records (message, urn)."""

    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def __call__(self, message: str, urn: str | None = None) -> None:
        assert isinstance(message, str) and message
        self.seen.append((message, urn))

    @property
    def messages(self) -> list[str]:
        return [m for m, _ in self.seen]


# ---- stack exports seen by a policy pack ------------------------------------------------------


def _secrets(value: Any, mode: str) -> Any:
    if isinstance(value, dict):
        if SECRET_SIG in value:
            if mode == "envelope":
                plain = json.loads(value["plaintext"]) if "plaintext" in value else "decrypted-secret"
                return {SECRET_SIG: SECRET_VALUE_SIG, "value": plain}
            return "[secret]"
        return {k: _secrets(v, mode) for k, v in value.items()}
    if isinstance(value, list):
        return [_secrets(v, mode) for v in value]
    return value


def engine_resources(doc: dict, secrets: str = "redact") -> list[dict]:
    """The export's resources as ``pulumi policy analyze --file`` sends them to an analyzer."""
    res = [r for r in doc["deployment"]["resources"] if not r.get("delete")]
    providers = {r["urn"]: r for r in res if r["type"].startswith("pulumi:providers:")}
    out = []
    for r in res:
        prov = None
        ref = r.get("provider")
        if isinstance(ref, str) and "::" in ref:
            p = providers.get(ref.rsplit("::", 1)[0])
            if p is not None:
                prov = {
                    "urn": p["urn"],
                    "type": p["type"],
                    "name": p["urn"].rsplit("::", 1)[1],
                    "props": _secrets(p.get("inputs") or {}, secrets),
                }
        out.append(
            {
                "urn": r["urn"],
                "type": r["type"],
                "name": r["urn"].rsplit("::", 1)[1],
                "inputs": _secrets(r.get("inputs") or {}, secrets),
                "outputs": _secrets(r.get("outputs") or {}, secrets),
                "provider": prov,
                "parent": r.get("parent", ""),
                "dependencies": list(r.get("dependencies") or []),
                "propertyDependencies": dict(r.get("propertyDependencies") or {}),
            }
        )
    return out


# ---- the pack, driven in-process the way the SDK's servicer drives it ------------------------


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    level: str  # advisory | mandatory
    urn: str
    message: str


def configured_levels(policies: list, config: dict | None = None) -> dict[str, tuple[str, dict]]:
    """Each policy's (level, properties) after the CLI reconciles defaults, "all" and per-policy config."""
    config = config or {}
    out = {}
    for p in policies:
        props = {
            k: v["default"]
            for k, v in (p.config_schema.properties if p.config_schema else {}).items()
            if "default" in v
        }
        level = p.enforcement_level.value
        if isinstance(config.get("all"), str):
            level = config["all"]
        given = config.get(p.name)
        if isinstance(given, str):
            level = given
        elif isinstance(given, dict):
            given = dict(given)
            level = given.pop("enforcementLevel", level)
            props.update(given)
        out[p.name] = (level, props)
    return out


def run_in_process(doc: dict, config: dict | None = None, secrets: str = "redact") -> list[Diagnostic]:
    """Run every policy's validation on an export, as the servicer does (remediations first)."""
    from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy
    from pulumi_policy.proxy import UnknownValueError

    import resilient_policies

    levels = configured_levels(resilient_policies.POLICIES, config)
    resources = engine_resources(doc, secrets)
    diags: list[Diagnostic] = []

    def prov_obj(p):
        if p is None:
            return None
        return PolicyProviderResource(p["type"], sdk_props(p["props"]), p["urn"], p["name"])

    def collect(policy, level, urn_default):
        def report(message, urn=None):
            lvl = "mandatory" if level == "remediate" else level
            diags.append(Diagnostic(policy.name, lvl, urn or urn_default, message))

        return report

    for r in resources:
        for policy in resilient_policies.POLICIES:
            level, props = levels[policy.name]
            if level == "remediate" and isinstance(policy, ResourceValidationPolicy) and policy.has_remediation():
                secret_preserving = unknown_checking_proxy(deserialize_properties(r["inputs"], True))
                args = ResourceValidationArgs(
                    r["type"], secret_preserving, r["urn"], r["name"], options(), prov_obj(r["provider"]), props
                )
                assert policy.remediate(args) is None  # the pack never rewrites a resource
        for policy in resilient_policies.POLICIES:
            level, props = levels[policy.name]
            if level == "disabled" or not isinstance(policy, ResourceValidationPolicy) or not policy.has_validation():
                continue
            args = ResourceValidationArgs(
                r["type"], sdk_props(r["inputs"]), r["urn"], r["name"], options(), prov_obj(r["provider"]), props
            )
            try:
                policy.validate(args, collect(policy, level, r["urn"]))
            except UnknownValueError as exc:  # the servicer's downgrade: must never happen
                diags.append(Diagnostic(policy.name, "advisory", "", f"can't run policy during preview: {exc.message}"))
    stack_urn = next((r["urn"] for r in resources if r["type"] == "pulumi:pulumi:Stack"), "")
    for policy in resilient_policies.POLICIES:
        level, props = levels[policy.name]
        if level == "disabled" or not isinstance(policy, StackValidationPolicy):
            continue
        objs = [
            PolicyResource(
                r["type"],
                sdk_props(r["outputs"]),
                r["urn"],
                r["name"],
                options(),
                prov_obj(r["provider"]),
                None,
                [],
                {k: [] for k in r["propertyDependencies"]},
            )
            for r in resources
        ]
        try:
            policy.validate(StackValidationArgs(objs, props), collect(policy, level, stack_urn))
        except UnknownValueError as exc:
            diags.append(Diagnostic(policy.name, "advisory", "", f"can't run policy during preview: {exc.message}"))
    return diags


def mandatory_rules(diags: list[Diagnostic]) -> set[str]:
    return {d.policy for d in diags if d.level == "mandatory"}


# ---- the auditor on the same resources --------------------------------------------------------


def audit(doc: dict, tmp_path: Path, *args: str, name: str = "export.json") -> dict:
    """`resilient-stack audit --format json` of the export: the report, with its exit code."""
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    r = subprocess.run(
        [sys.executable, "-m", "resilient_stack", "audit", str(path), "--format", "json", *args],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode in (0, 1), r.stderr.decode()
    report = json.loads(r.stdout)
    report["exit"] = r.returncode
    return report


def audit_blocking(report: dict) -> set[str]:
    return {f["rule"] for f in report["findings"] if f["level"] == "mandatory" and not f.get("exempted")}


def assert_agree(diags: list[Diagnostic], report: dict) -> None:
    """Same verdict, same set of mandatory rule ids, and no policy downgraded by an unknown value."""
    assert not [d for d in diags if "can't run policy" in d.message], diags
    assert mandatory_rules(diags) == audit_blocking(report), (sorted(mandatory_rules(diags)), report["findings"])
    assert ("fail" if mandatory_rules(diags) else "pass") == report["verdict"]
    assert report["exit"] == (1 if report["verdict"] == "fail" else 0)
