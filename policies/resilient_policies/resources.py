"""From the policy SDK's resources to :class:`resilient_stack.core.resources.ResourceView`.

The policy SDK hands a policy its properties wrapped in proxies that RAISE ``UnknownValueError`` when a
value unknown at preview is read; the servicer catches that and reports the policy as ADVISORY ("can't
run policy ... during preview"), which silently turns a mandatory check into a warning. So this module
never reads a value through the proxy: it copies the proxy's underlying data (``proxy["__target"]``, the
same path the SDK's own serializer takes) into plain dicts and lists, where an unknown stays the
engine's unknown marker and a secret (when the SDK marks one) becomes the stack-export secret marker.
:mod:`resilient_stack.core.resources` then turns both into an ``unknown-placement`` problem, exactly as the
auditor does with a stack export or a preview.

Preview subtlety: a stack policy sees a resource's OUTPUTS, and the OpenStack provider computes an
instance's ``region`` output from the provider's region, so it is unknown at preview when the program
did not set it. An unknown ``region`` that depends on no other resource (no property dependency) is
therefore treated as unset -- the provider's region applies, as in the program's inputs -- while an
unknown ``region`` taken from another resource's output stays unknown and fails closed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import proxy as _proxy
from pulumi_policy import secret as _secret
from pulumi_policy.proxy import UnknownValueError
from pulumi_policy.secret import Secret

from resilient_stack.core.kinds import OPENSTACK_PROVIDER
from resilient_stack.core.resources import ResourceView
from resilient_stack.core.vocabulary import SECRET_SIG, UNKNOWN

# The value of a secret's signature key in the engine's wire format (the stack-export marker).
SECRET_MARKER = {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270"}

_UNKNOWNS = frozenset(
    {
        _proxy.UNKNOWN_BOOLEAN_VALUE,
        _proxy.UNKNOWN_NUMBER_VALUE,
        _proxy.UNKNOWN_STRING_VALUE,
        _proxy.UNKNOWN_ARRAY_VALUE,
        _proxy.UNKNOWN_ASSET_VALUE,
        _proxy.UNKNOWN_ARCHIVE_VALUE,
        _proxy.UNKNOWN_OBJECT_VALUE,
    }
)
_PROXY_TYPES = tuple(
    t
    for t in (
        getattr(_proxy, "_DictProxy", None),
        getattr(_proxy, "_ListProxy", None),
        getattr(_secret, "_DictSecretsProxy", None),
        getattr(_secret, "_ListSecretsProxy", None),
    )
    if t is not None
)
_MAX_DEPTH = 64


def plain(value: Any, _depth: int = 0) -> Any:
    """A plain copy of a (proxied) property value; never raises, never reads through the unknown check."""
    t = type(value)
    if t is str:
        return UNKNOWN if value in _UNKNOWNS else value
    if value is None or t is bool or t is int or t is float:
        return value
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWNS else str(value)
    if isinstance(value, (bool, int, float)):
        return value
    if _depth > _MAX_DEPTH:
        return UNKNOWN
    if isinstance(value, Secret):
        return dict(SECRET_MARKER)  # the value itself is never kept
    if isinstance(value, _PROXY_TYPES):
        try:
            value = value["__target"]
        except Exception:  # noqa: BLE001 - an SDK that changed its proxies: fall back to safe iteration
            pass
    # the proxies' targets are plain dicts and lists: copy them without the ABC checks below
    if type(value) is dict:
        return {str(k): plain(v, _depth + 1) for k, v in value.items()}
    if type(value) is list:
        return [plain(v, _depth + 1) for v in value]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        try:
            keys = list(value.keys())
        except Exception:  # noqa: BLE001
            return UNKNOWN
        for k in keys:
            try:
                v = value[k]
            except UnknownValueError:
                v = UNKNOWN
            except Exception:  # noqa: BLE001
                continue
            out[str(k)] = plain(v, _depth + 1)
        return out
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        items = []
        try:
            n = len(value)
        except Exception:  # noqa: BLE001
            return UNKNOWN
        for i in range(n):
            try:
                v = value[i]
            except UnknownValueError:
                v = UNKNOWN
            except Exception:  # noqa: BLE001
                continue
            items.append(plain(v, _depth + 1))
        return items
    # assets, archives and anything else: their presence matters, their content does not
    return {"__kind__": type(value).__name__}


def provider_props(provider: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(the provider's properties, None) for an OpenStack provider, else (None, why placement cannot use it)."""
    if provider is None:
        return None, "the resource records no provider"
    ptype = getattr(provider, "resource_type", None)
    if ptype != OPENSTACK_PROVIDER:
        return (
            None,
            f"its provider {getattr(provider, 'urn', '?')} is a {ptype} provider, which has no OpenStack region",
        )
    props = plain(getattr(provider, "props", None))
    return (props if isinstance(props, dict) else {}), None


