"""Safe, bounded parsing of YAML and JSON text.

- YAML is parsed with a SafeLoader subclass: no Python object construction, and a bound on
  aliases so an anchors bomb ("billion laughs") is rejected instead of expanded downstream.
- JSON nesting that exhausts the parser's recursion is reported, not raised as RecursionError.
All failures become :class:`InputError` naming the file.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from resilient_stack.io.errors import InputError

MAX_YAML_ALIASES = 1000
MAX_YAML_EXPANDED_NODES = 2_000_000


class _BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents with too many aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(
                    f"more than {MAX_YAML_ALIASES} YAML aliases (anchor expansion refused)"
                )
        return super().compose_node(parent, index)

    def compose_document(self):  # type: ignore[override]
        node = super().compose_document()
        if node is not None and _expanded_size(node) > MAX_YAML_EXPANDED_NODES:
            raise yaml.YAMLError(
                f"document expands to more than {MAX_YAML_EXPANDED_NODES} nodes through aliases (refused)"
            )
        return node


def _expanded_size(root: yaml.Node) -> int:
    """Node count with every alias expanded, computed without expanding (memo by node identity)."""
    memo: dict[int, int] = {}
    visiting: set[int] = set()
    # iterative post-order walk: aliases make a DAG, so each distinct node is sized once
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in memo:
            continue
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [c for pair in node.value for c in pair]
        else:
            memo[id(node)] = 1
            continue
        if done:
            memo[id(node)] = 1 + sum(memo[id(c)] for c in children)
            visiting.discard(id(node))
        else:
            if id(node) in visiting:
                raise yaml.YAMLError("recursive YAML alias (refused)")
            visiting.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in memo)
    return memo[id(root)]


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else exc.__class__.__name__


def load_yaml_text(text: str, source: str) -> Any:
    try:
        docs = list(yaml.load_all(text, Loader=_BoundedSafeLoader))  # noqa: S506 - safe subclass
    except yaml.YAMLError as exc:
        raise InputError(source, f"invalid YAML: {_first_line(exc)}") from None
    except RecursionError:
        raise InputError(source, "invalid YAML: nesting too deep") from None
    docs = [d for d in docs if d is not None]
    if not docs:
        raise InputError(source, "empty document")
    if len(docs) > 1:
        raise InputError(source, f"expected one YAML document, found {len(docs)}")
    return docs[0]


def load_json_text(text: str | bytes, source: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError(source, "invalid JSON: nesting too deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(source, f"invalid JSON: {_first_line(exc)}") from None
