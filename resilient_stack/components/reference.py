"""The configuration reference, generated from the pydantic models: ``docs/configuration-reference.md``.

    python -m resilient_stack.components.reference            # print the page
    python -m resilient_stack.components.reference --write    # write docs/configuration-reference.md
    python -m resilient_stack.components.reference --check    # exit 1 when that file is stale

Every key of the stack configuration (:class:`~resilient_stack.components.stack_config.StackConfig` and the
models it nests), of the organisation settings (:class:`~resilient_stack.core.policy.PolicyConfig`), of the
catalog file (:class:`~resilient_stack.core.catalog_schema.CatalogFile`) and of the design file
(:class:`~resilient_stack.core.design.Design`): its type with the constraints the model enforces, its default
and its description. Everything is read from the models (``Field(description=...)``, class docstrings), so
the text is written once; a field without a description is an error, so no key ships undocumented.
``tests/components/test_reference.py`` fails when the page is stale.
"""

from __future__ import annotations

import datetime
import re
import sys
import types
import typing
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

from annotated_types import Ge, Le, MaxLen, MinLen
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from resilient_stack.components.stack_config import StackConfig
from resilient_stack.core.catalog_schema import CatalogFile
from resilient_stack.core.design import Design
from resilient_stack.core.policy import PolicyConfig

PAGE = Path("docs") / "configuration-reference.md"
COMMAND = "python -m resilient_stack.components.reference --write"


@dataclass(frozen=True)
class Root:
    """One document a user writes: its title, where it is read from, its model and how its keys are spelled."""

    title: str
    intro: str
    model: type[BaseModel]
    prefix: str  # prepended to the keys of the top-level section (``resilient-stack:``)


ROOTS = (
    Root(
        "Stack configuration",
        "The `resilient-stack:*` keys of a `stacks/Pulumi.<stack>.yaml` file, read by the Pulumi program "
        "(`Pulumi.yaml`, `__main__.py`). Keys are camelCase. Structured values are plain YAML in the file; from "
        "the command line, `pulumi config set --path 'resilient-stack:placements[0].webCount' 3`. A misspelt key "
        "is an error, and every error is one line naming the key.",
        StackConfig,
        "resilient-stack:",
    ),
    Root(
        "Organisation settings",
        "`resilient-stack audit --config FILE` (YAML or JSON), the `resilient-stack:policy` key of a stack, and "
        "the settings of each policy of the pack (`--policy-pack-config`; `policies/make_pack_config.py` turns "
        "one file into the other). Keys are snake_case.",
        PolicyConfig,
        "",
    ),
    Root(
        "Catalog file",
        "`--catalog FILE` (repeatable), the `catalog` key of the organisation settings, and the shipped "
        "`resilient_stack/core/data/catalog.yaml`. Keys are snake_case.",
        CatalogFile,
        "",
    ),
    Root(
        "Design file",
        "`resilient-stack audit DESIGN.yaml` and `resilient-stack drill DESIGN.yaml` (YAML or JSON): roles, "
        "replicas and placements, before anything is written in Pulumi. Keys are snake_case.",
        Design,
        "",
    ),
)

# Defaults that the program, not the model, fills in (the model requires the key; the program always sets it).
# ``name``: :func:`resilient_stack.components.stack_config.parse_stack_config` sets ``rs-<stack>``.
PROGRAM_DEFAULTS: dict[tuple[type[BaseModel], str], str] = {(StackConfig, "name"): "`rs-<stack>`"}


class UndocumentedField(ValueError):
    """A model field without ``description=``."""


# --------------------------------------------------------------------------------------------------
# GitHub's heading anchors (github-slugger), also used by tests/test_docs.py to check links
# --------------------------------------------------------------------------------------------------


def heading_text(markdown: str) -> str:
    """The text of a heading as GitHub renders it: code spans and links reduced to their text, no emphasis."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"<[^>]+>", "", text)
    return text.replace("`", "").replace("*", "").strip()


def anchor(markdown_heading: str) -> str:
    """GitHub's anchor of a heading (before de-duplication): lower case, punctuation dropped, spaces -> dashes."""
    kept = [c for c in heading_text(markdown_heading).lower() if c in " -_" or unicodedata.category(c)[0] in "LMN"]
    return "".join(kept).replace(" ", "-")


def anchors(headings: list[str]) -> list[str]:
    """Anchors of a page's headings in order; a repeated anchor gets ``-1``, ``-2``... as on GitHub."""
    seen: dict[str, int] = {}
    out = []
    for h in headings:
        base = anchor(h)
        slug = base
        while slug in seen:
            seen[base] += 1
            slug = f"{base}-{seen[base]}"
        seen[slug] = 0
        out.append(slug)
    return out


# --------------------------------------------------------------------------------------------------
# Models -> sections
# --------------------------------------------------------------------------------------------------


@dataclass
class Section:
    heading: str  # markdown
    model: type[BaseModel]
    key_prefix: str  # prepended to each key in the table (``resilient-stack:``)
    intro: str = ""
    slug: str = ""


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def key_name(name: str, field: FieldInfo) -> str:
    """The key as a user writes it (the alias: camelCase in the stack config, ``schema`` for ``schema_``)."""
    return field.alias or name


