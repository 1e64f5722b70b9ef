"""The auditor's inputs, detected automatically:

- a design file (YAML/JSON mapping with ``placements``),
- ``pulumi stack export`` JSON (``{"version": 3, "deployment": {"resources": [...]}}``),
- ``pulumi preview --json`` output (``{"steps": [{"op", "urn", "newState": {...}}]}``),
- ``tofu show -json`` (or ``terraform show -json``) of a saved plan or of a state, and a raw state file
  (``terraform.tfstate``, version 4) (:mod:`resilient_stack.audit.opentofu`).

Every reader checks the input's shape and hands each resource to an estate (:mod:`resilient_stack.core.estate`,
judged by its ``audit``, the pipeline the pack and the components call too); structural problems raise
:class:`InputError` (exit 2), placement problems become ``unknown-placement`` findings.

JSON inputs are streamed (:mod:`resilient_stack.io.jsonstream`): resources are read one at a time and
only what placement needs is kept, so an export of 100,000 resources costs about as much as
reading it. ``security=True`` checks the security defaults on the way; ``inspect`` callbacks, keyed by
resource type, see the resources of their type (tests, other checks).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from resilient_stack.audit import opentofu
from resilient_stack.core.catalog import Catalog
from resilient_stack.core.estate import Estate, Inspectors
from resilient_stack.core.placement import Placement
from resilient_stack.io.errors import InputError
from resilient_stack.io.jsonstream import StreamError, is_not_array, stream_object
from resilient_stack.io.readfile import decode_text, read_bytes

DEFAULT_PROVIDER_NOTE = (
    "uses the default openstack provider, whose region is not recorded in a preview; "
    "give the stack's config with --stack-config Pulumi.<stack>.yaml, use an explicit provider, "
    "or audit `pulumi stack export` instead"
)


@dataclass(frozen=True, slots=True)
class Loaded:
    kind: str  # "design" | "stack-export" | "preview" | "opentofu-plan" | "opentofu-state" | "opentofu-tfstate"
    estate: Estate  # what the rules read of it (core.estate): judge it with core.estate.audit
    resources: int  # resources read (design: replicas)
    sha256: str | None = None  # of the input's bytes (load_input)
    lines: Mapping[str, int] | None = None  # resource -> the line of the input that declares it (YAML designs)

    @property
    def placements(self) -> list[Placement]:
        return self.estate.finish()

    @property
    def issues(self) -> tuple:
        """(rule, urn, role, message): the findings of the readers."""
        return tuple(self.estate.issues)

    @property
    def coverage(self) -> dict:
        """What was and was not evaluated, by type (core.estate.Estate.coverage)."""
        return self.estate.coverage()

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
        found = {
            **cov.get("evaluated", {}),
            **ne.get("holds_no_replica", {}),
            **ne.get("unknown_type", {}),
            **{f"{typ} not running": n for typ, n in ne.get("not_running", {}).items()},
        }
        listed = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{n} {typ}" for typ, n in listed[:4]) + (
            f", {len(listed) - 4} more types" if len(listed) > 4 else ""
        )
        return (
            f"no replica to check among {self.resources} resources, 0 evaluated (the auditor reads OpenStack and "
            "OVHcloud instances, volumes, containers, shares, load balancers and databases, and "
            f"resilient-stack:role labels; found {shown or 'nothing'}): nothing can be proven"
        )


def _check_resource(r: Any, i: int, source: str, where: str) -> tuple[str, str]:
    if type(r) is not dict:
        raise InputError(source, f"{where}[{i}] is not an object")
    urn, typ = r.get("urn"), r.get("type")
    if type(urn) is not str or not urn.startswith("urn:pulumi:"):
        raise InputError(source, f"{where}[{i}] has no valid 'urn'")
    if type(typ) is not str or not typ:
        raise InputError(source, f"{where}[{i}] ({urn}) has no 'type'")
    return urn, typ


@dataclass
class _Reader:
    """Shared by both JSON formats: checks each resource's shape and hands it to the estate (core.estate), which
    keeps what the rules need."""

    source: str
    estate: Estate
    count: int = 0
    seen: set = field(default_factory=set)


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
            self.estate.gone(
                urn,
                typ,
                "pending deletion"
                if r.get("delete") is True
                else "deleted, its replacement not created yet (pendingReplacement)",
            )
            return
        seen = self.seen
        n = len(seen)
        seen.add(urn)
        if len(seen) == n:
            raise InputError(self.source, f"duplicate URN {urn}")
        self.estate.read(urn, typ, r, r.get("provider"))

    def finish_export(self, deployment: Mapping[str, Any]) -> list[Placement]:
        """The placements, less the resources an interrupted update was deleting (``pending_operations``)."""
        ops = deployment.get("pending_operations")
        if ops is None:
            return self.estate.finish()
        if type(ops) is not list:
            raise InputError(self.source, "stack export 'deployment.pending_operations' must be a list")
        deleting: dict[str, str] = {}
        for i, op in enumerate(ops):
            res = op.get("resource") if type(op) is dict else None
            if type(res) is not dict or type(res.get("urn")) is not str or type(op.get("type")) is not str:
                raise InputError(self.source, f"deployment.pending_operations[{i}] has no 'type' and 'resource.urn'")
            if op["type"] == "deleting":
                deleting[res["urn"]] = str(res.get("type") or "")
        self.estate.deleting(deleting, "being deleted by an interrupted update (pending_operations)")
        return self.estate.finish()


LIVE_OPS = frozenset(
    {"create", "same", "update", "replace", "create-replacement", "import", "import-replacement", "refresh", "read"}
)


class PreviewReader(_Reader):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.stateless: list[tuple[str, str]] = []

    def step_issues(self) -> tuple:
        """unknown-placement for each step that should carry a state and does not (fails closed)."""
        return tuple(
            (
                "unknown-placement",
                urn,
                None,
                f"the preview step `{op}` of {urn} carries no newState: what it plans cannot be placed or checked",
            )
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
        self.estate.read(urn, typ, state, ref)

    def loaded(self, stack_config: Mapping[str, Any] | None) -> Loaded:
        """The preview read: default providers given the stack's config, every resource placed, the steps that
        carry no state reported first."""
        self.apply_stack_config(stack_config)
        self.estate.finish(DEFAULT_PROVIDER_NOTE)
        self.estate.issues[:0] = self.step_issues()
        return Loaded("preview", self.estate, len(self.seen) + len(self.stateless))

    def apply_stack_config(self, stack_config: Mapping[str, Any] | None) -> None:
        """Give default providers (absent from previews) the stack's `openstack:*` settings."""
        if stack_config is None:
            return
        cfg = {
            k.split(":", 1)[1]: v for k, v in stack_config.items() if isinstance(k, str) and k.startswith("openstack:")
        }
        for purn in self.estate.waiting_on_default_provider():
            self.estate.provider(purn, cfg)


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
                source,
                f"the preview failed (error diagnostic: {msg or 'no message'}); its partial plan cannot be audited",
            )


