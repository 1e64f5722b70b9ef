"""The auditor's inputs, detected automatically:

- a design file (YAML/JSON mapping with ``placements``),
- ``pulumi stack export`` JSON (``{"version": 3, "deployment": {"resources": [...]}}``),
- ``pulumi preview --json`` output (``{"steps": [{"op", "urn", "newState": {...}}]}``).

Every reader returns placements (see :mod:`resilient_stack.core.placement`); structural problems raise
:class:`InputError` (exit 2), placement problems become ``unknown-placement`` findings.

JSON inputs are streamed (:mod:`resilient_stack.io.jsonstream`): resources are read one at a time and
only what placement needs is kept, so an export of 100,000 resources costs about as much as
reading it. ``inspect`` callbacks, keyed by resource type, see the resources of their type on the
way (security checks).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.kinds import (
    KINDS,
    KNOWN,
    OVH,
    OVH_KUBE,
    OVH_NODE_POOL,
    PROVIDER,
    REPLICA,
    UNCLASSIFIED,
    classify,
)
from resilient_stack.core.placement import Placement
from resilient_stack.core.resources import (
    ResourceView,
    kube_entry,
    place_all,
    provider_facts,
    provider_urn,
    resource_issues,
)
from resilient_stack.io.errors import InputError
from resilient_stack.io.jsonstream import StreamError, is_not_array, stream_object
from resilient_stack.io.readfile import decode_text, read_bytes

DEFAULT_PROVIDER_NOTE = (
    "uses the default openstack provider, whose region is not recorded in a preview; "
    "give the stack's config with --stack-config Pulumi.<stack>.yaml, use an explicit provider, "
    "or audit `pulumi stack export` instead"
)
_DEFAULT_PROVIDER = "::pulumi:providers:openstack::default"

Inspectors = Mapping[str, Callable[[ResourceView], None]]  # resource type -> callback


@dataclass(frozen=True, slots=True)
class Loaded:
    kind: str  # "design" | "stack-export" | "preview"
    placements: list[Placement]
    resources: int  # resources read (design: replicas)
    issues: tuple = ()  # (rule, urn, role, message): findings of the reader itself
    coverage: dict | None = None  # what was and was not evaluated, by type (see _Reader.coverage)
    sha256: str | None = None  # of the input's bytes (load_input)
    lines: Mapping[str, int] | None = None  # resource -> the line of the input that declares it (YAML designs)

    def judged(self) -> int:
        """How many resources a rule judged: the evaluated ones, the providers (read only to place others) aside."""
        evaluated = (self.coverage or {}).get("evaluated", {})
        return sum(n for typ, n in evaluated.items() if not typ.startswith("pulumi:providers:"))

    def nothing_to_prove(self) -> str | None:
        """Why no verdict can be given on this input (``None``: one can): no replica and no finding of the reader,
        or no resource judged at all (an advisory about types the auditor does not know is not a verdict)."""
        if self.judged() and (self.placements or self.issues):
            return None
        cov = self.coverage or {}
        ne = cov.get("not_evaluated", {})
        found = {**cov.get("evaluated", {}), **ne.get("holds_no_replica", {}), **ne.get("unknown_type", {}),
                 **{f"{typ} not running": n for typ, n in ne.get("not_running", {}).items()}}
        listed = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{n} {typ}" for typ, n in listed[:4]) + (f", {len(listed) - 4} more types"
                                                                     if len(listed) > 4 else "")
        return (f"no replica to check among {self.resources} resources, 0 evaluated (the auditor reads OpenStack and "
                "OVHcloud instances, volumes, containers, shares, load balancers and databases, and "
                f"resilient-stack:role labels; found {shown or 'nothing'}): nothing can be proven")


def _check_resource(r: Any, i: int, source: str, where: str) -> tuple[str, str]:
    if type(r) is not dict:
        raise InputError(source, f"{where}[{i}] is not an object")
    urn, typ = r.get("urn"), r.get("type")
    if type(urn) is not str or not urn.startswith("urn:pulumi:"):
        raise InputError(source, f"{where}[{i}] has no valid 'urn'")
    if type(typ) is not str or not typ:
        raise InputError(source, f"{where}[{i}] ({urn}) has no 'type'")
    return urn, typ


_SKIP = None  # per-type decision of the readers: neither a replica, nor inspected, nor a provider


@dataclass
class _Reader:
    """Shared by both JSON formats: providers, placements placed as soon as their provider is known.

    Big estates are mostly networks, subnets and rules: what a resource's type means (provider,
    possible replica, inspected) is decided once per type, and a provider's region, auth URL and
    cloud are read once per provider, so a resource that matters to no rule costs a dict lookup.
    """

    source: str
    catalog: Catalog
    inspect: Inspectors = field(default_factory=dict)
    count: int = 0
    seen: set = field(default_factory=set)
    providers: dict = field(default_factory=dict)
    placements: list = field(default_factory=list)
    deferred: list = field(default_factory=list)
    _kinds: dict = field(default_factory=dict)
    _facts: dict = field(default_factory=dict)
    types: dict = field(default_factory=dict)  # type -> count of resources: the coverage of the input
    issues: list = field(default_factory=list)  # (rule, urn, role, message) found on the way
    kubes: dict = field(default_factory=dict)  # pulumi-ovh cluster id/URN -> (region, problem), for node pools
    components: set = field(default_factory=set)  # types seen as component (non-custom) resources
    pools: list = field(default_factory=list)
    not_running: list = field(default_factory=list)  # (urn, type, why): in the file, but no replica (lifecycle)

    def _classify(self, typ: str, custom: bool) -> tuple | None:
        """(openstack provider?, replica?, inspector, unclassified?) or _SKIP."""
        cls = classify(typ, custom)
        if cls == PROVIDER:
            return (True, False, None, False)
        inspector = self.inspect.get(typ)
        if cls == KNOWN and inspector is None:
            return _SKIP
        return (False, cls == REPLICA, inspector, cls == UNCLASSIFIED)

    def _resource(self, urn: str, typ: str, state: dict, ref: Any) -> None:
        types = self.types
        types[typ] = types.get(typ, 0) + 1
        custom = state.get("custom", True) is not False
        if not custom:
            self.components.add(typ)  # a component resource: never "a type unknown to the auditor"
        kinds = self._kinds
        key = typ if custom else (typ, False)
        kind = kinds.get(key, kinds)
        if kind is kinds:
            kind = kinds[key] = self._classify(typ, custom)
        if kind is _SKIP:
            return  # the common case in big estates: networks, rules, components
        is_provider, replica, inspector, unclassified = kind
        inputs = state.get("inputs")
        if type(inputs) is not dict:
            inputs = None
        if is_provider:
            outputs = state.get("outputs")
            self.providers[urn] = (inputs or {}, outputs if type(outputs) is dict else None)
            return
        outputs = state.get("outputs")
        deps = state.get("propertyDependencies")
        # positional: urn, type, inputs, outputs, provider_ref, custom, deps
        view = ResourceView(urn, typ, inputs, outputs if type(outputs) is dict else None,
                            ref if type(ref) is str else None, custom, deps if type(deps) is dict else None)
        if inspector is not None:
            inspector(view)
        if unclassified or (replica and KINDS[typ].labels):
            found = resource_issues(view)
            if found:
                self.issues.extend(found)
        if not replica:
            return
        failed = _failed(state, view.outputs)
        if failed:
            self.types[typ] -= 1
            self.not_running.append((urn, typ, failed))
            return
        vendor = KINDS[typ].vendor
        if vendor == OVH:
            if typ == OVH_KUBE:
                region = kube_entry(view)
                ident = state.get("id")
                if isinstance(ident, str) and ident:
                    self.kubes[ident] = region
                self.kubes[urn] = region
            if typ == OVH_NODE_POOL:
                self.pools.append(view)  # its cluster may come later in the file
                return
            self.placements.extend(place_all(view, self.catalog, None))
            return
        purn = provider_urn(view.provider_ref)
        props = self.providers.get(purn)
        if props is not None:
            facts = self._facts.get(purn)
            if facts is None:
                facts = self._facts[purn] = provider_facts(*props)
            self.placements.extend(place_all(view, self.catalog, facts))
        else:
            self.deferred.append(view)  # its provider may come later in the file

    def finish(self, missing_default: str | None) -> list[Placement]:
        for v in self.deferred:
            purn = provider_urn(v.provider_ref)
            props = self.providers.get(purn) if purn else None
            problem = None
            if props is None:
                if v.provider_ref is None:
                    problem = "the resource records no provider"
                elif purn and _DEFAULT_PROVIDER in purn and missing_default:
                    problem = missing_default
                else:
                    problem = f"its provider {v.provider_ref!r} is not in the file"
            facts = provider_facts(*props) if props is not None else None
            self.placements.extend(place_all(v, self.catalog, facts, problem))
        for v in self.pools:
            self.placements.extend(place_all(v, self.catalog, None, None, self.kubes))
        self.deferred = []
        self.pools = []
        return self.placements

    def coverage(self) -> dict:
        """Every resource read, by type: evaluated (placed, inspected, a provider used for placement) or not."""
        evaluated: dict[str, int] = {}
        known: dict[str, int] = {}
        unknown: dict[str, int] = {}
        for typ, n in sorted(self.types.items()):
            if not n:
                continue  # every one of them is not running (below)
            cls = classify(typ, typ not in self.components)
            if cls in (REPLICA, PROVIDER) or typ in self.inspect:
                evaluated[typ] = n
            elif cls == UNCLASSIFIED:
                unknown[typ] = n
            else:
                known[typ] = n
        gone: dict[str, int] = {}
        for _, typ, _ in self.not_running:
            gone[typ] = gone.get(typ, 0) + 1
        return {"resources": sum(self.types.values()) + len(self.not_running), "evaluated": evaluated,
                "not_evaluated": {"holds_no_replica": known, "unknown_type": unknown, "not_running": gone},
                "not_running": [{"resource": urn, "type": typ, "why": why}
                                for urn, typ, why in self.not_running[:NOT_RUNNING_LISTED]]}


class ExportReader(_Reader):
    def add(self, r: Any) -> None:
        if type(r) is dict:
            urn, typ = r.get("urn"), r.get("type")
            if not (type(urn) is str and type(typ) is str and typ and urn.startswith("urn:pulumi:")):
                urn, typ = _check_resource(r, self.count, self.source, "deployment.resources")
        elif is_not_array(r):
            raise InputError(self.source, "stack export 'deployment.resources' must be a list")
        else:
            urn, typ = _check_resource(r, self.count, self.source, "deployment.resources")
        self.count += 1
        if r.get("delete") is True or r.get("pendingReplacement") is True:
            # an old copy awaiting deletion (it shares its URN with its replacement) or a resource deleted before
            # its replacement was created: neither is a replica that survives anything
            self.not_running.append((urn, typ, "pending deletion" if r.get("delete") is True
                                     else "deleted, its replacement not created yet (pendingReplacement)"))
            return
        seen = self.seen
        n = len(seen)
        seen.add(urn)
        if len(seen) == n:
            raise InputError(self.source, f"duplicate URN {urn}")
        self._resource(urn, typ, r, r.get("provider"))


    def finish_export(self, deployment: Mapping[str, Any]) -> list[Placement]:
        """The placements, less the resources an interrupted update was deleting (``pending_operations``)."""
        placements = self.finish(None)
        ops = deployment.get("pending_operations")
        if ops is None:
            return placements
        if type(ops) is not list:
            raise InputError(self.source, "stack export 'deployment.pending_operations' must be a list")
        deleting: dict[str, str] = {}
        for i, op in enumerate(ops):
            res = op.get("resource") if type(op) is dict else None
            if type(res) is not dict or type(res.get("urn")) is not str or type(op.get("type")) is not str:
                raise InputError(self.source, f"deployment.pending_operations[{i}] has no 'type' and 'resource.urn'")
            if op["type"] == "deleting":
                deleting[res["urn"]] = str(res.get("type") or "")
        if not deleting:
            return placements
        kept = [p for p in placements if p.resource.split("#", 1)[0] not in deleting]
        gone = {p.resource.split("#", 1)[0] for p in placements} & deleting.keys()
        for urn in sorted(gone):
            typ = deleting[urn]
            if self.types.get(typ):
                self.types[typ] -= 1
            self.not_running.append((urn, typ, "being deleted by an interrupted update (pending_operations)"))
        return kept


NOT_RUNNING_LISTED = 100  # resources named in the coverage (all are counted by type)
_FAILED_STATUS = frozenset({"error", "failed", "deleting", "deleted", "error_deleting"})


def _failed(state: Mapping[str, Any], outputs: Mapping[str, Any] | None) -> str | None:
    """Why a replica resource in the state does not run (``None``: it runs as far as the state says)."""
    errors = state.get("initErrors")
    if type(errors) is list and errors:
        first = " ".join(str(errors[0]).split())[:160]
        return f"created with initialization errors ({first})"
    if outputs:
        status = outputs.get("status")
        if type(status) is str and status.strip().lower() in _FAILED_STATUS:
            return f"status {status.strip()[:40]}"
    return None


LIVE_OPS = frozenset({"create", "same", "update", "replace", "create-replacement", "import",
                      "import-replacement", "refresh", "read"})


class PreviewReader(_Reader):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.stateless: list[tuple[str, str]] = []

    def step_issues(self) -> tuple:
        """unknown-placement for each step that should carry a state and does not (fails closed)."""
        return tuple(
            ("unknown-placement", urn, None,
             f"the preview step `{op}` of {urn} carries no newState: what it plans cannot be placed or checked")
            for urn, op in self.stateless
        )

    def add(self, step: Any) -> None:
        if is_not_array(step):
            raise InputError(self.source, "preview JSON 'steps' must be a list")
        i = self.count
        self.count += 1
        if type(step) is not dict:
            raise InputError(self.source, f"steps[{i}] is not an object")
        state = step.get("newState")
        if step.get("op") not in LIVE_OPS:
            return
        if type(state) is not dict:
            # a step that creates or keeps a resource and does not say what: it may be a replica
            urn = str(step["urn"]) if type(step.get("urn")) is str else f"steps[{i}]"
            self.stateless.append((urn, str(step.get("op"))))
            return
        urn, typ = _check_resource(state, i, self.source, "steps")
        if urn in self.seen:
            return  # create-replacement + replace name the same URN
        self.seen.add(urn)
        ref = state.get("provider") if type(state.get("provider")) is str else step.get("provider")
        self._resource(urn, typ, state, ref)

    def apply_stack_config(self, stack_config: Mapping[str, Any] | None) -> None:
        """Give default providers (absent from previews) the stack's `openstack:*` settings."""
        if stack_config is None:
            return
        cfg = {k.split(":", 1)[1]: v for k, v in stack_config.items() if isinstance(k, str) and k.startswith("openstack:")}
        for v in self.deferred:
            purn = provider_urn(v.provider_ref)
            if purn and _DEFAULT_PROVIDER in purn and purn not in self.providers:
                self.providers[purn] = (cfg, None)


