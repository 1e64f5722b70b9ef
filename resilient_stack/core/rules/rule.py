"""What a rule is: one object, in one module of this package per rule id (:mod:`.registry` collects them)."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple


class Rule(NamedTuple):
    """One rule: its metadata (every output, the pack's policies, ``explain`` and the docs read them from here) and
    its check.

    ``scope`` says what :attr:`check` is given by the engine (:mod:`.engine`):

    - ``"placement"``: one placement that could not be resolved -> a message;
    - ``"set"``: one replica set (:class:`.sets.ReplicaSet`) -> ``(message, members)`` pairs;
    - ``"backups"``: one replica set with its backups (:class:`.sets.BackupSet`) -> ``(message, backups)``;
    - ``"declarations"``: every set and backup of the input -> ``(role, message, members, set name)``;
    - ``"reader"``: one resource as it is read (:mod:`.reader` calls it) -> a message, or None;
    - ``"security"``: run while the input is read by ``checked_by`` (core.security): a per-resource check here
      (``props -> message or None``), or none for the rules judged across a security group's rules together.
    """

    id: str
    family: str  # "placement" (the engine), "reader" (the readers' per-resource checks), "security" (core.security)
    default: str  # its level in the default profile (every rule is mandatory in strict)
    severity: str  # "high" or "medium": the pack's Severity, SARIF's and GitLab's severities
    title: str  # one line, whole: SARIF's shortDescription, GitLab's vulnerability name
    description: str  # what fires it and why it matters
    fix: str  # what to change
    scope: str = ""
    check: Callable[..., Any] | None = None
    checked_by: str = "resilient_stack.core.rules.engine"