def read_stack_export(
    doc: Mapping[str, Any], source: str, catalog: Catalog, inspect: Inspectors | None = None, security: bool = False
) -> Loaded:
    """Read an already-decoded stack export (tests, small inputs)."""
    dep = doc.get("deployment")
    if type(dep) is not dict:
        raise InputError(source, "stack export has no 'deployment' object")
    res = dep.get("resources") or []
    if type(res) is not list:
        raise InputError(source, "stack export 'deployment.resources' must be a list")
    reader = ExportReader(source, Estate(catalog, security=security, inspect=inspect))
    for r in res:
        reader.add(r)
    reader.finish_export(dep)
    return Loaded("stack-export", reader.estate, reader.count)


def read_preview(
    doc: Mapping[str, Any],
    source: str,
    catalog: Catalog,
    stack_config: Mapping[str, Any] | None = None,
    inspect: Inspectors | None = None,
    security: bool = False,
) -> Loaded:
    """Read already-decoded `pulumi preview --json` output."""
    steps = doc.get("steps")
    if type(steps) is not list:
        raise InputError(source, "preview JSON 'steps' must be a list")
    check_preview_diagnostics(doc, source)
    reader = PreviewReader(source, Estate(catalog, security=security, inspect=inspect))
    for s in steps:
        reader.add(s)
    return reader.loaded(stack_config)


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
    return Loaded("design", Estate.of_design(catalog, placements), len(placements), lines=lines)


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
        if opentofu.is_plan(doc):
            return opentofu.KIND
        state = opentofu.state_kind(doc)
        if state is not None:
            return state
        keys = ", ".join(sorted(str(k) for k in list(doc)[:5])) or "none"
        raise InputError(
            source,
            f"unrecognised format (top-level keys: {keys}); expected a design file (placements), "
            "a `pulumi stack export` (deployment), `pulumi preview --json` output (steps), `tofu show -json` of a "
            "saved plan (planned_values) or of a state (values), or a state file (terraform.tfstate)",
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
    security: bool = False,
) -> Loaded:
    """The file (or stdin: ``-``) read, detected by its content and placed; ``sha256`` is the digest of its bytes.
    ``security``: the estate checks the security defaults too (what ``audit`` judges; ``drill`` does not)."""
    source = source or ("<stdin>" if path == "-" else path)
    data = read_bytes(path, source)
    if not data or data.isspace():  # not data.strip(): a copy of the whole file
        raise InputError(source, "empty file")
    digest = hashlib.sha256(data).hexdigest()  # the report names what it judged (0.07 s per 100 MB here)
    box = [data]
    del data  # the reader holds the file once (see _load)
    return replace(_load(path, box, source, catalog, stack_config, inspect, security), sha256=digest)


