"""What every report carries about itself: the tool and its version, when it was made, what it judged.

The time is UTC, to the second; ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) fixes it, so that two
runs on the same input give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import os

from resilient_stack import __version__
from resilient_stack.io.errors import InputError


def report_time() -> str:
    """Now (or ``SOURCE_DATE_EPOCH``) as ``2026-12-06T15:04:05Z``."""
    fixed = os.environ.get("SOURCE_DATE_EPOCH")
    if fixed is not None:
        if not fixed.isdigit():
            raise InputError("SOURCE_DATE_EPOCH", f"expected seconds since 1970 (digits), got {fixed[:40]!r}")
        when = dt.datetime.fromtimestamp(int(fixed), dt.timezone.utc)
    else:
        when = dt.datetime.now(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def provenance(sha256: str | None, time: str, baseline: str | None = None) -> dict:
    out = {"tool": "resilient-stack", "version": __version__, "time": time, "input_sha256": sha256}
    if baseline:
        out["baseline"] = baseline  # the report a --baseline audit was compared with
    return out


def provenance_line(p: dict) -> str:
    """``resilient-stack 0.1.0 at 2026-12-06T15:04:05Z; input sha256 9f86d0...``."""
    return f"{p['tool']} {p['version']} at {p['time']}; input sha256 {p['input_sha256'] or 'unknown'}"
