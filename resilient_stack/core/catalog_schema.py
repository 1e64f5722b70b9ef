"""The catalog file schema (``--catalog FILE``, inline ``catalog:`` in a policy config, the shipped
``data/catalog.yaml``), validated with pydantic at the edge.

:func:`validate_catalog` turns a raw mapping into plain, normalised data (every key present,
whitespace stripped, clouds and auth hosts lower-cased) that :class:`resilient_stack.core.catalog.Catalog`
indexes. The shipped catalog is validated the same way once, when it is compiled into
``data/catalog.compiled.json`` (``python -m resilient_stack.core.catalog_schema --write``); a unit test
fails when the compiled file does not match ``data/catalog.yaml``. So ``resilient-stack audit`` of a
JSON export imports neither pydantic nor the YAML library.
"""

from __future__ import annotations

import datetime
import json
import sys
from importlib import resources
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from resilient_stack.io.errors import InputError, problems_text

Confidence = Literal["high", "medium", "low", "unknown"]
SCHEMA_ID: Literal["resilient-stack/catalog/v1"] = "resilient-stack/catalog/v1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


_SOURCES = "Where the facts come from: keys of the top-level `sources`, or free text."
_CONFIDENCE = "How sure the sources are: `high` (the provider's own documents), `medium`, `low`, `unknown`."


class MetroSpec(_Frozen):
    """A physical site shared across providers: a metro area whose buildings can share one disaster."""

    id: str = Field(
        min_length=1,
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="Identifier of the metro (`stockholm`), referenced by sites.",
    )
    name: str = Field(min_length=1, description="Name shown in reports (`Stockholm (SE)`).")
    sources: tuple[str, ...] = Field(min_length=1, description=_SOURCES + " At least one.")
    confidence: Confidence = Field(default="unknown", description=_CONFIDENCE)
    notes: str | None = Field(default=None, description="What the sources do not say.")


class SiteSpec(_Frozen):
    """A site: a campus, or a city where no campus is published. One disaster can take a whole site."""

    id: str = Field(min_length=1, description="Identifier of the site (`ovh-gravelines`), referenced by regions.")
    name: str = Field(min_length=1, description="Name shown in reports (`Gravelines campus (FR)`).")
    city: str | None = Field(
        default=None,
        description="The city (`Stockholm (SE)`): two providers' sites in one city must share a metro.",
    )
    metro: str | None = Field(
        default=None,
        description="The metro (physical site shared across providers) this campus belongs to.",
    )
    sources: tuple[str, ...] = Field(default=(), description=_SOURCES)
    confidence: Confidence = Field(default="unknown", description=_CONFIDENCE)
    notes: str | None = Field(default=None, description="What the sources do not say.")


class RegionSpec(_Frozen):
    """An OpenStack region and where it stands: its site, and its building(s) when known."""

    name: str = Field(min_length=1, description="Region name as OpenStack spells it (`GRA11`).")
    site: str = Field(min_length=1, description="The `id` of its site (a site of this provider).")
    auth_hosts: tuple[str, ...] = Field(
        default=(),
        description="Auth URL hosts that serve this region only (Infomaniak pub1 / pub2).",
    )
    availability_zones: tuple[str, ...] = Field(
        default=(),
        description="The region's availability zones, one building each (multi-AZ regions).",
    )
    multi_az: bool = Field(
        default=False,
        description="A multi-AZ region whose AZ names are unknown: without an AZ, one pseudo-building.",
    )
    buildings: tuple[str, ...] = Field(
        default=(),
        description="The building of a 1-AZ region, when a source names it (at most one).",
    )
    sources: tuple[str, ...] = Field(default=(), description=_SOURCES)
    confidence: Confidence = Field(default="unknown", description=_CONFIDENCE)
    notes: str | None = Field(default=None, description="What the sources do not say.")

    @model_validator(mode="after")
    def _one_building_for_one_az(self) -> "RegionSpec":
        if self.availability_zones and self.buildings:
            raise ValueError("give either availability_zones (one building each) or buildings, not both")
        if len(self.buildings) > 1:
            raise ValueError("a 1-AZ region has at most one known building; list AZs for multi-AZ regions")
        return self