def _load(path: str, box: list[bytes], source: str, catalog: Catalog, stack_config, inspect, security: bool) -> Loaded:
    data = box[0]
    if not _looks_like_json(data):
        text = decode_text(data, source)
        doc = _yaml(text, source)
        kind = detect(doc, source)
        if kind == "stack-export":
            return read_stack_export(doc, source, catalog, inspect, security)
        if kind == "preview":
            return read_preview(doc, source, catalog, stack_config, inspect, security)
        if kind in _TOFU:
            return _tofu(doc, kind, source, catalog, inspect, security)
        return _design(doc, source, catalog, text)
    export = ExportReader(source, Estate(catalog, security=security, inspect=inspect))
    preview = PreviewReader(source, Estate(catalog, security=security, inspect=inspect))
    tofu = opentofu.Streams(source, catalog, inspect, security)
    del (
        data
    )  # the reader holds the file once (in ``box``): compacted, the original is read again only to locate an error
    reread = None if path == "-" else (lambda: read_bytes(path, source))
    streams = {("deployment", "resources"): export.add, ("steps",): preview.add, **tofu.paths()}
    doc = _stream(box, source, streams, reread)
    kind = detect(doc, source)
    if kind == "stack-export":
        if type(doc["deployment"]) is not dict:
            raise InputError(source, "stack export has no 'deployment' object")
        export.finish_export(doc["deployment"])
        return Loaded("stack-export", export.estate, export.count)
    if kind == "preview":
        check_preview_diagnostics(doc, source)
        return preview.loaded(stack_config)
    if kind in _TOFU:
        estate, count = tofu.finish(doc, kind)
        return Loaded(kind, estate, count)
    return _design(doc, source, catalog)


_TOFU = (opentofu.KIND, opentofu.STATE, opentofu.TFSTATE)


def _tofu(doc: Mapping[str, Any], kind: str, source: str, catalog: Catalog, inspect, security: bool) -> Loaded:
    if kind == opentofu.KIND:
        estate, count = opentofu.read_plan(doc, source, catalog, inspect, security)
    else:
        estate, count = opentofu.read_state(doc, kind, source, catalog, inspect, security)
    return Loaded(kind, estate, count)
