"""What one input declares, read resource by resource, and its judgement: the one audit pipeline.

Every path that judges resources feeds an :class:`Estate` and calls :func:`audit`:

- ``resilient-stack audit`` and ``drill`` (:mod:`resilient_stack.audit.inputs`): the JSON readers hand each
  resource of a stack export or a preview to :meth:`Estate.read` as they stream it; a design file's placements
  go to :meth:`Estate.of_design`;
- the policy pack (``policies/resilient_policies/placement.py``): each resource the policy SDK gives a stack
  policy, viewed, to :meth:`Estate.add_view`, with its provider's properties;
- the components' own check (``resilient_stack.components.stack_config``): the design they are about to deploy,
  :meth:`Estate.of_design`.

The estate keeps only what the rules need (placements, the readers' findings, the security facts, what was and
was not evaluated), not the resources: big estates are mostly networks, subnets and rules, so what a resource's
type means (provider, possible replica, inspected) is decided once per type, and a provider's region, auth URL
and cloud are read once per provider. A resource that matters to no rule costs a dict lookup.

Lifecycle (what Pulumi means by a resource's state) is decided here too: a replica created with initialization
errors or whose status says it failed or is going away (:func:`failed`), an old copy awaiting deletion, a resource
an interrupted update was deleting (:meth:`Estate.deleting`) are counted as ``not_running`` and never vouch for
the spread. Pure: plain data in, plain data out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    ProviderFacts,
    ResourceView,
    kube_entry,
    place_all,
    provider_facts,
    provider_urn,
)
from resilient_stack.core.rules import Report, RuleConfig, evaluate, reader_findings, with_findings
from resilient_stack.core.rules.reader import resource_issues
from resilient_stack.core.scope import scope
from resilient_stack.core.security import SecurityCollector

__all__ = ["Estate", "Inspectors", "Settings", "audit", "failed", "NOT_RUNNING_LISTED"]

Inspectors = Mapping[str, Callable[[ResourceView], None]]  # resource type -> callback

NOT_RUNNING_LISTED = 100  # resources named in the coverage (all are counted by type)
_FAILED_STATUS = frozenset({"error", "failed", "deleting", "deleted", "error_deleting"})
_SKIP = None  # per-type decision: neither a replica, nor inspected, nor a provider
_DEFAULT_PROVIDER = "::pulumi:providers:openstack::default"


@dataclass(frozen=True, slots=True)
class Settings:
    """What a judgement depends on besides the input: the rules' levels and exemptions, and the catalog."""

    rules: RuleConfig
    catalog: Catalog


def failed(state: Mapping[str, Any], outputs: Mapping[str, Any] | None) -> str | None:
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


