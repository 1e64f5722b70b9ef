"""Safe, bounded parsing of YAML and JSON text.

- YAML (design files, organisation configs, catalogs, stack configs: small files by nature) is limited to
  :data:`MAX_YAML_BYTES` and parsed by libyaml's safe loader (the C parser and composer; construction refuses
  every Python object tag). Aliases are bounded (:data:`MAX_YAML_ALIASES`, and the document expanded through
  them: :data:`MAX_YAML_EXPANDED_NODES`) before anything is constructed, so an anchors bomb is refused
  instead of expanded downstream. A mapping that names one key twice is refused with the key and its line
  (YAML keeps the last one silently). A number too large to convert is refused.
- JSON goes through :mod:`resilient_stack.io.jsonstream` (duplicate keys refused too).
All failures become :class:`InputError` naming the file.
"""

from __future__ import annotations

from typing import Any

import yaml

from resilient_stack.io.errors import InputError

MAX_YAML_BYTES = 4 * 1024 * 1024
MAX_YAML_ALIASES = 1000
MAX_YAML_EXPANDED_NODES = 200_000
_MERGE = "tag:yaml.org,2002:merge"

_Base: Any
try:  # libyaml, as PyYAML's wheels ship it
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - a PyYAML built without libyaml
    _Base = yaml.SafeLoader


class _DuplicateKey(yaml.YAMLError):
    pass


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """libyaml's safe loader that refuses duplicate keys."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue  # merged keys may be overridden: that is what a merge is for
                key = self.construct_object(key_node, deep=True)
                try:
                    marker = (type(key), key)
                    hash(marker)
                except TypeError:
                    continue  # an unhashable key: the base constructor refuses it with its own message
                if marker in seen:
                    line = key_node.start_mark.line + 1
                    raise _DuplicateKey(f"duplicate key {key!r} at line {line}: which value counts is ambiguous")
                seen.add(marker)
        return super().construct_mapping(node, deep=deep)


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


def _check_graph(root: yaml.Node) -> None:
    """Refuse too many aliases (nodes reached more than once) or too large an expansion, before construction."""
    seen: set[int] = set()
    aliases = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} YAML aliases (anchor expansion refused)")
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(c for pair in node.value for c in pair)
    if _expanded_size(root) > MAX_YAML_EXPANDED_NODES:
        raise yaml.YAMLError(f"document expands to more than {MAX_YAML_EXPANDED_NODES} nodes through aliases (refused)")


def load_yaml_text(text: str, source: str) -> Any:
    if len(text) > MAX_YAML_BYTES:
        raise InputError(
            source,
            f"YAML input of {len(text)} characters, more than the {MAX_YAML_BYTES}-byte limit of YAML inputs "
            "(design files and configs are small; stack exports and previews are JSON)",
        )
    loader = _Loader(text)
    try:
        nodes = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
            if len(nodes) > 1:
                raise InputError(source, "expected one YAML document, found several")
        if not nodes:
            raise InputError(source, "empty document")
        _check_graph(nodes[0])
        doc = loader.construct_document(nodes[0])
    except yaml.YAMLError as exc:
        raise InputError(source, f"invalid YAML: {_first_line(exc)}") from None
    except RecursionError:
        raise InputError(source, "invalid YAML: nesting too deep") from None
    except ValueError as exc:  # int() of a 5,000-digit number, and the like
        raise InputError(source, f"invalid YAML: a value cannot be converted ({_first_line(exc)})") from None
    finally:
        loader.dispose()
    if doc is None:
        raise InputError(source, "empty document")
    return doc


def entry_lines(text: str, keys: tuple[str, ...]) -> dict[tuple[str, int], int]:
    """``{(key, i): line}``: the line (1-based) where item ``i`` of each top-level sequence ``key`` starts, for
    reports that point into the file. Composes the nodes only (nothing is constructed); call it on text that
    :func:`load_yaml_text` accepted. Empty when the text is not such a mapping."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError:
        return {}
    finally:
        loader.dispose()
    out: dict[tuple[str, int], int] = {}
    if isinstance(root, yaml.MappingNode):
        for key_node, value in root.value:
            if (
                isinstance(key_node, yaml.ScalarNode)
                and key_node.value in keys
                and isinstance(value, yaml.SequenceNode)
            ):
                for i, item in enumerate(value.value):
                    out[(key_node.value, i)] = item.start_mark.line + 1
    return out


def load_json_text(text: str | bytes, source: str) -> Any:
    from resilient_stack.io.jsonstream import StreamError, loads

    try:
        return loads(text)
    except RecursionError:
        raise InputError(source, "invalid JSON: nesting too deep") from None
    except (StreamError, UnicodeError) as exc:
        raise InputError(source, f"invalid JSON: {_first_line(exc)}") from None