def check_preview_diagnostics(doc: Mapping[str, Any], source: str) -> None:
    """A preview whose program failed still prints the steps planned before the failure: refuse it.

    What the program would have created after the failure is missing, so no verdict on it proves anything.
    """
    diags = doc.get("diagnostics")
    if not isinstance(diags, list):
        return
    for d in diags:
        if isinstance(d, dict) and d.get("severity") == "error":
            msg = " ".join(str(d.get("message", "")).split())[:200]
            raise InputError(
                source, f"the preview failed (error diagnostic: {msg or 'no message'}); its partial plan cannot be audited"
            )


def read_stack_export(doc: Mapping[str, Any], source: str, catalog: Catalog, inspect: Inspectors | None = None) -> Loaded:
    """Read an already-decoded stack export (tests, small inputs)."""
    dep = doc.get("deployment")
    if type(dep) is not dict:
        raise InputError(source, "stack export has no 'deployment' object")
    res = dep.get("resources") or []
    if type(res) is not list:
        raise InputError(source, "stack export 'deployment.resources' must be a list")
    reader = ExportReader(source, catalog, inspect or {})
    for r in res:
        reader.add(r)
    placements = reader.finish_export(dep)
    return Loaded("stack-export", placements, reader.count, tuple(reader.issues), reader.coverage())


