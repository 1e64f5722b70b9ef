"""Errors that reach the user as one clear line (exit code 2), never as a traceback."""

from __future__ import annotations


class InputError(Exception):
    """Unusable input: a file the auditor cannot read or understand.

    ``str(err)`` is the one line printed on stderr: it names the file and the problem.
    """

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class DesignRejected(Exception):
    """A design that the mandatory placement rules reject (components refuse to build it)."""

    def __init__(self, findings: list) -> None:  # list[rules.Finding]
        self.findings = findings
        lines = [f"[{f.level}] {f.rule}: {f.message}" for f in findings]
        super().__init__(
            "design rejected by the placement rules:\n  " + "\n  ".join(lines)
        )

    @property
    def rule_ids(self) -> list[str]:
        return sorted({f.rule for f in self.findings})
