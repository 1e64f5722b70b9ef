"""The auditor's inputs, detected automatically:

- a design file (YAML/JSON mapping with ``placements``),
- ``pulumi stack export`` JSON (``{"version": 3, "deployment": {"resources": [...]}}``),
- ``pulumi preview --json`` output (``{"steps": [{"op", "urn", "newState": {...}}]}``).

Every reader returns placements (see :mod:`resilient_stack.placement`); structural problems raise
:class:`InputError` (exit 2), placement problems become ``unknown-placement`` findings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .catalog import Catalog
from .design import parse_design
from .errors import InputError
from .extract import OPENSTACK_PROVIDER, ResourceView, place_resource, provider_urn
from .placement import Placement
from .safeyaml import decode_text, load_json_text, load_yaml_text, read_bytes

DEFAULT_PROVIDER_NOTE = (
    "uses the default openstack provider, whose region is not recorded in a preview; "
    "give the stack's config with --stack-config Pulumi.<stack>.yaml, use an explicit provider, "
    "or audit `pulumi stack export` instead"
)


@dataclass(frozen=True, slots=True)
class Loaded:
    kind: str  # "design" | "stack-export" | "preview"
    placements: list[Placement]
    resources: int  # resources read (design: replicas)


def _resources_of_export(doc: Mapping[str, Any], source: str) -> list:
    dep = doc.get("deployment")
    if not isinstance(dep, Mapping):
        raise InputError(source, "stack export has no 'deployment' object")
    res = dep.get("resources", [])
    if res is None:
        res = []
    if not isinstance(res, list):
        raise InputError(source, "stack export 'deployment.resources' must be a list")
    return res


def _check_resource(r: Any, i: int, source: str, where: str) -> tuple[str, str]:
    if not isinstance(r, Mapping):
        raise InputError(source, f"{where}[{i}] is not an object")
    urn, typ = r.get("urn"), r.get("type")
    if not isinstance(urn, str) or not urn.startswith("urn:pulumi:"):
        raise InputError(source, f"{where}[{i}] has no valid 'urn'")
    if not isinstance(typ, str) or not typ:
        raise InputError(source, f"{where}[{i}] ({urn}) has no 'type'")
    return urn, typ


def _as_mapping(v: Any) -> Mapping[str, Any] | None:
    return v if isinstance(v, Mapping) else None


def _place_views(
    views: list[ResourceView],
    providers: dict[str, Mapping[str, Any]],
    catalog: Catalog,
    missing_default: str | None,
) -> list[Placement]:
    out: list[Placement] = []
    for v in views:
        purn = provider_urn(v.provider_ref)
        props = providers.get(purn) if purn else None
        problem = None
        if props is None:
            if v.provider_ref is None:
                problem = "the resource records no provider"
            elif purn and "::pulumi:providers:openstack::default" in purn and missing_default:
                problem = missing_default
            else:
                problem = f"its provider {v.provider_ref!r} is not in the file"
        p = place_resource(v, catalog, props, problem if props is None else None)
        if p is not None:
            out.append(p)
    return out


def read_stack_export(doc: Mapping[str, Any], source: str, catalog: Catalog) -> Loaded:
    resources = _resources_of_export(doc, source)
    seen: set[str] = set()
    providers: dict[str, Mapping[str, Any]] = {}
    views: list[ResourceView] = []
    for i, r in enumerate(resources):
        urn, typ = _check_resource(r, i, source, "deployment.resources")
        if urn in seen:
            raise InputError(source, f"duplicate URN {urn}")
        seen.add(urn)
        inputs = _as_mapping(r.get("inputs"))
        if typ.startswith("pulumi:providers:"):
            if typ == OPENSTACK_PROVIDER:
                merged = dict(_as_mapping(r.get("outputs")) or {})
                merged.update(inputs or {})
                providers[urn] = merged
            continue
        views.append(
            ResourceView(
                urn=urn, type=typ, inputs=inputs, outputs=_as_mapping(r.get("outputs")),
                provider_ref=r.get("provider") if isinstance(r.get("provider"), str) else None,
                custom=bool(r.get("custom", True)),
            )
        )
    return Loaded("stack-export", _place_views(views, providers, catalog, None), len(resources))


LIVE_OPS = {"create", "same", "update", "replace", "create-replacement", "import", "import-replacement", "refresh", "read"}


def read_preview(
    doc: Mapping[str, Any], source: str, catalog: Catalog, stack_config: Mapping[str, Any] | None = None
) -> Loaded:
    steps = doc.get("steps")
    if not isinstance(steps, list):
        raise InputError(source, "preview JSON 'steps' must be a list")
    providers: dict[str, Mapping[str, Any]] = {}
    views: list[ResourceView] = []
    seen: set[str] = set()
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping):
            raise InputError(source, f"steps[{i}] is not an object")
        op = step.get("op")
        state = step.get("newState")
        if op not in LIVE_OPS or not isinstance(state, Mapping):
            continue
        urn, typ = _check_resource(state, i, source, "steps")
        if urn in seen:
            continue  # create-replacement + replace name the same URN
        seen.add(urn)
        inputs = _as_mapping(state.get("inputs"))
        if typ.startswith("pulumi:providers:"):
            if typ == OPENSTACK_PROVIDER:
                providers[urn] = inputs or {}
            continue
        ref = state.get("provider") if isinstance(state.get("provider"), str) else step.get("provider")
        views.append(
            ResourceView(
                urn=urn, type=typ, inputs=inputs, outputs=_as_mapping(state.get("outputs")),
                provider_ref=ref if isinstance(ref, str) else None, custom=bool(state.get("custom", True)),
            )
        )
    missing = DEFAULT_PROVIDER_NOTE
    if stack_config is not None:
        cfg = {k.split(":", 1)[1]: v for k, v in stack_config.items() if isinstance(k, str) and k.startswith("openstack:")}
        for v in views:
            purn = provider_urn(v.provider_ref)
            if purn and "::pulumi:providers:openstack::default" in purn and purn not in providers:
                providers[purn] = cfg
    return Loaded("preview", _place_views(views, providers, catalog, missing), len(seen))


def read_stack_config(path: str) -> Mapping[str, Any]:
    raw = load_yaml_text(decode_text(read_bytes(path), path), path)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("config", {}), Mapping):
        raise InputError(path, "not a Pulumi stack config file (expected a 'config' mapping)")
    return raw.get("config", {})


def detect(doc: Any, source: str) -> str:
    if isinstance(doc, Mapping):
        if "deployment" in doc:
            return "stack-export"
        if "steps" in doc:
            return "preview"
        if "placements" in doc:
            return "design"
        keys = ", ".join(sorted(str(k) for k in list(doc)[:5])) or "none"
        raise InputError(
            source,
            f"unrecognised format (top-level keys: {keys}); expected a design file (placements), "
            "a `pulumi stack export` (deployment) or `pulumi preview --json` output (steps)",
        )
    raise InputError(source, f"unrecognised format: top level is a {type(doc).__name__}, expected an object")


def parse_document(data: bytes, source: str) -> Any:
    text = decode_text(data, source)
    stripped = text.lstrip()
    if not stripped:
        raise InputError(source, "empty file")
    if stripped[0] in "{[":
        return load_json_text(text, source)
    return load_yaml_text(text, source)


def load_input(
    path: str,
    catalog: Catalog,
    stack_config: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> Loaded:
    source = source or ("<stdin>" if path == "-" else path)
    doc = parse_document(read_bytes(path, source), source)
    kind = detect(doc, source)
    if kind == "stack-export":
        return read_stack_export(doc, source, catalog)
    if kind == "preview":
        return read_preview(doc, source, catalog, stack_config)
    design = parse_design(doc, source)
    placements = design.placements_for(catalog)
    return Loaded("design", placements, len(placements))