def read_preview(doc: Mapping[str, Any], source: str, catalog: Catalog,
                 stack_config: Mapping[str, Any] | None = None, inspect: Inspectors | None = None) -> Loaded:
    """Read already-decoded `pulumi preview --json` output."""
    steps = doc.get("steps")
    if type(steps) is not list:
        raise InputError(source, "preview JSON 'steps' must be a list")
    check_preview_diagnostics(doc, source)
    reader = PreviewReader(source, catalog, inspect or {})
    for s in steps:
        reader.add(s)
    reader.apply_stack_config(stack_config)
    placements = reader.finish(DEFAULT_PROVIDER_NOTE)
    return Loaded("preview", placements, len(reader.seen) + len(reader.stateless),
                  reader.step_issues() + tuple(reader.issues), reader.coverage())


def _yaml(text: str, source: str) -> Any:
    from resilient_stack.io.safeyaml import (
        load_yaml_text,  # YAML inputs only: a JSON export never imports the YAML library
    )

    return load_yaml_text(text, source)


def _design(doc: Any, source: str, catalog: Catalog, text: str | None = None) -> Loaded:
    """A design file's placements; from YAML ``text``, also the line of the entry that declares each one."""
    from resilient_stack.core.design import (
        parse_design,  # design files only: pydantic is not imported for JSON exports
    )

    design = parse_design(doc, source)
    placements = design.placements_for(catalog)
    lines = None
    if text is not None:
        from resilient_stack.io.safeyaml import entry_lines

        at = entry_lines(text, ("placements", "backups"))
        by_name = {p.name: at.get(("placements", i)) for i, p in enumerate(design.placements)}
        by_name.update({b.name or f"backup-{i + 1}": at.get(("backups", i)) for i, b in enumerate(design.backups)})
        lines = {p.resource: line for p in placements if (line := by_name.get(p.resource.split("/", 1)[0]))}
    return Loaded("design", placements, len(placements), (),
                  {"resources": len(placements), "evaluated": {"design replica": len(placements)},
                   "not_evaluated": {"holds_no_replica": {}, "unknown_type": {}}}, lines=lines)