class Estate:
    """The resources of one input as the rules see them. Feed it (:meth:`read`, :meth:`add_view`, :meth:`provider`,
    :meth:`gone`, :meth:`deleting`), then :func:`audit` it (which calls :meth:`finish` once)."""

    def __init__(self, catalog: Catalog, *, security: bool = False, inspect: Inspectors | None = None) -> None:
        self.catalog = catalog
        # the security defaults, checked as the resources stream by (their facts kept, not the resources)
        self.security = SecurityCollector() if security else None
        self.inspect: dict[str, Callable[[ResourceView], None]] = dict(inspect or {})
        if self.security is not None:
            self.inspect.update(self.security.inspectors())
        self.providers: dict[str, tuple[Mapping[str, Any], Mapping[str, Any] | None]] = {}
        self.placements: list[Placement] = []
        self.issues: list[tuple] = []  # (rule, urn, role, message): the readers' findings
        self.types: dict[str, int] = {}  # type -> count of resources: the coverage of the input
        self.components: set[str] = set()  # types seen as component (non-custom) resources
        self.not_running: list[tuple[str, str, str]] = []  # (urn, type, why): in the input, but no replica
        self.kubes: dict[str, tuple[str | None, str | None, str]] = {}  # cluster id/URN -> (region, problem, URN)
        self._deferred: list[ResourceView] = []  # their provider may come later in the input
        self._given: list[tuple[ResourceView, ProviderFacts | Mapping[str, Any] | None, str | None]] = []
        self._pools: list[ResourceView] = []  # pulumi-ovh node pools: their cluster may come later
        self._kinds: dict[Any, Any] = {}
        self._facts: dict[str, ProviderFacts] = {}
        self._coverage: dict | None = None  # a design's, given whole
        self._finished = False

    @classmethod
    def of_design(cls, catalog: Catalog, placements: list[Placement]) -> "Estate":
        """A design file's placements (no resource to read: each placement is a replica the design declares)."""
        estate = cls(catalog)
        estate.placements = list(placements)
        estate._coverage = {
            "resources": len(placements),
            "evaluated": {"design replica": len(placements)},
            "not_evaluated": {"holds_no_replica": {}, "unknown_type": {}},
        }
        return estate

    # -- feeding --------------------------------------------------------------------------------------------

    def _classify(self, typ: str, custom: bool) -> tuple | None:
        """(openstack provider?, replica?, inspector, unclassified?) or _SKIP."""
        cls = classify(typ, custom)
        if cls == PROVIDER:
            return (True, False, None, False)
        inspector = self.inspect.get(typ)
        if cls == KNOWN and inspector is None:
            return _SKIP
        return (False, cls == REPLICA, inspector, cls == UNCLASSIFIED)

    def wants(self, typ: str) -> bool:
        """Whether anything of a custom resource of ``typ`` is read (a replica, inspected, unclassified, a
        provider); nothing is counted."""
        kinds = self._kinds
        kind = kinds.get(typ, kinds)
        if kind is kinds:
            kind = kinds[typ] = self._classify(typ, True)
        return kind is not _SKIP

    def skip(self, typ: str) -> bool:
        """For readers that view resources themselves (:meth:`add_view`): True when nothing of a custom resource of
        ``typ`` is read (neither a replica, nor inspected, nor unclassified, nor a provider); it is then counted
        here and needs no view."""
        kinds = self._kinds
        kind = kinds.get(typ, kinds)
        if kind is kinds:
            kind = kinds[typ] = self._classify(typ, True)
        if kind is _SKIP:
            self.types[typ] = self.types.get(typ, 0) + 1
            return True
        return False

    def read(self, urn: str, typ: str, state: Mapping[str, Any], ref: Any) -> None:
        """One resource of a JSON state (a stack export's resource, a preview's ``newState``); ``ref``: its
        provider reference. The hot path of big inputs: keep it a few lookups for the common case."""
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
        outputs = state.get("outputs")
        if type(outputs) is not dict:
            outputs = None
        if is_provider:
            self.providers[urn] = (inputs or {}, outputs)
            return
        deps = state.get("propertyDependencies")
        # positional: urn, type, inputs, outputs, provider_ref, custom, deps
        view = ResourceView(
            urn, typ, inputs, outputs, ref if type(ref) is str else None, custom, deps if type(deps) is dict else None
        )
        if inspector is not None:
            inspector(view)
        if unclassified or (replica and KINDS[typ].labels):
            found = resource_issues(view)
            if found:
                self.issues.extend(found)
        if not replica:
            return
        why = failed(state, outputs)
        if why:
            types[typ] -= 1
            self.not_running.append((urn, typ, why))
            return
        if KINDS[typ].vendor == OVH:
            self._ovh(view, state.get("id"))
            return
        purn = provider_urn(view.provider_ref)
        props = self.providers.get(purn) if purn else None
        if props is not None:
            facts = self._facts.get(purn) if purn else None
            if facts is None:
                facts = self._facts[purn] = provider_facts(*props)  # type: ignore[index]
            self.placements.extend(place_all(view, self.catalog, facts))
        else:
            self._deferred.append(view)

    def add_view(
        self, view: ResourceView, provider: ProviderFacts | Mapping[str, Any] | None = None, problem: str | None = None
    ) -> None:
        """One resource already viewed (the policy pack's), with its OpenStack provider's properties or facts, or
        why there are none (``problem``)."""
        typ = view.type
        self.types[typ] = self.types.get(typ, 0) + 1
        if not view.custom:
            self.components.add(typ)
        cls = classify(typ, view.custom)
        inspector = self.inspect.get(typ)
        if inspector is not None:
            inspector(view)
        if cls not in (REPLICA, UNCLASSIFIED):
            return
        if cls == UNCLASSIFIED or KINDS[typ].labels:
            self.issues.extend(resource_issues(view))
        if cls != REPLICA:
            return
        if KINDS[typ].vendor == OVH:
            ident = (view.inputs or {}).get("id")
            if ident is None and type(view.outputs) is dict:
                ident = view.outputs.get("id")  # a state's: what node pools name their cluster by
            self._ovh(view, ident)
            return
        self._given.append((view, provider, problem))

    def _ovh(self, view: ResourceView, ident: Any) -> None:
        if view.type == OVH_KUBE:
            region = kube_entry(view)
            if isinstance(ident, str) and ident:
                self.kubes[ident] = region
            self.kubes[view.urn] = region
        if view.type == OVH_NODE_POOL:
            self._pools.append(view)  # its cluster may come later in the input
            return
        self.placements.extend(place_all(view, self.catalog, None))

    def provider(self, urn: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any] | None = None) -> None:
        """An OpenStack provider the input does not list as a resource (a preview's default provider, given the
        stack's ``openstack:*`` config), unless the input had it."""
        self.providers.setdefault(urn, (inputs, outputs))

    def waiting_on_default_provider(self) -> list[str]:
        """The provider URNs of resources placed by a default OpenStack provider the input did not list."""
        return sorted(
            {
                purn
                for v in self._deferred
                if (purn := provider_urn(v.provider_ref)) and _DEFAULT_PROVIDER in purn and purn not in self.providers
            }
        )

    def gone(self, urn: str, typ: str, why: str) -> None:
        """A resource the input lists that does not run (an old copy awaiting deletion, ...): counted, not judged."""
        self.not_running.append((urn, typ, why))

    def deleting(self, urns: Mapping[str, str], why: str) -> None:
        """Resources (URN -> type) an interrupted update was deleting: none of them vouches for anything."""
        self.finish()
        gone = {p.resource.split("#", 1)[0] for p in self.placements} & urns.keys()
        if not gone:
            return
        self.placements = [p for p in self.placements if p.resource.split("#", 1)[0] not in gone]
        for urn in sorted(gone):
            typ = urns[urn]
            if self.types.get(typ):
                self.types[typ] -= 1
            self.not_running.append((urn, typ, why))

    def finish(self, missing_default: str | None = None) -> list[Placement]:
        """Place what waited for a provider or a cluster; ``missing_default``: what to say of a resource whose
        default provider is not in the input. Idempotent."""
        if self._finished:
            return self.placements
        self._finished = True
        for v in self._deferred:
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
        for view, given, problem in self._given:
            self.placements.extend(place_all(view, self.catalog, given, problem if given is None else None))
        for v in self._pools:
            self.placements.extend(place_all(v, self.catalog, None, None, self.kubes))
        self._deferred, self._given, self._pools = [], [], []
        return self.placements

    # -- what was read ------------------------------------------------------------------------------------

    def coverage(self) -> dict:
        """Every resource read, by type: evaluated (placed, inspected, a provider used for placement) or not."""
        if self._coverage is not None:
            return self._coverage
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
        return {
            "resources": sum(self.types.values()) + len(self.not_running),
            "evaluated": evaluated,
            "not_evaluated": {"holds_no_replica": known, "unknown_type": unknown, "not_running": gone},
            "not_running": [
                {"resource": urn, "type": typ, "why": why} for urn, typ, why in self.not_running[:NOT_RUNNING_LISTED]
            ],
        }


def audit(estate: Estate, settings: Settings) -> Report:
    """The one judgement of an input: every rule of the registry on the estate's placements (core.rules), the
    readers' findings, the security defaults when the estate checked them, and what the verdict rests on (the
    coverage, the catalog's date, the weakest fact). The CLI, the pack and the components call this."""
    placements = estate.finish()
    extra = reader_findings(estate.issues, settings.rules)
    claims: tuple = ()
    if estate.security is not None:
        extra = estate.security.findings(settings.rules) + extra
        claims = tuple(estate.security.claims())
    report = with_findings(evaluate(placements, settings.rules, settings.catalog), extra, claims)
    coverage = estate.coverage()
    return replace(report, coverage=coverage, scope=scope(placements, settings.catalog, coverage))
