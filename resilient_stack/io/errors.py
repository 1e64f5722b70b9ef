"""The errors that reach the user as one clear line with their exit code, never as a traceback.

:class:`ResilientStackError` is the root of every error the project raises on purpose; the CLI catches it once
(``resilient-stack: error: LINE``, exit :attr:`~ResilientStackError.exit_code`). Its subclasses:

| error | where | exit |
|---|---|---|
| :class:`InputError` (and ``StackConfigError``) | io, every reader | 2: unusable input |
| ``DesignRejected`` | core.rules: a design the mandatory rules reject | 1: the design fails |
| ``PayloadError`` | hosts.payload: a payload and its values do not match | 2 |
| ``PolicyConfigError`` | the policy pack's settings | 2 |
| ``DrillError``, ``PodmanError`` (``BootError``, ``PodmanUnavailable``) | the live drill and its hosts | 2: not carried out |
"""

from __future__ import annotations

from typing import Any, Sequence


class ResilientStackError(Exception):
    """The root of the project's errors: each says itself as one line (:meth:`one_line`) with an exit code."""

    exit_code = 2

    def one_line(self) -> str:
        """The message on one line: the first line, and the first line below it that names a cause (a systemd
        job, an ERROR or FATAL line of a log tail), if any."""
        lines = [ln.strip() for ln in str(self).strip().splitlines() if ln.strip()] or [type(self).__name__]
        cause = next((ln for ln in lines[1:] if any(k in ln for k in ("Job for", "ERROR:", "FATAL", "could not"))), "")
        return lines[0] + (" " + cause if cause else "")


class InputError(ResilientStackError):
    """Unusable input: a file the auditor cannot read or understand.

    ``str(err)`` is the one line printed on stderr: it names the file and the problem.
    """

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


MAX_PROBLEMS = 100  # a hostile document can hold a million mistakes: the line stays bounded


def problems_text(errors: Sequence[Any], what: str) -> str:
    """Every problem of a validation (pydantic's ``exc.errors()``) on one line: ``invalid WHAT at LOC: MSG``, or
    ``invalid WHAT, 2 problems: at placements.0.region: Field required; at name: ...``. Past :data:`MAX_PROBLEMS`,
    the count of the rest."""
    # a container's own error when its items have errors ("placements: at least 1 item after validation" once
    # every placement was refused) is a knock-on of theirs: the items' errors say it
    locs = [tuple(e.get("loc", ())) for e in errors]
    errors = [
        e
        for e, loc in zip(errors, locs)
        if not any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs)
    ]
    items = []
    for err in errors[:MAX_PROBLEMS]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "(top level)"
        msg = " ".join(str(err.get("msg", "invalid value")).removeprefix("Value error, ").split())
        items.append(f"at {loc}: {msg}")
    rest = len(errors) - len(items)
    if len(errors) == 1:
        return f"invalid {what} {items[0]}"
    return (
        f"invalid {what}, {len(errors)} problems: "
        + "; ".join(items)
        + (f"; and {rest} more problems" if rest > 0 else "")
    )
