"""The corpus of test_agreement.py WITHOUT the engine (fast, not marked `engine`): each case's expected verdict
against `resilient-stack audit` and against the pack driven in-process the way the policy SDK drives it
(tests/policies/support.py). A rule change that moves a verdict shows here first, then in test_agreement.py
against `pulumi policy analyze`."""

from __future__ import annotations

import json

import pytest

from resilient_policies import secrecy
from resilient_policies.config import pack_config
from resilient_stack.core.policy import parse_policy_config
from tests.integration.engine import corpus as c
from tests.integration.engine.conftest import audit
from tests.policies import support as s

CASES = [case.name for case in c.corpus()] + [f"stack-{stack}" for stack in sorted(c.SHIPPED)]


def build(name: str) -> c.Case:
    """The case called ``name`` (the shipped stacks run under mocks only when their test runs)."""
    if name.startswith("stack-"):
        return c.shipped_stack(name.removeprefix("stack-"))
    return next(case for case in c.corpus() if case.name == name)


@pytest.fixture(autouse=True)
def _fresh_secrecy_records():
    secrecy.clear()
    yield
    secrecy.clear()


@pytest.mark.parametrize("name", CASES)
def test_corpus_expectations_hold_in_process(name, tmp_path):
    case = build(name)
    config = None
    if case.profile is not None or case.org is not None:
        config = pack_config(parse_policy_config(case.org or {}, case.name), case.profile)
    # what `pulumi policy analyze` hands the pack: secrets in clear when it has the passphrase (the mock
    # exports' ciphertexts never decrypt), redacted otherwise
    decrypts = case.passphrase == c.PASSPHRASE and not case.name.startswith("stack-")
    diags = s.run_in_process(case.doc, config, "envelope" if decrypts else "redact")
    assert s.mandatory_rules(diags) == set(case.mandatory)
    assert not [d for d in diags if "can't run policy" in d.message]
    args = []
    if case.org is not None:
        path = tmp_path / "org.json"
        path.write_text(json.dumps(case.org))
        args += ["--config", str(path)]
    if case.profile is not None:
        args += ["--profile", case.profile]
    a = audit(c.write(case, tmp_path), *args)
    assert a.report["verdict"] == case.verdict and a.blocking == set(case.mandatory)
