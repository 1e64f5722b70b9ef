"""OpenTofu and Terraform plans and states: ``tofu show -json PLANFILE`` (or ``terraform show -json``), ``tofu show
-json`` of a state and the raw state file (``terraform.tfstate``), judged by the same
pipeline as Pulumi's files (:mod:`resilient_stack.core.estate`), with the same rules, catalog and verdicts.

What is read of the plan (the JSON output format, ``format_version`` 1.x):

- ``planned_values``: every managed resource the plan leaves, modules included (``child_modules``), with the
  values known at plan time; a resource whose actions are only ``delete`` (or ``forget``) is not there, and is
  counted as not running;
- ``resource_changes``: which values are unknown until apply (``after_unknown``) and which are sensitive
  (``after_sensitive``);
- ``configuration``: each resource's provider configuration key and the expressions it sets, and each provider
  block's ``region``, ``auth_url``, ``cloud`` and project (``tenant_id``/``tenant_name``): a constant, or a root
  variable the plan gives (``variables``); any other expression cannot be resolved from the plan, and what it
  places is ``unknown-placement`` (fails closed), as is a provider configured from ``OS_*`` variables.

Resources are viewed as the Pulumi OpenStack provider (bridged from the same Terraform provider) names them: its
type tokens (``resilient_stack/core/data/opentofu_openstack_types.json``, from pulumi-openstack's own mapping) and
its camelCase property names, so each rule reads one shape. A value unknown until apply is unknown to the rules
when the configuration sets it (a ``remote_ip_prefix`` taken from another resource), and unset when it does not
(an instance's ``region``, which then comes from its provider), as in a Pulumi preview; a sensitive value is a
secret (never read, never printed). A value taken from another resource is traced to it (a security group rule's
group), like a preview's property dependencies. The OVH provider's Public Cloud types are viewed as pulumi-ovh
names them (``core/data/opentofu_ovh_types.json``); types of other providers are counted as unknown to the auditor.

States (``tofu show -json`` of one, and the raw state file, version 4) are read by :func:`read_state`: each
resource's values as a Pulumi state's outputs, placed by the region it records; see its docstring for what a state
cannot tell.

Big JSON files are read as they stream (:class:`Streams`): a state's resources one by one, a plan without its
prior state, drift and the before-values of its changes.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.estate import Estate, Inspectors
from resilient_stack.core.kinds import KINDS
from resilient_stack.core.resources import ProviderFacts, ResourceView
from resilient_stack.core.vocabulary import SECRET_SIG, UNKNOWN
from resilient_stack.io.errors import InputError
from resilient_stack.io.jsonstream import is_not_array

__all__ = ["KIND", "STATE", "TFSTATE", "is_plan", "pulumi_type", "read_plan", "read_state", "state_kind"]

KIND = "opentofu-plan"
STATE = "opentofu-state"
TFSTATE = "opentofu-tfstate"
STATE_PROJECT = (
    "an OpenTofu state does not record which project its provider configuration authenticates to (audit a saved "
    "plan of the same configuration: it has the provider blocks)"
)
_SECRET = {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "sensitive": "a sensitive value of the plan"}
_GONE = frozenset({"delete", "forget"})
_STATE_KEYS = frozenset({"format_version", "terraform_version", "values", "checks"})
_PROVIDER_KEYS = {
    "region": "region",
    "auth_url": "authUrl",
    "cloud": "cloud",
    "tenant_id": "tenantId",
    "tenant_name": "tenantName",
    "project_domain_name": "projectDomainName",
}
_PLACING = ("region", "auth_url", "cloud")  # unresolved, these make placement impossible
_MODULE = re.compile(r"module\.([A-Za-z0-9_-]+)(?:\[[^\]]*\])?\.")
_INDEX = re.compile(r"\[[^\]]*\]$")
_CAMEL = re.compile(r"_([a-z0-9])")


@lru_cache(maxsize=2)
def _types(name: str = "opentofu_openstack_types.json") -> dict[str, Any]:
    text = resources.files("resilient_stack.core").joinpath(f"data/{name}").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _pascal(words: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in words.split("_") if w)


@lru_cache(maxsize=512)
def pulumi_type(tf_type: str) -> str:
    """The Pulumi type token of a Terraform resource type: pulumi-openstack's explicit token, else its inferred one
    (the module from the name's second word, the rest in PascalCase); pulumi-ovh's token of the OVH provider's
    types the auditor places (``core/data/opentofu_ovh_types.json``); ``terraform:TYPE`` for the others."""
    if tf_type.startswith("ovh_"):
        ovh = _types("opentofu_ovh_types.json")["resources"].get(tf_type)
        return str(ovh) if ovh else f"terraform:{tf_type}"
    table = _types()
    token = table["resources"].get(tf_type)
    if token:
        return str(token)
    if not tf_type.startswith("openstack_"):
        return f"terraform:{tf_type}"
    head, _, rest = tf_type[len("openstack_") :].partition("_")
    module = table["modules"].get(head)
    if module is None or not rest:
        module, rest = "index", tf_type[len("openstack_") :]
    name = _pascal(rest)
    return f"openstack:{module.lower()}/{name[:1].lower()}{name[1:]}:{name}"


def _obj(value: Any) -> dict[str, Any]:
    """``value`` when it is an object, else an empty one (the plan's optional sections)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """``value`` when it is a list, else an empty one (what is not a list names nothing)."""
    return value if isinstance(value, list) else []


_CAMELS: dict[str, str] = {}


def _camel(key: str) -> str:
    """``key`` as Pulumi spells properties (``remote_ip_prefix`` -> ``remoteIpPrefix``); the few names a provider
    has are converted once."""
    got = _CAMELS.get(key)
    if got is None:
        got = _CAMEL.sub(lambda m: m.group(1).upper(), key)
        if len(_CAMELS) < 4096:  # bounded: keys of a hostile file are not kept
            _CAMELS[key] = got
    return got


def is_plan(doc: Mapping[str, Any]) -> bool:
    return "format_version" in doc and "planned_values" in doc


def state_kind(doc: Mapping[str, Any]) -> str | None:
    """``opentofu-state`` for ``tofu show -json`` of a state, ``opentofu-tfstate`` for a raw state file
    (``terraform.tfstate``), else ``None``."""
    if "format_version" in doc and set(doc) <= _STATE_KEYS:
        return STATE  # an empty state is only {"format_version": "1.0"}
    if "lineage" in doc and ("terraform_version" in doc or "encrypted_data" in doc):
        return TFSTATE
    return None


def _split(address: str) -> tuple[tuple[str, ...], str]:
    """(the module calls, the resource's ``type.name`` without its index) of a planned resource's address."""
    calls = []
    rest = address
    while True:
        m = _MODULE.match(rest)
        if not m:
            break
        calls.append(m.group(1))
        rest = rest[m.end() :]
    return tuple(calls), _INDEX.sub("", rest)


def _configured(module: Mapping[str, Any], calls: tuple[str, ...], out: dict) -> None:
    for r in _list(module.get("resources")):
        if isinstance(r, dict) and isinstance(r.get("address"), str):
            out[(calls, r["address"])] = r
    for name, call in _obj(module.get("module_calls")).items():
        inner = _obj(call).get("module")
        if isinstance(inner, dict):
            _configured(inner, calls + (str(name),), out)


def _planned(module: Any, where: str, source: str, out: list) -> None:
    if not isinstance(module, dict):
        raise InputError(source, f"{where} is not an object")
    for key in ("resources", "child_modules"):
        if not isinstance(module.get(key, []), list):
            raise InputError(source, f"{where}.{key} is not a list")
    out.extend(module.get("resources", []))
    for i, child in enumerate(module.get("child_modules", [])):
        _planned(child, f"{where}.child_modules[{i}]", source, out)


def _resolve(expr: Any, variables: Mapping[str, Any]) -> tuple[bool, Any]:
    """(resolved?, value) of a configuration expression: a constant, or one root variable the plan gives."""
    if not isinstance(expr, dict):
        return False, None
    if "constant_value" in expr:
        return True, expr["constant_value"]
    refs = _list(expr.get("references"))
    if refs and isinstance(refs[0], str) and refs[0].startswith("var."):
        var = variables.get(refs[0][4:])
        if isinstance(var, dict) and "value" in var:
            return True, var["value"]
    return False, None


class _Plan:
    def __init__(self, doc: Mapping[str, Any], source: str) -> None:
        self.source = source
        config = doc.get("configuration")
        if not isinstance(config, dict):
            raise InputError(source, "the plan has no 'configuration' object: cannot tell its resources' providers")
        variables = _obj(doc.get("variables"))
        self.providers: dict[str, tuple[dict[str, Any], str | None]] = {}
        for key, block in _obj(config.get("provider_config")).items():
            props: dict[str, Any] = {}
            unresolved = []
            for attr, expr in _obj(_obj(block).get("expressions")).items():
                if attr not in _PROVIDER_KEYS:
                    continue
                ok, value = _resolve(expr, variables)
                if ok:
                    props[_PROVIDER_KEYS[attr]] = value
                elif attr in _PLACING:
                    unresolved.append(attr)
            problem = (
                (
                    f"its provider configuration {key} takes {' and '.join(unresolved)} from an expression the plan "
                    "does not resolve (only constants and root variables are)"
                )
                if unresolved
                else None
            )
            self.providers[str(key)] = (props, problem)
        self.config: dict[tuple[tuple[str, ...], str], Mapping[str, Any]] = {}
        root = config.get("root_module")
        if isinstance(root, dict):
            _configured(root, (), self.config)
        self.changes: dict[str, Mapping[str, Any]] = {}
        for rc in _list(doc.get("resource_changes")):
            if isinstance(rc, dict) and isinstance(rc.get("address"), str) and isinstance(rc.get("change"), dict):
                self.changes[rc["address"]] = rc

    def view(self, r: Mapping[str, Any]) -> tuple[ResourceView, Mapping[str, Any] | None, str | None]:
        """The resource as the rules read it, its provider's properties, and why it cannot be placed."""
        address, tf_type = str(r["address"]), str(r["type"])
        calls, local = _split(address)
        conf = self.config.get((calls, local)) or {}
        expressions = _obj(conf.get("expressions"))
        change = _obj(_obj(self.changes.get(address)).get("change"))
        unknown = _obj(change.get("after_unknown"))
        sensitive = _obj(r.get("sensitive_values"))
        values = _obj(r.get("values"))
        inputs: dict[str, Any] = {}
        for key, value in values.items():
            mark = sensitive.get(key)
            if mark is True:
                value = dict(_SECRET)
            elif isinstance(mark, dict) and isinstance(value, dict):
                value = {k: (dict(_SECRET) if mark.get(k) is True else v) for k, v in value.items()}
            inputs[_camel(key)] = value
        for key, flag in unknown.items():
            if flag is True and key in expressions and _camel(key) not in inputs:
                inputs[_camel(key)] = UNKNOWN  # set by the configuration from what is known at apply only
        prefix = "".join(f"module.{c}." for c in calls)
        deps = {}
        for key, expr in expressions.items():
            refs = _list(_obj(expr).get("references"))
            named = sorted(
                {
                    prefix + ".".join(ref.split(".")[:2])
                    for ref in refs
                    if isinstance(ref, str)
                    and ref.split(".")[0] not in ("var", "local", "module", "count", "each", "path", "data")
                    and ref.count(".") >= 1
                }
            )
            if named:
                deps[_camel(key)] = named
        found = conf.get("provider_config_key")
        pkey = found if isinstance(found, str) else None
        props: dict[str, Any] | None = None
        problem: str | None
        if pkey is None:
            problem = "the plan's configuration does not say which provider configuration it uses"
        elif pkey not in self.providers:
            problem = f"its provider configuration {pkey} is not in the plan"
        else:
            props, problem = self.providers[pkey]
            props = None if problem else props
        view = ResourceView(address, pulumi_type(tf_type), inputs, None, pkey, True, deps or None)
        return view, props, problem


def read_plan(
    doc: Mapping[str, Any],
    source: str,
    catalog: Catalog,
    inspect: Inspectors | None = None,
    security: bool = False,
    estate: Estate | None = None,
) -> tuple[Estate, int]:
    """The plan read into an estate (judge it with :func:`resilient_stack.core.estate.audit`; ``estate``: one made
    already, which ``inspect`` and ``security`` then do not change), and how many resources it names."""
    if doc.get("errored") is True:
        raise InputError(
            source,
            "the plan errored: what it would have planned after the error is missing, so no "
            "verdict on it proves anything; fix the configuration and plan again",
        )
    planned_values = doc.get("planned_values")
    if not isinstance(planned_values, dict):
        raise InputError(source, "the plan's 'planned_values' is not an object")
    plan = _Plan(doc, source)
    if estate is None:
        estate = Estate(catalog, security=security, inspect=inspect)
    found: list = []
    _planned(planned_values.get("root_module", {}), "planned_values.root_module", source, found)
    count = 0
    seen = set()
    for i, r in enumerate(found):
        if not isinstance(r, dict) or not isinstance(r.get("address"), str) or not isinstance(r.get("type"), str):
            raise InputError(source, f"planned_values: resource {i} has no 'address' and 'type'")
        if r.get("mode") != "managed":
            continue  # data sources read, they create nothing
        if r["address"] in seen:
            raise InputError(source, f"planned_values: duplicate address {r['address']}")
        seen.add(r["address"])
        count += 1
        if estate.skip(pulumi_type(r["type"])):
            continue  # counted; nothing of it is read
        view, props, problem = plan.view(r)
        estate.add_view(view, props, problem)
    for address, rc in plan.changes.items():
        actions = {a for a in _list(_obj(rc.get("change")).get("actions")) if isinstance(a, str)}
        if rc.get("mode") == "managed" and actions and actions <= _GONE and address not in seen:
            count += 1
            estate.gone(address, pulumi_type(str(rc.get("type") or "")), "planned for deletion")
    return estate, count


# ---- states -----------------------------------------------------------------------------------------


def _sensitive_paths(paths: Any) -> dict[str, Any]:
    """A raw state's ``sensitive_attributes`` (paths of ``get_attr``/``index`` steps) as ``sensitive_values``: a
    top-level attribute whose path is sensitive (wholly, or one key of a map) is marked like in ``tofu show``."""
    marks: dict[str, Any] = {}
    for path in _list(paths):
        steps = _list(path)
        if not steps or not isinstance(steps[0], dict) or steps[0].get("type") != "get_attr":
            continue
        name = steps[0].get("value")
        if not isinstance(name, str):
            continue
        if len(steps) == 1:
            marks[name] = True
            continue
        key = _obj(steps[1]).get("value")
        if isinstance(marks.get(name), dict) and isinstance(key, str):
            marks[name][key] = True
        elif name not in marks and isinstance(key, str):
            marks[name] = {key: True}
        else:
            marks[name] = True  # a deeper path: the whole attribute is withheld
    return marks


def _state_view(address: str, tf_type: str, values: Any, sensitive: Any) -> ResourceView:
    """A state's resource as the rules read it: its values are what the cloud holds (a Pulumi state's outputs);
    each security group rule holds its group's id, so nothing needs the state's dependencies."""
    camels = _CAMELS
    values = _obj(values)
    try:
        outputs = {camels[key]: value for key, value in values.items()}  # the common case: names seen before
    except KeyError:
        outputs = {_camel(key): value for key, value in values.items()}
    for key, mark in _obj(sensitive).items():  # nested attributes are marked {} or [{}...]: only True hides
        if mark is True and key in values:
            outputs[_camel(key)] = dict(_SECRET)
        elif type(mark) is dict and True in mark.values() and isinstance(values.get(key), dict):
            outputs[_camel(key)] = {k: (dict(_SECRET) if mark.get(k) is True else v) for k, v in values[key].items()}
    return ResourceView(address, pulumi_type(tf_type), None, outputs, None, True, None)


class _StateReader:
    """Resources of a state into an estate: placed by the region each one records (the region its provider used
    at apply), the provider told by that region's name in the catalog (a state records no auth URL or cloud), the
    project unknown (:data:`STATE_PROJECT`)."""

    def __init__(self, estate: Estate, source: str) -> None:
        self.estate = estate
        self.source = source
        self.count = 0
        self.seen: set[str] = set()
        self.facts = ProviderFacts(None, None, None, None, None, None, None, STATE_PROJECT)

    def add(self, address: str, tf_type: str, values: Any, sensitive: Any, why_not: str | None) -> None:
        if address in self.seen:
            raise InputError(self.source, f"the state names {address} twice")
        self.seen.add(address)
        self.count += 1
        typ = pulumi_type(tf_type)
        if self.estate.skip(typ):
            return  # counted; nothing of it is read (a network, a subnet...)
        if why_not is not None and typ in KINDS:
            self.estate.gone(address, typ, why_not)  # a replica that will not be there: vouches for nothing
            return
        self.estate.add_view(_state_view(address, tf_type, values, sensitive), self.facts)


def _lifecycle(tainted: bool, deposed: Any) -> str | None:
    if isinstance(deposed, str) and deposed:
        return f"a deposed object ({deposed}): replaced, awaiting deletion"
    if tainted:
        return "tainted: the next apply destroys and re-creates it"
    return None


def _shown_resources(module: Any, where: str, source: str, reader: _StateReader) -> None:
    if not isinstance(module, dict):
        raise InputError(source, f"{where} is not an object")
    for key in ("resources", "child_modules"):
        if not isinstance(module.get(key, []), list):
            raise InputError(source, f"{where}.{key} is not a list")
    for i, r in enumerate(module.get("resources", [])):
        _shown_resource(r, f"{where}.resources[{i}]", source, reader)
    for i, child in enumerate(module.get("child_modules", [])):
        _shown_resources(child, f"{where}.child_modules[{i}]", source, reader)


def _shown_resource(r: Any, where: str, source: str, reader: _StateReader) -> None:
    if not isinstance(r, dict) or not isinstance(r.get("address"), str) or not isinstance(r.get("type"), str):
        raise InputError(source, f"{where} has no 'address' and 'type'")
    if r.get("mode") != "managed":
        return  # data sources read, they create nothing
    address = r["address"]
    deposed = r.get("deposed_key")
    if isinstance(deposed, str) and deposed:
        address = f"{address} (deposed {deposed})"
    why = _lifecycle(r.get("tainted") is True, deposed)
    reader.add(address, r["type"], r.get("values"), r.get("sensitive_values"), why)


def _raw_version(doc: Mapping[str, Any], source: str) -> None:
    version = doc.get("version")
    if version != 4:
        raise InputError(
            source, f"state file version {version!r} is not read (only version 4: OpenTofu, Terraform >= 0.12)"
        )


def _raw_resources(doc: Mapping[str, Any], source: str, reader: _StateReader) -> None:
    _raw_version(doc, source)
    resources = doc.get("resources", [])
    if not isinstance(resources, list):
        raise InputError(source, "the state's 'resources' is not a list")
    for i, r in enumerate(resources):
        _raw_resource(i, r, source, reader)


def _raw_resource(i: int, r: Any, source: str, reader: _StateReader) -> None:
    if not isinstance(r, dict) or not isinstance(r.get("type"), str) or not isinstance(r.get("name"), str):
        raise InputError(source, f"resources[{i}] has no 'type' and 'name'")
    if r.get("mode") != "managed":
        return
    module = r.get("module")
    base = (f"{module}." if isinstance(module, str) and module else "") + f"{r['type']}.{r['name']}"
    instances = r.get("instances", [])
    if not isinstance(instances, list):
        raise InputError(source, f"resources[{i}] ({base}): 'instances' is not a list")
    for j, inst in enumerate(instances):
        if not isinstance(inst, dict):
            raise InputError(source, f"resources[{i}] ({base}): instance {j} is not an object")
        if "attributes" not in inst and "attributes_flat" in inst:
            raise InputError(
                source, f"{base}: attributes in the flat form of state files before Terraform 0.12 are not read"
            )
        key = inst.get("index_key")
        address = base + ("" if key is None else f"[{json.dumps(key)}]")
        deposed = inst.get("deposed")
        if isinstance(deposed, str) and deposed:
            address = f"{address} (deposed {deposed})"
        why = _lifecycle(inst.get("status") == "tainted", deposed)
        sensitive = _sensitive_paths(inst.get("sensitive_attributes"))
        reader.add(address, r["type"], inst.get("attributes"), sensitive, why)


def _refuse_encrypted(doc: Mapping[str, Any], source: str) -> None:
    if "encrypted_data" in doc:
        raise InputError(
            source,
            "an encrypted OpenTofu state: its resources cannot be read; give `tofu show -json` of it (OpenTofu "
            "decrypts it with the configuration's key)",
        )


def read_state(
    doc: Mapping[str, Any],
    kind: str,
    source: str,
    catalog: Catalog,
    inspect: Inspectors | None = None,
    security: bool = False,
) -> tuple[Estate, int]:
    """A state (``tofu show -json`` of one: ``kind`` :data:`STATE`; a raw state file: :data:`TFSTATE`) read into
    an estate, and how many resource instances it names.

    A state has no configuration: each resource is placed by the region it records, its provider told by that
    region's name in the catalog (a name two providers use is unknown placement), and its project is unknown
    (:data:`STATE_PROJECT`). A tainted or deposed replica is not counted."""
    if kind == TFSTATE:
        _refuse_encrypted(doc, source)
    estate = Estate(catalog, security=security, inspect=inspect)
    reader = _StateReader(estate, source)
    if kind == STATE:
        values = doc.get("values")
        if values is not None:  # an empty state has none
            if not isinstance(values, dict):
                raise InputError(source, "the state's 'values' is not an object")
            _shown_resources(values.get("root_module", {}), "values.root_module", source, reader)
    else:
        _raw_resources(doc, source, reader)
    return estate, reader.count


# ---- big files, read as they stream -------------------------------------------------------------------


class Streams:
    """What the OpenTofu readers need of a big JSON file's arrays, taken element by element as
    :func:`resilient_stack.io.jsonstream.stream_object` decodes them (:meth:`paths`), so that the whole document is
    never held: a state's resources are judged as they come; a plan's planned resources are kept (their provider
    configuration comes later in the file) less the values of types nothing reads, its resource changes only as
    their actions and unknown values, its prior state and drift not at all. Which format the file is in is known
    only at the end (:meth:`finish`): a problem met on the way is kept and raised only if the file is of the
    format it concerns."""

    def __init__(self, source: str, catalog: Catalog, inspect: Inspectors | None, security: bool) -> None:
        self.source = source
        self.estate = Estate(catalog, security=security, inspect=inspect)
        self.reader = _StateReader(self.estate, source)
        self.problems: dict[str, InputError] = {}  # format -> the first problem met reading it
        self.index = {"raw": 0, "shown": 0, "module": 0}
        self.planned: list[Any] = []
        self.modules: list[Any] = []
        self.changes: list[Any] = []
        self.streamed: set[str] = set()

    def paths(self) -> dict[tuple[str, ...], Any]:
        def drop(_: Any) -> None:
            return None

        return {
            ("resources",): self._raw,
            ("values", "root_module", "resources"): self._shown,
            ("values", "root_module", "child_modules"): self._shown_module,
            ("planned_values", "root_module", "resources"): self._planned,
            ("planned_values", "root_module", "child_modules"): self._planned_module,
            ("resource_changes",): self._change,
            ("resource_drift",): drop,
            ("prior_state", "values", "root_module", "resources"): drop,
            ("prior_state", "values", "root_module", "child_modules"): drop,
        }

    def _guard(self, kind: str, read: Any) -> None:
        self.streamed.add(kind)
        if kind in self.problems:
            return
        try:
            read()
        except InputError as exc:
            self.problems[kind] = exc

    def _not_array(self, item: Any, kind: str, where: str) -> bool:
        if is_not_array(item):
            self.problems.setdefault(kind, InputError(self.source, f"{where} is not a list"))
            return True
        return False

    def _raw(self, item: Any) -> None:
        if self._not_array(item, TFSTATE, "the state's 'resources'"):
            return
        i = self._next("raw")
        self._guard(TFSTATE, lambda: _raw_resource(i, item, self.source, self.reader))

    def _next(self, what: str) -> int:
        i = self.index[what]
        self.index[what] = i + 1
        return i

    def _shown(self, item: Any) -> None:
        if not self._not_array(item, STATE, "values.root_module.resources"):
            where = f"values.root_module.resources[{self._next('shown')}]"
            self._guard(STATE, lambda: _shown_resource(item, where, self.source, self.reader))

    def _shown_module(self, item: Any) -> None:
        if not self._not_array(item, STATE, "values.root_module.child_modules"):
            where = f"values.root_module.child_modules[{self._next('module')}]"
            self._guard(STATE, lambda: _shown_resources(item, where, self.source, self.reader))

    def _slim(self, r: Any) -> Any:
        """A planned resource, without its values when nothing reads its type (it is only counted)."""
        if type(r) is dict and isinstance(r.get("type"), str) and self.estate.wants(pulumi_type(r["type"])) is False:
            return {k: r[k] for k in ("address", "type", "mode") if k in r}
        return r

    def _planned(self, item: Any) -> None:
        if not self._not_array(item, KIND, "planned_values.root_module.resources"):
            self.planned.append(self._slim(item))

    def _planned_module(self, item: Any) -> None:
        if self._not_array(item, KIND, "planned_values.root_module.child_modules"):
            return
        if type(item) is dict and type(item.get("resources")) is list:
            item["resources"] = [self._slim(r) for r in item["resources"]]
        self.modules.append(item)

    def _change(self, item: Any) -> None:
        if is_not_array(item):
            return  # read as none, as by read_plan
        if type(item) is dict and type(item.get("change")) is dict:
            change = item["change"]
            item = {**item, "change": {k: change[k] for k in ("actions", "after_unknown") if k in change}}
        self.changes.append(item)

    def finish(self, doc: dict[str, Any], kind: str) -> tuple[Estate, int]:
        """The estate of the file (``doc``: the document without the streamed arrays) once its format is known."""
        if kind in self.problems:
            raise self.problems[kind]
        if kind == KIND:
            root = _obj(doc.get("planned_values")).get("root_module")
            if isinstance(root, dict):
                if "resources" in root:
                    root["resources"] = self.planned
                if "child_modules" in root:
                    root["child_modules"] = self.modules
            if "resource_changes" in doc:
                doc["resource_changes"] = self.changes
            return read_plan(doc, self.source, self.estate.catalog, estate=self.estate)
        if kind == TFSTATE:
            _refuse_encrypted(doc, self.source)
            _raw_version(doc, self.source)
        elif kind == STATE:
            values = doc.get("values")
            if values is not None and not isinstance(values, dict):
                raise InputError(self.source, "the state's 'values' is not an object")
            root = _obj(values).get("root_module")
            if values is not None and root is not None and not isinstance(root, dict):
                raise InputError(self.source, "values.root_module is not an object")
        return self.estate, self.reader.count
