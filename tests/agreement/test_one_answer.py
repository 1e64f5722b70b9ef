"""One answer on every path (issue 18, point 1): the same placements give the same findings -- rule ids, levels
and roles -- through the design file, the organisation settings, the components and the policy pack.

The corpus and what each case must give: tests/agreement/cases.py; the paths: tests/agreement/paths.py.
Every path's findings are compared with the case's EXPECTED findings, so paths cannot agree on nothing.
"""

from __future__ import annotations

import json

import pytest

from tests.agreement import paths
from tests.agreement.cases import corpus

CASES = corpus()
STACK_CASES = [c for c in CASES if c.stack]


def _id(case) -> str:
    return case.name


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_design_file(case, workdir):
    """`resilient-stack audit DESIGN [--config ORG]`, the quorum roles in the design."""
    path = paths.design_file(case, workdir, quorum_in_design=True)
    assert paths.audit(path, workdir, case.settings(), case.profile) == paths.expected(case)


@pytest.mark.parametrize("case", [c for c in CASES if c.quorum_roles], ids=_id)
def test_design_file_with_quorum_roles_in_the_organisation_settings(case, workdir):
    """The same placements, the quorum roles given by `--config` instead of the design."""
    path = paths.design_file(case, workdir, quorum_in_design=False)
    assert paths.audit(path, workdir, case.settings(quorum_in_settings=True), case.profile) == paths.expected(case)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_components_check_design(case):
    """The components' own check (check_design), which refuses a design with its full report."""
    assert paths.components(case) == paths.expected(case)


@pytest.mark.parametrize("case", STACK_CASES, ids=_id)
def test_stack_configuration(case):
    """validate_stack on a stack configuration holding the same placements."""
    assert paths.stack(case) == paths.expected(case)


@pytest.mark.parametrize("case", STACK_CASES, ids=_id)
def test_program_under_the_mock_runner(case, workdir):
    """The whole Pulumi program: refused with the expected findings, or built -- and then what it built, audited and
    analysed by the pack, gives the expected (non-blocking) findings."""
    refused, export = paths.program(case, workdir)
    want = paths.expected(case)
    if refused is not None:
        assert refused == want
        assert any(t[1] == "mandatory" for t in want)
        return
    assert not any(t[1] == "mandatory" for t in want), "the program built a stack the rules reject"
    path = workdir / "program.export.json"
    path.write_text(json.dumps(export))
    assert paths.audit(path, workdir, case.settings(), case.profile) == want
    assert paths.pack(export, case.settings(), case.profile) == want


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_export_audited(case, workdir):
    """A stack export with one resource per replica (voting members labelled), through the auditor."""
    path = workdir / "export.json"
    path.write_text(json.dumps(paths.export(case)))
    assert paths.audit(path, workdir, case.settings(), case.profile) == paths.expected(case)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_policy_pack(case):
    """The same export through the policy pack, in-process as the policy SDK drives it."""
    assert paths.pack(paths.export(case), case.settings(), case.profile) == paths.expected(case)


@pytest.mark.parametrize("case", [c for c in CASES if c.quorum_roles and c.quorum_by_role_only], ids=_id)
def test_policy_pack_with_quorum_roles_in_its_settings(case, workdir):
    """No quorum labels on the resources: the quorum roles come from the settings, in the pack and the auditor."""
    doc = paths.export(case, quorum_labels=False)
    settings = case.settings(quorum_in_settings=True)
    assert paths.pack(doc, settings, case.profile) == paths.expected(case)
    path = workdir / "export.json"
    path.write_text(json.dumps(doc))
    assert paths.audit(path, workdir, settings, case.profile) == paths.expected(case)