def read_stack_config(path: str) -> Mapping[str, Any]:
    raw = _yaml(decode_text(read_bytes(path), path), path)
    if not isinstance(raw, dict) or not isinstance(raw.get("config", {}), dict):
        raise InputError(path, "not a Pulumi stack config file (expected a 'config' mapping)")
    return raw.get("config") or {}


def detect(doc: Any, source: str) -> str:
    if isinstance(doc, dict):
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


def _looks_like_json(data: bytes) -> bool:
    head = data.lstrip(b" \t\r\n")[:1]
    if head == b"\xef":  # a UTF-8 byte order mark
        head = data[3:].lstrip(b" \t\r\n")[:1]
    return head in (b"{", b"[")


def parse_document(data: bytes, source: str) -> Any:
    """Decode a whole document (JSON or YAML); used for small inputs and by the fuzz tests."""
    text = decode_text(data, source)
    if not text.strip():
        raise InputError(source, "empty file")
    if _looks_like_json(data):
        return _stream(data, source, {})
    return _yaml(text, source)


def _stream(data: bytes | list[bytes], source: str, streams: dict, reread=None) -> Any:
    try:
        return stream_object(data, streams, reread)
    except StreamError as exc:
        raise InputError(source, f"invalid JSON: {exc}") from None
    except RecursionError:
        raise InputError(source, "invalid JSON: nesting too deep") from None


