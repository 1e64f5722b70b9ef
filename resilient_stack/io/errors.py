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


MAX_PROBLEMS = 100  # a hostile document can hold a million mistakes: the line stays bounded


def problems_text(errors: list[dict], what: str) -> str:
    """Every problem of a validation (pydantic's ``exc.errors()``) on one line: ``invalid WHAT at LOC: MSG``, or
    ``invalid WHAT, 2 problems: at placements.0.region: Field required; at name: ...``. Past :data:`MAX_PROBLEMS`,
    the count of the rest."""
    # a container's own error when its items have errors ("placements: at least 1 item after validation" once
    # every placement was refused) is a knock-on of theirs: the items' errors say it
    locs = [tuple(e.get("loc", ())) for e in errors]
    errors = [e for e, loc in zip(errors, locs)
              if not any(len(other) > len(loc) and other[:len(loc)] == loc for other in locs)]
    items = []
    for err in errors[:MAX_PROBLEMS]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "(top level)"
        msg = " ".join(str(err.get("msg", "invalid value")).removeprefix("Value error, ").split())
        items.append(f"at {loc}: {msg}")
    rest = len(errors) - len(items)
    if len(errors) == 1:
        return f"invalid {what} {items[0]}"
    return f"invalid {what}, {len(errors)} problems: " + "; ".join(items) + (
        f"; and {rest} more problems" if rest > 0 else "")