class ProviderSpec(_Frozen):
    """A cloud provider, its sites and its regions. An entry with the id of a known provider is merged into it:
    its clouds and auth hosts are added, its sites and regions replace those with the same id or name."""

    id: str = Field(
        min_length=1,
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="Identifier of the provider (`ovhcloud`).",
    )
    name: str | None = Field(default=None, description="Name shown in reports.")
    clouds: tuple[str, ...] = Field(
        default=(),
        description="clouds.yaml cloud names that mean this provider (lower-cased): add your own.",
    )
    auth_hosts: tuple[str, ...] = Field(
        default=(),
        description="Hosts of its auth URLs (lower-cased), e.g. `auth.cloud.ovh.net`.",
    )
    sources: tuple[str, ...] = Field(default=(), description=_SOURCES)
    confidence: Confidence = Field(default="unknown", description=_CONFIDENCE)
    notes: str | None = Field(default=None, description="What the sources do not say.")
    sites: tuple[SiteSpec, ...] = Field(default=(), description="Its sites.")
    regions: tuple[RegionSpec, ...] = Field(default=(), description="Its regions.")

    @field_validator("clouds", "auth_hosts")
    @classmethod
    def _lower(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(x.strip().lower() for x in v)


class CatalogFile(_Frozen):
    """A catalog file (``--catalog FILE``, the ``catalog`` key of organisation settings, the shipped
    ``data/catalog.yaml``): providers > regions > sites > buildings, every fact with its sources."""

    schema_: Literal["resilient-stack/catalog/v1"] = Field(
        default=SCHEMA_ID,
        alias="schema",
        description="The schema identifier.",
    )
    gathered: datetime.date | None = Field(
        default=None,
        description="The day the facts were gathered or last revised (`2026-11-25`): every report names it beside the "
        "verdict. Unset: the report says the catalog is undated.",
    )
    sources: dict[str, str] = Field(
        default={},
        description="Named sources (`SDK-OVH: openstacksdk vendor profile ...`), cited by key in `sources` lists.",
    )
    metros: tuple[MetroSpec, ...] = Field(
        default=(),
        description="Physical sites shared across providers (metro areas), each with its sources.",
    )
    providers: tuple[ProviderSpec, ...] = Field(default=(), description="The providers.")


def validate_catalog(raw: object, source: str) -> dict[str, Any]:
    """A catalog mapping validated and normalised into plain data; :class:`InputError` naming the first problem."""
    if not isinstance(raw, dict):
        raise InputError(source, "catalog must be a mapping with 'providers'")
    try:
        model = CatalogFile.model_validate(raw)
    except ValidationError as exc:
        raise InputError(source, problems_text(exc.errors(), "catalog")) from None
    return plain(model)


def plain(model: CatalogFile) -> dict[str, Any]:
    """The plain data of a validated catalog, as the index reads it (JSON types only)."""
    return model.model_dump(mode="json", by_alias=True)


def compile_builtin() -> str:
    """The text of ``data/catalog.compiled.json``: ``data/catalog.yaml`` validated and normalised."""
    from resilient_stack.io.safeyaml import load_yaml_text

    text = resources.files("resilient_stack.core").joinpath("data/catalog.yaml").read_text("utf-8")
    data = validate_catalog(load_yaml_text(text, "data/catalog.yaml"), "data/catalog.yaml")
    header = {"generated-from": "data/catalog.yaml", "by": "python -m resilient_stack.core.catalog_schema --write"}
    return json.dumps({"_": header, **data}, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    from pathlib import Path

    target = Path(__file__).resolve().parent / "data" / "catalog.compiled.json"
    text = compile_builtin()
    if argv == ["--write"]:
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
        return 0
    if argv == ["--check"]:
        same = target.exists() and target.read_text(encoding="utf-8") == text
        print(
            f"{target}: {'up to date' if same else 'STALE: run python -m resilient_stack.core.catalog_schema --write'}"
        )
        return 0 if same else 1
    print("usage: python -m resilient_stack.core.catalog_schema --write | --check", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
