"""The configuration reference is generated from the models, complete, and up to date in docs/."""

import typing

import pytest
from pydantic import BaseModel, Field

from resilient_stack.components import reference
from resilient_stack.components.stack_config import PlacementConfig, StackConfig, parse_stack_config
from resilient_stack.core.policy import PolicyConfig
from tests.conftest import ROOT

PAGE = ROOT / "docs" / "configuration-reference.md"


def test_the_page_in_docs_is_the_generated_one():
    assert PAGE.read_text(encoding="utf-8") == reference.render(), (
        "docs/configuration-reference.md is stale: run python -m resilient_stack.components.reference --write"
    )


def test_check_fails_on_a_stale_page_and_write_repairs_it(tmp_path, capsys):
    page = tmp_path / "configuration-reference.md"
    page.write_text(reference.render().replace("`Ext-Net`", "`ext-net`"), encoding="utf-8")
    assert reference.main(["--check", str(page)]) == 1
    assert "STALE" in capsys.readouterr().out
    assert reference.main(["--write", str(page)]) == 0
    assert reference.main(["--check", str(page)]) == 0
    assert reference.main(["--check", str(tmp_path / "missing.md")]) == 1
    assert reference.main(["--bogus"]) == 2


def _reachable(model: type[BaseModel], seen: set) -> set:
    seen.add(model)
    for field in model.model_fields.values():
        for nested in reference._models_in(field.annotation):
            if nested not in seen:
                _reachable(nested, seen)
    return seen


def test_every_model_and_every_key_has_its_row():
    page = reference.render()
    models = set()
    for root in reference.ROOTS:
        models |= _reachable(root.model, set())
    assert {s.model for s in reference._sections()} == models
    for model in models:
        for name, field in model.model_fields.items():
            key = reference.key_name(name, field)
            assert f"`{key}` |" in page or f"`resilient-stack:{key}` |" in page, f"{model.__name__}.{name}"
            assert field.description and field.description.strip(), f"{model.__name__}.{name}"


def test_rows_carry_type_constraints_default_and_description():
    page = reference.render()
    web_count = next(line for line in page.splitlines() if line.startswith("| `webCount` |"))
    assert "integer; 0 to 50" in web_count and "| `2` |" in web_count
    assert PlacementConfig.model_fields["web_count"].description in web_count
    name = next(line for line in page.splitlines() if line.startswith("| `resilient-stack:name` |"))
    assert "1 to 24 characters" in name and "| `rs-<stack>` |" in name
    backups = next(line for line in page.splitlines() if line.startswith("| `resilient-stack:backups` |"))
    assert "**required**" in backups
    pipes = next(line for line in page.splitlines() if line.startswith("| `name` |") and "(-[a-z0-9]+)" in line)
    assert pipes.count(" | ") == 3, "a pipe inside a cell must be escaped"


def test_the_default_the_program_fills_in_is_the_one_documented():
    cfg = parse_stack_config(
        {
            "placements": [
                {
                    "name": "gra",
                    "region": "GRA11",
                    "flavor": "b3-8",
                    "image": "Debian 12",
                    "privateCidr": "10.1.0.0/24",
                    "databaseRole": "primary",
                }
            ],
            "backups": {"region": "DE1", "s3Endpoint": "s3.de.cloud.ovh.net", "s3Region": "de"},
        },
        stack="shop",
    )
    assert cfg.name == "rs-shop"
    assert reference.PROGRAM_DEFAULTS[(StackConfig, "name")] == "`rs-<stack>`"
    assert StackConfig.model_fields["name"].is_required()


def test_the_policy_section_is_linked_from_the_stack_config():
    sections = {s.model: s.slug for s in reference._sections()}
    assert f"[object](#{sections[PolicyConfig]})" in reference.render()


def test_a_field_without_description_is_refused(monkeypatch):
    class Undocumented(BaseModel):
        documented: int = Field(default=1, description="fine")
        bare: int = 2

    monkeypatch.setattr(reference, "ROOTS", (reference.Root("Toy", "A toy.", Undocumented, ""),))
    with pytest.raises(reference.UndocumentedField, match="Undocumented.bare"):
        reference.render()


@pytest.mark.parametrize(
    "heading, slug",
    [
        ("Two commands on a fresh machine", "two-commands-on-a-fresh-machine"),
        ("Stack configuration: `resilient-stack:placements[]`", "stack-configuration-resilient-stackplacements"),
        ("1. `resilient-stack audit`: no Pulumi needed", "1-resilient-stack-audit-no-pulumi-needed"),
        ("Roles, backups, quorum, exemptions", "roles-backups-quorum-exemptions"),
        ("What gets created (73 resources)", "what-gets-created-73-resources"),
        ("The [policy pack](policies/README.md)", "the-policy-pack"),
        ("Île-de-France & snake_case", "île-de-france--snake_case"),
    ],
)
def test_anchors_are_githubs(heading, slug):
    assert reference.anchor(heading) == slug


def test_repeated_headings_get_numbered_anchors_as_on_github():
    assert reference.anchors(["Example", "Example", "Example-1", "Example"]) == [
        "example",
        "example-1",
        "example-1-1",
        "example-2",
    ]


README = ROOT / "stacks" / "README.md"


def test_the_stacks_readme_lists_every_key_with_its_default_as_generated():
    text = README.read_text(encoding="utf-8")
    assert text == reference.splice_keys(text), (
        "stacks/README.md's table of keys is stale: run python -m resilient_stack.components.reference --write"
    )
    table = text.split(reference.KEYS_BEGIN, 1)[1].split(reference.KEYS_END, 1)[0]
    rows = {line.split("`")[1]: line for line in table.splitlines() if line.startswith("| [`")}

    def paths(model, prefix: str):
        for name, field in model.model_fields.items():
            key = f"{prefix}{reference.key_name(name, field)}"
            yield key, model, name, field
            for nested in reference._models_in(field.annotation):
                if nested is not PolicyConfig:
                    is_list = typing.get_origin(reference._unwrap(field.annotation)[0]) in (tuple, list)
                    yield from paths(nested, f"{key}{'[]' if is_list else ''}.")

    expected = list(paths(StackConfig, ""))
    assert list(rows) == [k for k, *_ in expected]
    for key, model, name, field in expected:
        assert f"| {reference.default_text(model, name, field)} |" in rows[key], key
    assert (
        "| [`web.selfSigned`](../docs/configuration-reference.md#stack-configuration-resilient-stackweb) | `false` |"
        in rows["web.selfSigned"]
    )


def test_splicing_needs_its_markers_and_replaces_only_between_them():
    with pytest.raises(ValueError, match="no .* block"):
        reference.splice_keys("# a page without the markers\n")
    page = f"before\n{reference.KEYS_BEGIN}\nold table\n{reference.KEYS_END}\nafter\n"
    spliced = reference.splice_keys(page)
    assert spliced.startswith(f"before\n{reference.KEYS_BEGIN}\n\n| key | default |") and spliced.endswith(
        f"{reference.KEYS_END}\nafter\n"
    )
    assert "old table" not in spliced and reference.splice_keys(spliced) == spliced
