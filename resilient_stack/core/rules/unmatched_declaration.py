"""unmatched-declaration: a declaration that matches nothing. Two checks: :func:`check_labels`, as each resource is
read (core.rules.reader), for the labels outside their vocabulary or hidden in a secret; :func:`check`, on the
whole input (the engine), for what only the whole input shows: backups that protect a role no replica has (or no
role), and a quorum role named like an existing role but not it."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Iterator, Mapping

from resilient_stack.core import vocabulary as vocab
from resilient_stack.core.placement import Placement
from resilient_stack.core.resources import (
    _LABEL_HOLDERS,
    _REDACTED,
    _SECRET,
    ResourceView,
    _label_key,
    _plain,
    _short,
)
from resilient_stack.core.rules.rule import Rule
from resilient_stack.core.rules.text import plural
from resilient_stack.core.vocabulary import PROTECTS_KEY, QUORUM_KEY, REDACTED, ROLE_KEY, near_miss

if TYPE_CHECKING:
    from resilient_stack.core.rules.model import RuleConfig


def _hidden_labels(view: ResourceView, readable: bool) -> str | None:
    """Why resilient-stack labels may be hidden in a Pulumi secret (``None``: nothing hidden): a label whose value
    is a secret, or, when no label could be read, a whole metadata or tags property that is one. A value unknown
    at preview is not hidden: it is judged once known."""
    whole = None
    for side, props in (("inputs", view.inputs), ("outputs", view.outputs)):
        if type(props) is not dict:
            continue
        for holder in _LABEL_HOLDERS:
            raw = props.get(holder)
            if raw is None:
                continue
            val = _plain(raw)
            if val is _SECRET or val is _REDACTED:
                whole = whole or f"its {holder} ({side}) is {val.why}"
            elif type(val) is dict:
                for k, v in val.items():
                    if type(v) is str and v != REDACTED:
                        continue  # a plain value (the common case: every label of a big estate)
                    if isinstance(k, str) and _label_key(k) is not None:
                        inner = _plain(v)
                        if inner is _SECRET or inner is _REDACTED:
                            return f"its label {k.strip()} ({side}) is {inner.why}"
    return None if readable else whole


@functools.lru_cache(maxsize=1024)
def _role_hint(value: str) -> str | None:
    return vocab.near_miss(value, vocab.KNOWN_ROLES)


@functools.lru_cache(maxsize=1024)
def _role_spelled_right(value: str) -> bool:
    """A known role, or an application's own (``cache``, ``queue``): no near miss of a known one, a role name."""
    return _role_hint(value) is None and bool(vocab.ROLE_NAME_RE.match(value))


def check_labels(view: ResourceView, labels: Mapping[str, str], own_role: str) -> list:
    """``unmatched-declaration`` for each resilient-stack label spelled outside its vocabulary: a role name that is
    not one (``Web``, ``data base``) or a near miss of a known role (``databases``, ``webs``), a quorum that is not
    ``true``/``false`` (``yes``); each role a ``resilient-stack:serves`` label names is a role name too."""
    out = []
    hidden = _hidden_labels(view, bool(labels))
    if hidden:
        out.append(
            (
                "unmatched-declaration",
                view.urn,
                own_role,
                f"`{_short(view.urn)}`: {hidden}, so its role, quorum and protects cannot be read: it counts as "
                f"`{own_role}` and proves nothing about the role it may hold; keep resilient-stack labels out of "
                "secrets (they are placement facts, not credentials)",
            )
        )
    declared = [(key, labels.get(key)) for key in (ROLE_KEY, PROTECTS_KEY, vocab.STORAGE_OF_KEY)]
    declared += [(vocab.SERVES_KEY, v) for v in labels.get(vocab.SERVES_KEY, "").split(",") if v]  # each role of it
    for key, value in declared:
        if not value or _role_spelled_right(value):
            continue
        hint = _role_hint(value)
        meant = f"did you mean `{hint}`?" if hint else "a role is lower case letters, digits and dashes"
        out.append(
            (
                "unmatched-declaration",
                view.urn,
                own_role,
                f"`{_short(view.urn)}` is labelled {key}={value!r}, outside the role vocabulary ({meant}): "
                f"it matches no other replica's role, so the rules judge it apart; spell it as the role it means",
            )
        )
    quorum = labels.get(QUORUM_KEY)
    if quorum is not None and quorum not in vocab.QUORUM_VALUES:
        honoured = quorum.lower() == "true"
        out.append(
            (
                "unmatched-declaration",
                view.urn,
                own_role,
                f"`{_short(view.urn)}` is labelled {QUORUM_KEY}={quorum!r}, outside its vocabulary (`true`, "
                f"`false`): {'read as true' if honoured else 'read as NOT a voting member'} (did you mean "
                f"`{'false' if quorum.strip().lower() in ('no', 'n', '0', 'off') else 'true'}`?)",
            )
        )
    return out


def check(
    roles: list[str], backups: dict[tuple[str, str], list[Placement]], config: RuleConfig
) -> Iterator[tuple[str | None, str, list[Placement], str | None]]:
    """``(role, message, resources, set name)`` of each declaration that matches nothing."""
    for role, rset in sorted(backups):
        if role in roles or rset:
            continue  # a role's backups (every set of the role), or a set's own (a managed database's regions)
        bks = backups[(role, rset)]
        hint = near_miss(role, roles)
        if role == "?":
            yield (
                None,
                plural(len(bks), "backup") + " protect no role (no resilient-stack:protects label): "
                f"backup-colocated cannot judge {'it' if len(bks) == 1 else 'them'}; label each with the role whose "
                f"data it holds ({', '.join(roles) or 'none here'})",
                bks,
                None,
            )
            continue
        yield (
            role,
            ("the only backup" if len(bks) == 1 else f"all {len(bks)} backups") + f" protecting `{role}` "
            f"{'protects' if len(bks) == 1 else 'protect'} a role that no replica has"
            + (f" (did you mean `{hint}`?)" if hint else f" (the roles: {', '.join(roles) or 'none'})")
            + f": backup-colocated and backup-shares-project cannot judge {'it' if len(bks) == 1 else 'them'}; "
            "set resilient-stack:protects to the role of the replicas whose data it holds",
            bks,
            role,
        )
    for role in sorted(config.quorum_roles - set(roles)):
        hint = near_miss(role, roles)
        if hint:  # an organisation's quorum roles may name roles this stack does not run; a near miss is a typo
            yield (
                role,
                f"the quorum role `{role}` matches no replica (did you mean `{hint}`?): site-majority never "
                f"counts `{hint}`'s voting members; correct quorum_roles",
                [],
                None,
            )


RULE = Rule(
    id="unmatched-declaration",
    family="reader",
    default="mandatory",
    severity="high",
    title="A declaration matches nothing",
    description=(
        "A declaration matches nothing: a resilient-stack label (role, quorum, protects, storage-of) spelled outside its vocabulary (wrong case, a plural, `yes`) or hidden in a secret, a backup protecting a role no replica has, or a quorum role named like an existing role but not it: the rule it would feed is never applied."
    ),
    fix="Spell the label from its vocabulary, in plain text, and name a role some replica has.",
    scope="declarations",
    check=check,
)