def load_input(
    path: str,
    catalog: Catalog,
    stack_config: Mapping[str, Any] | None = None,
    source: str | None = None,
    inspect: Inspectors | None = None,
) -> Loaded:
    """The file (or stdin: ``-``) read, detected by its content and placed; ``sha256`` is the digest of its bytes."""
    source = source or ("<stdin>" if path == "-" else path)
    data = read_bytes(path, source)
    if not data or data.isspace():  # not data.strip(): a copy of the whole file
        raise InputError(source, "empty file")
    digest = hashlib.sha256(data).hexdigest()  # the report names what it judged (0.07 s per 100 MB here)
    box = [data]
    del data  # the reader holds the file once (see _load)
    return replace(_load(path, box, source, catalog, stack_config, inspect), sha256=digest)


def _load(path: str, box: list[bytes], source: str, catalog: Catalog, stack_config, inspect) -> Loaded:
    data = box[0]
    if not _looks_like_json(data):
        text = decode_text(data, source)
        doc = _yaml(text, source)
        kind = detect(doc, source)
        if kind == "stack-export":
            return read_stack_export(doc, source, catalog, inspect)
        if kind == "preview":
            return read_preview(doc, source, catalog, stack_config, inspect)
        return _design(doc, source, catalog, text)
    export = ExportReader(source, catalog, inspect or {})
    preview = PreviewReader(source, catalog, inspect or {})
    del data  # the reader holds the file once (in ``box``): compacted, the original is read again only to locate an error
    reread = None if path == "-" else (lambda: read_bytes(path, source))
    doc = _stream(box, source, {("deployment", "resources"): export.add, ("steps",): preview.add}, reread)
    kind = detect(doc, source)
    if kind == "stack-export":
        if type(doc["deployment"]) is not dict:
            raise InputError(source, "stack export has no 'deployment' object")
        placements = export.finish_export(doc["deployment"])
        return Loaded("stack-export", placements, export.count, tuple(export.issues), export.coverage())
    if kind == "preview":
        check_preview_diagnostics(doc, source)
        preview.apply_stack_config(stack_config)
        placements = preview.finish(DEFAULT_PROVIDER_NOTE)
        return Loaded("preview", placements, len(preview.seen) + len(preview.stateless),
                      preview.step_issues() + tuple(preview.issues), preview.coverage())
    return _design(doc, source, catalog)