def _sections() -> list[Section]:
    """Every section in page order: each root, then the models it nests (depth first, each model once)."""
    roots = {r.model for r in ROOTS}
    sections: list[Section] = []
    placed: set[type[BaseModel]] = set()

    def visit(root: Root, model: type[BaseModel], path: str) -> None:
        for name, field in model.model_fields.items():
            for nested in _models_in(field.annotation):
                if nested in roots or nested in placed:
                    continue
                is_list = typing.get_origin(_unwrap(field.annotation)[0]) in (tuple, list)
                sub = f"{path}{key_name(name, field)}{'[]' if is_list else ''}"
                placed.add(nested)
                sections.append(Section(f"{root.title}: `{sub}`", nested, ""))
                visit(root, nested, f"{sub}.")

    for root in ROOTS:
        placed.add(root.model)
        sections.append(Section(root.title, root.model, root.prefix, root.intro))
        visit(root, root.model, root.prefix)
    slugs = anchors([s.heading for s in sections])
    for s, slug in zip(sections, slugs):
        s.slug = slug
    return sections


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """``(annotation without None, whether None is allowed)``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], optional
    return annotation, False


_SCALARS = {
    str: "string",
    int: "integer",
    bool: "boolean",
    float: "number",
    datetime.date: "date (`YYYY-MM-DD`)",
    SecretStr: "string (a Pulumi secret)",
}


def type_text(annotation: Any, links: dict[type[BaseModel], str]) -> str:
    """The type of a key in words, with links to the sections of nested models."""
    annotation, _ = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:  # constraints are in the description: the type is the base type
        return type_text(typing.get_args(annotation)[0], links)
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if origin is Literal:
        values = typing.get_args(annotation)
        return f"the string `{values[0]}`" if len(values) == 1 else "one of " + ", ".join(f"`{v}`" for v in values)
    if origin in (tuple, list):
        item = typing.get_args(annotation)[0]
        return f"list of {_plural(type_text(item, links))}"
    if origin is dict:
        k, v = typing.get_args(annotation)
        if typing.get_origin(k) is Literal or typing.get_origin(v) is Literal:
            keys = type_text(k, links).removeprefix("one of ")
            vals = type_text(v, links).removeprefix("one of ")
            return f"map; keys: {keys}; values: {vals}"
        return f"map of {_plural(type_text(k, links))} to {_plural(type_text(v, links))}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[object](#{links[annotation]})"
    raise TypeError(f"no words for the type {annotation!r}")


def _plural(words: str) -> str:
    if words.startswith("[object]"):
        return "[objects]" + words[len("[object]") :]
    return {"string": "strings", "integer": "integers", "boolean": "booleans"}.get(words, words)


def constraints(field: FieldInfo) -> str:
    """What the model enforces beyond the type: lengths, bounds, pattern."""
    parts: list[str] = []
    lo = next((m.min_length for m in field.metadata if isinstance(m, MinLen)), None)
    hi = next((m.max_length for m in field.metadata if isinstance(m, MaxLen)), None)
    unit = "items" if typing.get_origin(_unwrap(field.annotation)[0]) in (tuple, list, dict) else "characters"
    if lo is not None and hi is not None:
        parts.append(f"{lo} to {hi} {unit}")
    elif lo is not None:
        parts.append(f"at least {lo} {unit[:-1] if lo == 1 else unit}")
    elif hi is not None:
        parts.append(f"at most {hi} {unit}")
    ge = next((m.ge for m in field.metadata if isinstance(m, Ge)), None)
    le = next((m.le for m in field.metadata if isinstance(m, Le)), None)
    if ge is not None and le is not None:
        parts.append(f"{ge} to {le}")
    elif ge is not None:
        parts.append(f"at least {ge}")
    elif le is not None:
        parts.append(f"at most {le}")
    pattern = next((getattr(m, "pattern", None) for m in field.metadata if getattr(m, "pattern", None)), None)
    if pattern:
        parts.append(f"matching `{pattern}`")
    return ", ".join(parts)


def default_text(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    if (model, name) in PROGRAM_DEFAULTS:
        return PROGRAM_DEFAULTS[(model, name)]
    if field.is_required():
        return "**required**"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return "every key at its default"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (tuple, list)) and not value:
        return "`[]`"
    if isinstance(value, dict) and not value:
        return "`{}`"
    if isinstance(value, (str, int, float)):
        return f"`{value}`"
    raise TypeError(f"{model.__name__}.{name}: no words for the default {value!r}")


def _cell(text: str) -> str:
    """Table-cell safe: one line, pipes escaped (also inside code spans, as GitHub requires)."""
    return " ".join(text.split()).replace("|", "\\|")


def _docstring(model: type[BaseModel]) -> str:
    doc = " ".join((model.__doc__ or "").split())
    doc = doc.replace("``", "`")
    return re.sub(r":(?:class|func|mod|meth):`~?([^`]+)`", r"`\1`", doc)


def render() -> str:
    """The whole page."""
    sections = _sections()
    links = {s.model: s.slug for s in sections}
    out = [
        "<!-- generated from the pydantic models by `" + COMMAND + "`: do not edit by hand -->",
        "",
        "# Configuration reference",
        "",
        "Every key of the files resilient-stack reads, with its type, the constraints the model enforces, its "
        "default and what it does. This page is generated from the models "
        "(`resilient_stack/components/stack_config.py`, `resilient_stack/core/policy.py`, "
        "`resilient_stack/core/catalog_schema.py`, `resilient_stack/core/design.py`); how the pieces fit "
        "together is in [configuration.md](configuration.md).",
        "",
    ]
    out += [f"- [{s.heading}](#{s.slug})" for s in sections]
    for s in sections:
        out += ["", f"## {s.heading}", ""]
        doc = s.intro or _docstring(s.model)  # a root's intro says what its docstring says, and where it is read
        if doc:
            out += [doc, ""]
        out += ["| key | type | default | description |", "|---|---|---|---|"]
        for name, field in s.model.model_fields.items():
            if not field.description:
                raise UndocumentedField(f"{s.model.__module__}.{s.model.__name__}.{name} has no description=")
            kind = type_text(field.annotation, links)
            extra = constraints(field)
            row = [
                f"`{s.key_prefix}{key_name(name, field)}`",
                _cell(kind + (f"; {extra}" if extra else "")),
                _cell(default_text(s.model, name, field)),
                _cell(field.description),
            ]
            out.append("| " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------
# stacks/README.md: every key of the stack configuration with its default, one line each
# --------------------------------------------------------------------------------------------------

KEYS_BEGIN = "<!-- every key with its default: generated by `" + COMMAND + "` -->"
KEYS_END = "<!-- end of the generated keys -->"
_SENTENCE_END = re.compile(r"(?<![.])(?<!e\.g)(?<!i\.e)(?<!etc)\.(?![.])(?:\s|$)")  # not "e.g.", not "..."


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    m = _SENTENCE_END.search(text)
    return text[: m.start() + 1] if m else text


def key_table() -> str:
    """Every key of the stack configuration, nested ones by their path (``web.serverName``,
    ``placements[].flavor``), with its default and the first sentence of its description; each key links to its
    section of the reference. The organisation settings (``policy``) are one row: a document of their own."""
    links = {s.model: s.slug for s in _sections()}
    roots = {r.model for r in ROOTS}
    rows = ["| key | default | what it is |", "|---|---|---|"]

    def visit(model: type[BaseModel], path: str) -> None:
        for name, field in model.model_fields.items():
            key = f"{path}{key_name(name, field)}"
            target = f"../{PAGE.as_posix()}#{links[model]}"
            rows.append(
                f"| [`{key}`]({target}) | {_cell(default_text(model, name, field))} | "
                f"{_cell(_first_sentence(field.description or ''))} |"
            )
            for nested in _models_in(field.annotation):
                if nested not in roots:
                    is_list = typing.get_origin(_unwrap(field.annotation)[0]) in (tuple, list)
                    visit(nested, f"{key}{'[]' if is_list else ''}.")

    visit(StackConfig, "")
    return "\n".join(rows)


def splice_keys(readme: str) -> str:
    """``readme`` with the text between :data:`KEYS_BEGIN` and :data:`KEYS_END` replaced by :func:`key_table`."""
    head, begin, rest = readme.partition(KEYS_BEGIN)
    _, end, tail = rest.partition(KEYS_END)
    if not begin or not end:
        raise ValueError(f"no {KEYS_BEGIN!r} ... {KEYS_END!r} block to fill")
    return f"{head}{KEYS_BEGIN}\n\n{key_table()}\n\n{KEYS_END}{tail}"


def repository_page() -> Path:
    """``docs/configuration-reference.md`` of the checkout this module runs from."""
    return Path(__file__).resolve().parents[2] / PAGE


def repository_readme() -> Path:
    """``stacks/README.md`` of the checkout this module runs from (its generated table of keys)."""
    return Path(__file__).resolve().parents[2] / "stacks" / "README.md"


def main(argv: list[str]) -> int:
    """``--write`` / ``--check`` the page (and, without FILE, the table of keys in stacks/README.md)."""
    if not argv:
        sys.stdout.write(render())
        return 0
    if argv[0] not in ("--write", "--check") or len(argv) > 2:
        print("usage: python -m resilient_stack.components.reference [--write | --check] [FILE]", file=sys.stderr)
        return 2
    targets = (
        [(Path(argv[1]), render)]
        if len(argv) == 2
        else [
            (repository_page(), render),
            (repository_readme(), lambda: splice_keys(repository_readme().read_text("utf-8"))),
        ]
    )
    stale = 0
    for target, make in targets:
        text = make()
        if argv[0] == "--write":
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
            continue
        same = target.is_file() and target.read_text(encoding="utf-8") == text
        print(f"{target}: {'up to date' if same else 'STALE: run ' + COMMAND}")
        stale += not same
    return 1 if stale else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