def _provider_ref(provider: Any) -> str | None:
    urn = getattr(provider, "urn", None)
    return f"{urn}::" if isinstance(urn, str) and urn else None


def stack_view(resource: Any) -> ResourceView:
    """A stack policy's PolicyResource (outputs + provider) as the auditor's ResourceView."""
    props = plain(getattr(resource, "props", None))
    if not isinstance(props, dict):
        props = {}
    deps = getattr(resource, "property_dependencies", None) or {}
    if props.get("region") == UNKNOWN and "region" not in deps:
        del props["region"]  # computed by the provider from its own region: see the module docstring
    provider = getattr(resource, "provider", None)
    return ResourceView(
        urn=str(getattr(resource, "urn", "") or ""),
        type=str(getattr(resource, "resource_type", "") or ""),
        inputs=props,
        outputs=None,
        provider_ref=_provider_ref(provider),
        custom=provider is not None,  # the engine gives every custom resource its (default) provider
        deps={
            k: [str(getattr(d, "urn", d)) for d in v]
            for k, v in deps.items()
            if isinstance(k, str) and isinstance(v, (list, tuple))
        }
        if isinstance(deps, dict)
        else None,
    )


def resource_view(args: Any) -> ResourceView:
    """A resource policy's ResourceValidationArgs (inputs + provider) as a ResourceView."""
    props = plain(getattr(args, "props", None))
    provider = getattr(args, "provider", None)
    return ResourceView(
        urn=str(getattr(args, "urn", "") or ""),
        type=str(getattr(args, "resource_type", "") or ""),
        inputs=props if isinstance(props, dict) else {},
        outputs=None,
        provider_ref=_provider_ref(provider),
        custom=provider is not None,
    )


_NONCE = secrets.token_hex(16)  # tags that no property value can imitate


def _raw(value: Any) -> Any:
    """``json.dumps`` default of :func:`fingerprint`: a proxy's own data; secrets and other objects tagged."""
    if isinstance(value, _PROXY_TYPES):
        try:
            return value["__target"]
        except Exception:  # noqa: BLE001 - an SDK that changed its proxies: the copy path handles it
            raise TypeError("unreadable proxy") from None
    if isinstance(value, Secret):
        return {"secret:" + _NONCE: True}  # every secret reads the same: its value is never used
    return {"object:" + _NONCE: type(value).__name__}


def fingerprint(key: str, resources: Sequence[Any]) -> str | None:
    """A digest of everything :func:`stack_view` and :func:`provider_props` read of ``resources``.

    Computed by the C JSON encoder straight from the proxies' data, without the copies ``plain`` makes:
    the stack policies each get fresh resource objects, and this is what lets them share one
    evaluation. None when the data cannot be serialised (the caller then evaluates without caching).
    """
    rows = []
    for r in resources:
        provider = getattr(r, "provider", None)
        deps = getattr(r, "property_dependencies", None) or {}
        rows.append(
            [
                str(getattr(r, "urn", "") or ""),
                str(getattr(r, "resource_type", "") or ""),
                provider is not None,
                getattr(r, "props", None),
                "region" in deps,
                getattr(provider, "urn", None),
                getattr(provider, "resource_type", None),
                getattr(provider, "props", None),
            ]
        )
    try:
        text = json.dumps([key, rows], sort_keys=True, default=_raw)
    except (TypeError, ValueError, RecursionError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()
