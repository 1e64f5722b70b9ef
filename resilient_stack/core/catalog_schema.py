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

from resilient_stack.io.errors import InputError

Confidence = Literal["high", "medium", "low", "unknown"]
SCHEMA_ID = "resilient-stack/catalog/v1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class MetroSpec(_Frozen):
    """A physical site shared across providers: a metro area whose buildings can share one disaster."""

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1)
    confidence: Confidence = "unknown"
    notes: str | None = None


class SiteSpec(_Frozen):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    city: str | None = None  # "Stockholm (SE)": two providers' sites in one city must share a metro
    metro: str | None = None  # the metro (physical site) this campus or datacenter belongs to
    sources: tuple[str, ...] = ()
    confidence: Confidence = "unknown"
    notes: str | None = None


class RegionSpec(_Frozen):
    name: str = Field(min_length=1)
    site: str = Field(min_length=1)
    auth_hosts: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = ()
    multi_az: bool = False
    buildings: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    confidence: Confidence = "unknown"
    notes: str | None = None

    @model_validator(mode="after")
    def _one_building_for_one_az(self) -> "RegionSpec":
        if self.availability_zones and self.buildings:
            raise ValueError("give either availability_zones (one building each) or buildings, not both")
        if len(self.buildings) > 1:
            raise ValueError("a 1-AZ region has at most one known building; list AZs for multi-AZ regions")
        return self


class ProviderSpec(_Frozen):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str | None = None
    clouds: tuple[str, ...] = ()
    auth_hosts: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    confidence: Confidence = "unknown"
    notes: str | None = None
    sites: tuple[SiteSpec, ...] = ()
    regions: tuple[RegionSpec, ...] = ()

    @field_validator("clouds", "auth_hosts")
    @classmethod
    def _lower(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(x.strip().lower() for x in v)


class CatalogFile(_Frozen):
    schema_: Literal["resilient-stack/catalog/v1"] = Field(default=SCHEMA_ID, alias="schema")
    sources: dict[str, str] = {}
    metros: tuple[MetroSpec, ...] = ()
    providers: tuple[ProviderSpec, ...] = ()


def validate_catalog(raw: object, source: str) -> dict[str, Any]:
    """A catalog mapping validated and normalised into plain data; :class:`InputError` naming the first problem."""
    if not isinstance(raw, dict):
        raise InputError(source, "catalog must be a mapping with 'providers'")
    try:
        model = CatalogFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise InputError(source, f"invalid catalog at {loc}: {err['msg']}") from None
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
        print(f"{target}: {'up to date' if same else 'STALE: run python -m resilient_stack.core.catalog_schema --write'}")
        return 0 if same else 1
    print("usage: python -m resilient_stack.core.catalog_schema --write | --check", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
