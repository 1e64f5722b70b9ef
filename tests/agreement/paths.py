"""Each path that decides placements, run on a corpus case, its findings as comparable triples.

A finding becomes ``(rule, level, role)``, and an exempted one ``(rule, "exempt", role)``: what the rules
decided, without the resource names (a design names replicas ``gra/web/1``, an export names URNs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from resilient_stack import cli
from resilient_stack.components.stack_config import check_design, parse_stack_config, validate_stack
from resilient_stack.core.design import parse_design
from resilient_stack.core.policy import build_catalog, parse_policy_config
from resilient_stack.core.rules import DesignRejected, Finding, Report
from resilient_stack.testing.mockrun import run_program, to_stack_export
from tests import builders as b
from tests.agreement.cases import Case, stack_config
from tests.policies.support import run_in_process

Triple = tuple[str, str, str | None]
TYPES = {
    "web": b.INSTANCE,
    "database": b.INSTANCE,
    "object-storage": b.CONTAINER,
    "load-balancer": "openstack:loadbalancer/loadBalancer:LoadBalancer",
    "backup": b.CONTAINER,
}


def triple(rule: str, level: str, role: str | None, exempted: Any) -> Triple:
    return (rule, "exempt" if exempted else level, role)


def of_report(report: Report) -> list[Triple]:
    return sorted(triple(f.rule, f.level, f.role, f.exempted) for f in report.findings)


def of_findings(findings: Iterable[Finding]) -> list[Triple]:
    return sorted(triple(f.rule, f.level, f.role, f.exempted) for f in findings)


def of_json(doc: dict) -> list[Triple]:
    return sorted(triple(f["rule"], f["level"], f["role"], f.get("exempted")) for f in doc["findings"])


_ROLE = re.compile(r"`([a-z][a-z0-9-]*)`")
_EXEMPTED = re.compile(r"^exempted \(.*?\): \[([a-z-]+)\] (.*)$", re.S)


def of_pack(diags: list) -> list[Triple]:
    """The pack's violations: the policy is the rule, the role the first `role` the rules' message names; the
    helper policy `exempted-findings` names the rule of each waived finding (advisory)."""
    out = []
    for d in diags:
        assert "can't run policy" not in d.message, d
        rule, text, exempt = d.policy, d.message, False
        if d.policy == "exempted-findings":
            m = _EXEMPTED.match(d.message)
            assert m and d.level == "advisory", d
            rule, text, exempt = m.group(1), m.group(2), True
        m = _ROLE.search(text)
        out.append(triple(rule, d.level, m.group(1) if m else None, exempt))
    return sorted(out)


def expected(case: Case) -> list[Triple]:
    return sorted(
        [(r, lvl, role) for r, lvl, role in case.expected] + [(r, "exempt", role) for r, role in case.exempted]
    )


# ---- the auditor (the CLI's own code, in-process) -------------------------------------------------------


def audit(path: Path, directory: Path, settings: dict, profile: str | None) -> list[Triple]:
    args = ["audit", str(path), "--format", "json", "--output", str(directory / "report.json")]
    if settings:
        org = directory / "org.yaml"
        org.write_text(yaml.safe_dump(settings, allow_unicode=True))
        args += ["--config", str(org)]
    if profile:
        args += ["--profile", profile]
    code = cli.main(args)
    doc = json.loads((directory / "report.json").read_text())
    assert code == (1 if doc["verdict"] == "fail" else 0), (code, doc["verdict"])
    return of_json(doc)


def design_file(case: Case, directory: Path, *, quorum_in_design: bool) -> Path:
    path = directory / f"{case.name}.design.yaml"
    path.write_text(yaml.safe_dump(case.design(quorum_in_design=quorum_in_design), allow_unicode=True))
    return path


# ---- the components ---------------------------------------------------------------------------------


def components(case: Case) -> list[Triple]:
    """``check_design``: the components' check of a design, with the organisation settings."""
    cfg = parse_policy_config(case.settings(), "org")
    design = parse_design(case.design(), case.name)
    try:
        return of_report(check_design(design, cfg.rule_config(case.profile), build_catalog(cfg)))
    except DesignRejected as exc:
        assert exc.report is not None and of_findings(exc.findings) == [
            t for t in of_report(exc.report) if t[1] == "mandatory"
        ]
        return of_report(exc.report)


def stack(case: Case) -> list[Triple]:
    """``validate_stack`` on the stack configuration that holds the case's placements."""
    cfg = parse_stack_config(stack_config(case), "stack", stack="corpus")
    try:
        return of_report(validate_stack(cfg))
    except DesignRejected as exc:
        return of_report(exc.report)


def program(case: Case, directory: Path) -> tuple[list[Triple] | None, dict | None]:
    """The components' Pulumi program under the mock runner: (the findings of its refusal, None) when the rules
    refuse the stack, else (None, the ``pulumi stack export`` of what it built)."""
    path = directory / "Pulumi.corpus.yaml"
    values = {f"resilient-stack:{k}": v for k, v in stack_config(case).items()}
    path.write_text(yaml.safe_dump({"config": values}, allow_unicode=True))
    try:
        recorded = run_program(path)
    except DesignRejected as exc:
        return of_report(exc.report), None
    return None, to_stack_export(recorded)


# ---- a stack export of the placements, for the auditor and the pack ------------------------------------------


def export(case: Case, *, quorum_labels: bool = True) -> dict:
    """One resource per replica (instances, containers, load balancers), on one explicit provider per placement."""
    e = b.Export()
    voting = set(case.quorum_roles)
    for p in case.placements:
        prov = e.provider(p["name"], region=p["region"], auth_url=p.get("auth_url"), cloud=p.get("cloud"))
        extra = {"availabilityZone": p["availability_zone"]} if "availability_zone" in p else {}
        for role, count in p["replicas"].items():
            for i in range(count):
                votes = quorum_labels and (role in voting or role in p.get("quorum", ()))
                e.resource(
                    TYPES[role],
                    f"{p['name']}-{role}-{i + 1}",
                    prov,
                    role=role,
                    quorum=votes,
                    exempt=p.get("exempt"),
                    tags_style=role == "load-balancer",
                    **extra,
                )
    for bk in case.backups:
        prov = e.provider(
            f"{bk['name']}-provider", region=bk["region"], auth_url=bk.get("auth_url"), cloud=bk.get("cloud")
        )
        e.resource(TYPES["backup"], bk["name"], prov, role="backup", protects=bk["protects"], exempt=bk.get("exempt"))
    return e.doc()


def pack(doc: dict, settings: dict, profile: str | None) -> list[Triple]:
    """The policy pack in-process, configured as ``policies/make_pack_config.py ORG [--profile]`` configures it."""
    from resilient_policies.config import pack_config

    config = pack_config(parse_policy_config(settings, "org"), profile)
    return of_pack(run_in_process(doc, config))
