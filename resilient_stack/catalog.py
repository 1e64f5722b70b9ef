"""The failure-domain catalog: provider > region > site > building, each fact with sources.

The shipped data lives in ``data/catalog.yaml``. Users extend or override it with their own
file (``--catalog FILE``, same schema): a provider with a known id is merged into the shipped
one (its sites/regions with the same id/name replace the shipped entries, new ones are added,
its clouds and auth hosts are added).

Files are validated into frozen pydantic models; lookups go through :class:`Catalog`, a plain
index built once. A region is identified by its cloud (an OpenStack auth URL host or a
clouds.yaml cloud name) plus the region name, case-insensitively.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from importlib import resources
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import InputError
from .safeyaml import decode_text, load_yaml_text, read_bytes

Confidence = Literal["high", "medium", "low", "unknown"]
SCHEMA_ID = "resilient-stack/catalog/v1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class SiteSpec(_Frozen):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
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
    providers: tuple[ProviderSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    confidence: str
    sources: tuple[str, ...]
    notes: str | None


@dataclass(frozen=True, slots=True)
class Region:
    provider: str
    provider_name: str
    name: str
    site: Site
    auth_hosts: tuple[str, ...]
    availability_zones: tuple[str, ...]
    multi_az: bool
    building: str | None
    confidence: str
    sources: tuple[str, ...]
    notes: str | None

    @property
    def unpinned_building(self) -> str:
        """The pseudo-building of a multi-AZ region's resource that pins no AZ."""
        return f"{self.name} (AZ not pinned)"

    @property
    def buildings(self) -> tuple[str, ...]:
        """What a resource of this region can resolve to: its AZs, or its one building."""
        if self.availability_zones:
            return self.availability_zones
        if self.multi_az:
            return (self.unpinned_building,)
        return (self.building or self.name,)


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a (cloud, region[, az]) sits, or why it could not be resolved."""

    region: Region | None
    building: str | None
    problem: str | None = None
    identified_by: str = ""


def _merge(base: list[ProviderSpec], extra: tuple[ProviderSpec, ...]) -> list[ProviderSpec]:
    out = {p.id: p for p in base}
    for p in extra:
        old = out.get(p.id)
        if old is None:
            out[p.id] = p
            continue
        sites = {s.id: s for s in old.sites}
        sites.update({s.id: s for s in p.sites})
        regions = {r.name.lower(): r for r in old.regions}
        regions.update({r.name.lower(): r for r in p.regions})
        out[p.id] = old.model_copy(
            update={
                "name": p.name or old.name,
                "clouds": tuple(dict.fromkeys(old.clouds + p.clouds)),
                "auth_hosts": tuple(dict.fromkeys(old.auth_hosts + p.auth_hosts)),
                "sites": tuple(sites.values()),
                "regions": tuple(regions.values()),
                "notes": p.notes or old.notes,
            }
        )
    return list(out.values())


def auth_host(auth_url: str) -> str:
    """The host of an auth URL (lower case); accepts URLs stored without a scheme."""
    url = auth_url.strip()
    if "://" not in url:
        url = "https://" + url
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.lower().rstrip(".")


class Catalog:
    """Plain lookup index over validated catalog files."""

    def __init__(self, files: list[tuple[str, CatalogFile]]) -> None:
        providers: list[ProviderSpec] = []
        self.sources: dict[str, str] = {}
        self.origins = [name for name, _ in files]
        for _, f in files:
            providers = _merge(providers, f.providers)
            self.sources.update(f.sources)
        self.providers = providers
        self._by_cloud: dict[str, str] = {}
        self._host_patterns: list[tuple[str, str]] = []
        self._regions: dict[str, dict[str, Region]] = {}
        self._regions_by_name: dict[str, list[Region]] = {}
        self._memo: dict[tuple, Resolution] = {}
        problems: list[str] = []
        for p in providers:
            sites = {s.id: Site(s.id, s.name, s.confidence, s.sources, s.notes) for s in p.sites}
            for c in p.clouds:
                self._by_cloud.setdefault(c, p.id)
            for h in p.auth_hosts:
                self._host_patterns.append((h, p.id))
            regs: dict[str, Region] = {}
            for r in p.regions:
                site = sites.get(r.site)
                if site is None:
                    problems.append(f"provider {p.id} region {r.name}: unknown site {r.site!r}")
                    continue
                region = Region(
                    provider=p.id,
                    provider_name=p.name or p.id,
                    name=r.name,
                    site=site,
                    auth_hosts=r.auth_hosts,
                    availability_zones=tuple(a.lower() for a in r.availability_zones),
                    multi_az=r.multi_az,
                    building=r.buildings[0] if r.buildings else None,
                    confidence=r.confidence,
                    sources=r.sources,
                    notes=r.notes,
                )
                regs[r.name.lower()] = region
                self._regions_by_name.setdefault(r.name.lower(), []).append(region)
            self._regions[p.id] = regs
        if problems:
            raise InputError(self.origins[-1], "; ".join(problems))

    # -- identification -------------------------------------------------
    def provider_for_cloud(self, cloud: str) -> str | None:
        return self._by_cloud.get(cloud.strip().lower())

    def provider_for_host(self, host: str) -> str | None:
        host = host.lower()
        for pattern, pid in self._host_patterns:
            if host == pattern or ("*" in pattern and fnmatch.fnmatchcase(host, pattern)):
                return pid
        return None

    def regions(self) -> list[Region]:
        return [r for regs in self._regions.values() for r in regs.values()]

    def region(self, provider: str, name: str) -> Region | None:
        return self._regions.get(provider, {}).get(name.strip().lower())

    def resolve(
        self,
        *,
        region: str | None,
        auth_url: str | None = None,
        cloud: str | None = None,
        availability_zone: str | None = None,
    ) -> Resolution:
        """Resolve a placement. Never raises: a failure is a Resolution with a problem.

        Memoised: an estate has many resources but few distinct (cloud, region, AZ) tuples.
        """
        key = (region, auth_url, cloud, availability_zone)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._resolve(region=region, auth_url=auth_url, cloud=cloud, availability_zone=availability_zone)
            if len(self._memo) < 100_000:
                self._memo[key] = hit
        return hit

    def _resolve(self, *, region, auth_url, cloud, availability_zone) -> Resolution:
        if not region or not region.strip():
            return Resolution(None, None, "no region: neither the resource nor its provider sets one")
        name = region.strip()
        provider: str | None = None
        how = ""
        if auth_url and auth_url.strip():
            host = auth_host(auth_url)
            provider = self.provider_for_host(host) if host else None
            if provider is None:
                return Resolution(None, None, f"auth URL host {host or auth_url!r} is not in the catalog")
            how = f"auth URL host {host}"
        elif cloud and cloud.strip():
            provider = self.provider_for_cloud(cloud)
            if provider is None:
                return Resolution(
                    None, None,
                    f"cloud {cloud.strip()!r} is not in the catalog (map it to a provider with --catalog)",
                )
            how = f"cloud {cloud.strip()}"
        if provider is None:
            candidates = self._regions_by_name.get(name.lower(), [])
            providers = {r.provider for r in candidates}
            if len(providers) != 1:
                if not candidates:
                    return Resolution(None, None, f"region {name!r} is not in the catalog and no cloud or auth URL says whose it is")
                return Resolution(None, None, f"region {name!r} exists at {sorted(providers)}; set the provider's auth URL or cloud")
            provider = providers.pop()
            how = "region name only (no auth URL or cloud given; unique in the catalog)"
        reg = self.region(provider, name)
        if reg is None:
            return Resolution(None, None, f"region {name!r} is not in the catalog for provider {provider}")
        if auth_url and reg.auth_hosts and auth_host(auth_url) not in reg.auth_hosts and not any(
            "*" in h for h in reg.auth_hosts
        ):
            return Resolution(
                None, None,
                f"region {reg.name} is not served by auth URL host {auth_host(auth_url)} (catalog: {', '.join(reg.auth_hosts)})",
            )
        az = (availability_zone or "").strip().lower()
        if reg.availability_zones:
            if not az:
                building = reg.unpinned_building
            elif az in reg.availability_zones:
                building = az
            else:
                return Resolution(
                    None, None,
                    f"availability zone {az!r} is not in the catalog for region {reg.name} ({', '.join(reg.availability_zones)})",
                )
        elif reg.multi_az:
            building = reg.unpinned_building
        else:
            building = reg.building or reg.name
        return Resolution(reg, building, None, how)


def _validate(raw: object, source: str) -> CatalogFile:
    if not isinstance(raw, dict):
        raise InputError(source, "catalog must be a mapping with 'providers'")
    try:
        return CatalogFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise InputError(source, f"invalid catalog at {loc}: {err['msg']}") from None


_BUILTIN: CatalogFile | None = None


def builtin_file() -> CatalogFile:
    global _BUILTIN
    if _BUILTIN is None:
        import yaml

        # the shipped file is trusted data: libyaml's safe loader (no object construction, 10x faster)
        text = resources.files("resilient_stack").joinpath("data/catalog.yaml").read_text("utf-8")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        _BUILTIN = _validate(yaml.load(text, Loader=loader), "built-in catalog")  # noqa: S506 - safe loader
    return _BUILTIN


def load_catalog(
    extra_paths: list[str] | tuple[str, ...] = (),
    inline: list[tuple[str, CatalogFile]] | tuple = (),
) -> Catalog:
    """Built-in catalog, then ``inline`` entries (e.g. from a policy config), then files; later wins."""
    files = [("built-in catalog", builtin_file()), *inline]
    for path in extra_paths:
        raw = load_yaml_text(decode_text(read_bytes(path), path), path)
        files.append((path, _validate(raw, path)))
    return Catalog(files)
