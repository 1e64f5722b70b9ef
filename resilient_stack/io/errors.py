"""The error that reaches the user as one clear line (exit code 2), never as a traceback."""

from __future__ import annotations


class InputError(Exception):
    """Unusable input: a file the auditor cannot read or understand.

    ``str(err)`` is the one line printed on stderr: it names the file and the problem.
    """

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")
