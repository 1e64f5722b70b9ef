"""One error root (issue 26, point 7): every error the project raises on purpose is a ResilientStackError with its
exit code, said as one line; the CLI catches the root once."""

from __future__ import annotations

import pytest

from resilient_stack import cli
from resilient_stack.core.rules import DesignRejected, Finding
from resilient_stack.drills.plan import DrillError
from resilient_stack.hosts.payload import PayloadError
from resilient_stack.io.errors import InputError, ResilientStackError
from resilient_stack.testing.podman import BootError, PodmanError, PodmanUnavailable


def test_every_error_of_the_project_has_the_one_root_and_an_exit_code():
    from resilient_policies.config import PolicyConfigError
    from resilient_stack.components.stack_config import StackConfigError

    for cls in (
        InputError,
        StackConfigError,
        DesignRejected,
        PayloadError,
        PolicyConfigError,
        DrillError,
        PodmanError,
        BootError,
        PodmanUnavailable,
    ):
        assert issubclass(cls, ResilientStackError), cls
    assert InputError.exit_code == 2 and DrillError.exit_code == 2 and DesignRejected.exit_code == 1
    # the ones callers already catch as ValueError / RuntimeError still are
    assert issubclass(PayloadError, ValueError) and issubclass(PolicyConfigError, ValueError)
    assert issubclass(DrillError, RuntimeError) and issubclass(PodmanError, RuntimeError)


def test_a_log_tail_becomes_its_first_line_and_its_cause():
    err = BootError("rs-1-db did not finish booting\n  cloud-init: running\n  Job for patroni.service failed.\n  x")
    assert err.one_line() == "rs-1-db did not finish booting Job for patroni.service failed."
    assert DrillError("").one_line() == "DrillError"


def test_a_rejected_design_is_one_line_with_every_finding():
    f = [
        Finding("single-site", "mandatory", "web", "all 2 `web` replicas are in site X", ("a", "b")),
        Finding("backup-colocated", "mandatory", "database", "the only backup ...", ("c",)),
    ]
    line = DesignRejected(f).one_line()
    assert "\n" not in line and "single-site" in line and "backup-colocated" in line


@pytest.mark.parametrize(
    "error,code",
    [
        (DesignRejected([Finding("single-site", "mandatory", "web", "m", ())]), 1),
        (PayloadError("unknown placeholder {{x}}\nin nginx/site.conf"), 2),
    ],
)
def test_the_cli_says_the_projects_errors_in_one_line_with_their_exit_code(monkeypatch, capsys, error, code):
    def explain(args):
        raise error

    monkeypatch.setattr(cli, "cmd_explain", explain)
    monkeypatch.delenv("RESILIENT_STACK_DEBUG", raising=False)
    assert cli.main(["explain", "single-site"]) == code
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("resilient-stack: error: ")
    assert "internal error" not in err
