"""The failure-domain catalog: provider > region > site > building, each fact with sources.

The shipped data lives in ``data/catalog.yaml``. Users extend or override it with their own
file (``--catalog FILE``, same schema): a provider with a known id is merged into the shipped
one (its sites/regions with the same id/name replace the shipped entries, new ones are added,
its clouds and auth hosts are added).

Files are validated at the edge (:mod:`resilient_stack.core.catalog_schema`, pydantic) into plain
normalised data; lookups go through :class:`Catalog`, a plain index built once. The shipped file
is validated when it is compiled (``data/catalog.compiled.json``), so reading it costs no pydantic.
A region is identified by its cloud (an OpenStack auth URL host or a clouds.yaml cloud name) plus
the region name, case-insensitively.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast
from urllib.parse import urlsplit

from resilient_stack.io.errors import InputError


@dataclass(frozen=True, slots=True)
class Site:
    """A provider's campus or datacenter, and the physical site it belongs to.

    ``physical_id``/``physical_name`` are what the rules and the drill count: the metro the site names
    (shared across providers: Cleura's Sto2 and Binero's europe-se-1 are both in Stockholm), else the site itself.
    """

    id: str
    name: str
    confidence: str
    sources: tuple[str, ...]
    notes: str | None
    physical_id: str = ""
    physical_name: str = ""
    city: str | None = None


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


def _merge(base: list[dict], extra: list[dict]) -> list[dict]:
    """Providers of ``extra`` merged into ``base``: same-id sites/regions replaced, others added."""
    out = {p["id"]: p for p in base}
    for p in extra:
        old = out.get(p["id"])
        if old is None:
            out[p["id"]] = p
            continue
        sites = {s["id"]: s for s in old["sites"]}
        sites.update({s["id"]: s for s in p["sites"]})
        regions = {r["name"].lower(): r for r in old["regions"]}
        regions.update({r["name"].lower(): r for r in p["regions"]})
        out[p["id"]] = {
            **old,
            "name": p["name"] or old["name"],
            "clouds": list(dict.fromkeys([*old["clouds"], *p["clouds"]])),
            "auth_hosts": list(dict.fromkeys([*old["auth_hosts"], *p["auth_hosts"]])),
            "sites": list(sites.values()),
            "regions": list(regions.values()),
            "notes": p["notes"] or old["notes"],
        }
    return list(out.values())


ASCII_WHITESPACE = " \t\n\r\x0b\x0c"


def cloud_name(value: str, what: str, hint: bool = True) -> tuple[str | None, str | None]:
    """(name, problem): ``value`` as the clouds compare it -- trimmed of ASCII whitespace, printable ASCII only.

    OpenStack and OVHcloud compare region, cloud and zone names byte for byte: ``"WAW1\u00a0"`` (a no-break
    space), ``"WAW1\x1f"`` or ``"U\u212a1"`` (a Kelvin sign, which ``str.lower`` folds to ``k``) name no
    region. Anything else than printable ASCII is a problem naming the character and its position.
    """
    name = value.strip(ASCII_WHITESPACE)
    for i, ch in enumerate(name):
        if not "!" <= ch <= "~" and ch != " ":
            return None, (
                f"{what} {value!r} contains {_char_name(ch)} at position {i + 1}: names are compared as the "
                f"clouds compare them, ASCII only{_lookalike_hint(name) if hint else ''}"
            )
    return name, None


def _char_name(ch: str) -> str:
    label = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({label})" if label else " (a control character)")


def _lookalike_hint(name: str) -> str:
    """' (it reads as "UK1")' when Unicode folding turns ``name`` into printable ASCII."""
    folded = "".join(c for c in unicodedata.normalize("NFKC", name) if c.isprintable() and not c.isspace()).strip()
    if folded and folded != name and folded.isascii():
        return f" (it reads as {folded!r})"
    return ""


def auth_host(auth_url: str) -> str:
    """The host of an auth URL (lower case); accepts URLs stored without a scheme."""
    url = auth_url.strip(ASCII_WHITESPACE)
    if "://" not in url:
        url = "https://" + url
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.lower().rstrip(".")


class Catalog:
    """Plain lookup index over validated catalog data (:func:`resilient_stack.core.catalog_schema.validate_catalog`)."""

    def __init__(self, files: list[tuple[str, dict[str, Any]]]) -> None:
        providers: list[dict] = []
        self.sources: dict[str, str] = {}
        self.metros: dict[str, dict] = {}
        self.origins = [name for name, _ in files]
        self.gathered = [(name, f.get("gathered")) for name, f in files]  # (origin, "YYYY-MM-DD" or None)
        for _, f in files:
            providers = _merge(providers, f["providers"])
            self.sources.update(f["sources"])
            self.metros.update({m["id"]: m for m in f.get("metros", ())})
        self._by_cloud: dict[str, str] = {}
        self._host_patterns: list[tuple[str, str]] = []
        self._regions: dict[str, dict[str, Region]] = {}
        self._regions_by_name: dict[str, list[Region]] = {}
        self._memo: dict[tuple, Resolution] = {}
        problems: list[str] = []
        cities: dict[str, tuple[str, str, str, bool]] = {}  # city -> (provider, site id, physical id, in a metro)
        for p in providers:
            pid = p["id"]
            sites = {}
            for s in p["sites"]:
                metro = s.get("metro")
                if metro and metro not in self.metros:
                    problems.append(f"provider {pid} site {s['id']}: unknown metro {metro!r}")
                    continue
                phys = (metro, self.metros[metro]["name"]) if metro else (s["id"], s["name"])
                sites[s["id"]] = Site(
                    s["id"],
                    s["name"],
                    s["confidence"],
                    tuple(s["sources"]),
                    s["notes"],
                    phys[0],
                    phys[1],
                    s.get("city"),
                )
                city = (s.get("city") or "").strip().lower()
                if city:
                    other = cities.setdefault(city, (pid, s["id"], phys[0], bool(metro)))
                    if other[0] != pid and other[2] != phys[0] and not (metro and other[3]):
                        problems.append(
                            f"sites {other[1]} ({other[0]}) and {s['id']} ({pid}) are both in {s['city']}: two providers "
                            "in one city are one physical site unless a source shows them apart; give both the same "
                            "`metro`, or each its own metro with the sources that set them apart"
                        )
            for c in p["clouds"]:
                self._by_cloud.setdefault(c, pid)
            for h in p["auth_hosts"]:
                self._host_patterns.append((h, pid))
            regs: dict[str, Region] = {}
            for r in p["regions"]:
                site = sites.get(r["site"])
                if site is None:
                    problems.append(f"provider {pid} region {r['name']}: unknown site {r['site']!r}")
                    continue
                region = Region(
                    provider=pid,
                    provider_name=p["name"] or pid,
                    name=r["name"],
                    site=site,
                    auth_hosts=tuple(r["auth_hosts"]),
                    availability_zones=tuple(a.lower() for a in r["availability_zones"]),
                    multi_az=r["multi_az"],
                    building=r["buildings"][0] if r["buildings"] else None,
                    confidence=r["confidence"],
                    sources=tuple(r["sources"]),
                    notes=r["notes"],
                )
                regs[r["name"].lower()] = region
                self._regions_by_name.setdefault(r["name"].lower(), []).append(region)
            self._regions[pid] = regs
        if problems:
            raise InputError(self.origins[-1], "; ".join(problems))

    # -- identification -------------------------------------------------
    def provider_for_cloud(self, cloud: str) -> str | None:
        return self._by_cloud.get(cloud.strip(ASCII_WHITESPACE).lower())

    def provider_for_host(self, host: str) -> str | None:
        host = host.lower()
        for pattern, pid in self._host_patterns:
            if host == pattern or ("*" in pattern and fnmatch.fnmatchcase(host, pattern)):
                return pid
        return None

    def regions(self) -> list[Region]:
        return [r for regs in self._regions.values() for r in regs.values()]

    def region(self, provider: str, name: str) -> Region | None:
        return self._regions.get(provider, {}).get(name.strip(ASCII_WHITESPACE).lower())

    def did_you_mean(self, name: str, provider: str | None = None) -> str:
        """' (did you mean GRA11?)' for a region name close to a known one (of ``provider`` when known)."""
        pool = self._regions.get(provider, {}) if provider else self._regions_by_name
        folded = unicodedata.normalize("NFKC", name).strip().lower()
        if folded in pool and folded != name.lower():
            hit = [folded]
        else:
            squeezed = "".join(c for c in folded if c.isalnum())
            exact = [k for k in pool if "".join(c for c in k if c.isalnum()) == squeezed] if squeezed else []
            hit = exact or difflib.get_close_matches(folded, list(pool), n=2, cutoff=0.75)
        if not hit:
            return ""
        names = [self._display(k, provider) for k in hit]
        return f" (did you mean {' or '.join(names)}?)"

    def _display(self, key: str, provider: str | None) -> str:
        if provider:
            return self._regions[provider][key].name
        return self._regions_by_name[key][0].name

    def resolve(
        self,
        *,
        region: str | None,
        auth_url: str | None = None,
        cloud: str | None = None,
        availability_zone: str | None = None,
        provider: str | None = None,
    ) -> Resolution:
        """Resolve a placement. Never raises: a failure is a Resolution with a problem.

        ``provider`` (a catalog provider id) names the provider outright, e.g. for a pulumi-ovh resource.
        Memoised: an estate has many resources but few distinct (cloud, region, AZ) tuples.
        """
        key = (region, auth_url, cloud, availability_zone, provider)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._resolve(
                region=region, auth_url=auth_url, cloud=cloud, availability_zone=availability_zone, provider=provider
            )
            if len(self._memo) < 100_000:
                self._memo[key] = hit
        return hit

    def _resolve(self, *, region, auth_url, cloud, availability_zone, provider=None) -> Resolution:
        if not region or not region.strip(ASCII_WHITESPACE):
            return Resolution(None, None, "no region: neither the resource nor its provider sets one")
        named, problem = cloud_name(region, "region", hint=False)
        if problem is not None:
            return Resolution(None, None, problem + self.did_you_mean(region))
        name = cast(str, named)  # a region without a problem has its name
        for value, what in ((cloud, "cloud"), (availability_zone, "availability zone"), (auth_url, "auth URL")):
            if value and value.strip(ASCII_WHITESPACE):
                _, problem = cloud_name(value, what)
                if problem is not None:
                    return Resolution(None, None, problem)
        how = f"provider {provider} (resource type)" if provider else ""
        if provider:
            pass
        elif auth_url and auth_url.strip(ASCII_WHITESPACE):
            host = auth_host(auth_url)
            provider = self.provider_for_host(host) if host else None
            if provider is None:
                return Resolution(None, None, f"auth URL host {host or auth_url!r} is not in the catalog")
            how = f"auth URL host {host}"
        elif cloud and cloud.strip(ASCII_WHITESPACE):
            provider = self.provider_for_cloud(cloud)
            if provider is None:
                return Resolution(
                    None,
                    None,
                    f"cloud {cloud.strip(ASCII_WHITESPACE)!r} is not in the catalog (map it to a provider with --catalog)",
                )
            how = f"cloud {cloud.strip(ASCII_WHITESPACE)}"
        if provider is None:
            candidates = self._regions_by_name.get(name.lower(), [])
            providers = {r.provider for r in candidates}
            if len(providers) != 1:
                if not candidates:
                    return Resolution(
                        None,
                        None,
                        f"region {name!r} is not in the catalog and no cloud or auth URL says whose it is"
                        + self.did_you_mean(name),
                    )
                return Resolution(
                    None, None, f"region {name!r} exists at {sorted(providers)}; set the provider's auth URL or cloud"
                )
            provider = providers.pop()
            how = "region name only (no auth URL or cloud given; unique in the catalog)"
        reg = self.region(provider, name)
        if reg is None:
            return Resolution(
                None,
                None,
                f"region {name!r} is not in the catalog for provider {provider}" + self.did_you_mean(name, provider),
            )
        if (
            auth_url
            and reg.auth_hosts
            and auth_host(auth_url) not in reg.auth_hosts
            and not any("*" in h for h in reg.auth_hosts)
        ):
            return Resolution(
                None,
                None,
                f"region {reg.name} is not served by auth URL host {auth_host(auth_url)} (catalog: {', '.join(reg.auth_hosts)})",
            )
        az = (availability_zone or "").strip(ASCII_WHITESPACE).lower()
        if reg.availability_zones:
            if not az:
                building = reg.unpinned_building
            elif az in reg.availability_zones:
                building = az
            else:
                return Resolution(
                    None,
                    None,
                    f"availability zone {az!r} is not in the catalog for region {reg.name} ({', '.join(reg.availability_zones)})",
                )
        elif reg.multi_az:
            building = reg.unpinned_building
        else:
            building = reg.building or reg.name
        return Resolution(reg, building, None, how)


_BUILTIN: dict[str, Any] | None = None


def builtin_data() -> dict[str, Any]:
    """The shipped catalog, as compiled (validated, normalised) from ``data/catalog.yaml``."""
    global _BUILTIN
    if _BUILTIN is None:
        text = resources.files("resilient_stack.core").joinpath("data/catalog.compiled.json").read_text("utf-8")
        data = json.loads(text)
        data.pop("_", None)
        _BUILTIN = data
    return _BUILTIN


def read_catalog_file(path: str) -> dict[str, Any]:
    """A ``--catalog`` file, validated into plain data."""
    from resilient_stack.core.catalog_schema import validate_catalog
    from resilient_stack.io.readfile import decode_text, read_bytes
    from resilient_stack.io.safeyaml import load_yaml_text

    return validate_catalog(load_yaml_text(decode_text(read_bytes(path), path), path), path)


def load_catalog(
    extra_paths: list[str] | tuple[str, ...] = (),
    inline: list[tuple[str, dict[str, Any]]] | tuple = (),
) -> Catalog:
    """Built-in catalog, then ``inline`` entries (validated data, e.g. a policy config's), then files; later wins."""
    files = [("built-in catalog", builtin_data()), *inline]
    files.extend((path, read_catalog_file(path)) for path in extra_paths)
    return Catalog(files)
