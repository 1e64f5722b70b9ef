"""Policy config: the settings of ``resilient-stack audit --config``, per policy, validated by the same model.

Every policy of the pack accepts the same properties (``--policy-pack-config FILE``, one object per
policy name), validated by :class:`resilient_stack.core.policy.PolicyConfig`, so a policy's settings and an
audit config file are the same thing::

    {
      "single-site":     {"min_sites": 3, "catalog": {"providers": [...]}},
      "single-provider": {"enforcementLevel": "mandatory"},
      "site-majority":   {"quorum_roles": ["database"]},
      "all": "mandatory"
    }

How the settings act in the pack:

- ``min_buildings`` / ``min_sites`` / ``min_providers`` / ``quorum_roles`` / ``catalog``: the rules are
  evaluated with the settings of the policy that reports (a policy reports only its own rule's findings);
- the level of a violation is Pulumi's ``enforcementLevel`` of the policy (defaults: the ``default``
  profile of :mod:`resilient_stack.core.rules`; ``"all": "mandatory"`` is the ``strict`` profile). ``profile``
  and ``levels`` inside a policy's settings can DISABLE its rule but cannot change the level Pulumi
  reports: the policy SDK gives a policy no say over its own level;
- Pulumi sends each policy only its own properties, so settings are not shared between policies.
  ``python policies/make_pack_config.py ORG.yaml`` turns one audit config file into a pack config with the
  same settings under every policy and the matching ``enforcementLevel`` for each: the pack then
  decides exactly as ``resilient-stack audit --config ORG.yaml`` does.

A config that the model rejects (e.g. a malformed catalog entry) stops the analysis with
:class:`PolicyConfigError` naming the policy and the setting: an unusable config never passes a stack.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pulumi_policy import EnforcementLevel, PolicyConfigSchema

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.policy import (
    PolicyConfig,
    build_catalog,
    load_policy_config,
    parse_policy_config,
)
from resilient_stack.core.rules import (
    LEVELS,
    PROFILES,
    RULE_IDS,
    RuleConfig,
    default_level,
)
from resilient_stack.io.errors import InputError, ResilientStackError

_DEFAULTS = PolicyConfig()
EXEMPTED_POLICY = "exempted-findings"  # the helper policy of .exemptions

# JSON schema of each property, as the Pulumi CLI validates it (no $refs: the CLI wraps these properties
# in its own top-level object schema). The catalog's inner schema is checked by the model at run time.
SCHEMA_PROPERTIES: dict[str, dict[str, Any]] = {
    "profile": {
        "type": "string",
        "enum": list(PROFILES),
        "default": _DEFAULTS.profile,
        "description": 'default, or strict (every rule mandatory: set "all": "mandatory" for Pulumi to block on each)',
    },
    "min_buildings": {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": _DEFAULTS.min_buildings,
        "description": "a role needs replicas in at least this many buildings (single-building)",
    },
    "min_sites": {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": _DEFAULTS.min_sites,
        "description": "a role needs replicas on at least this many sites (single-site)",
    },
    "min_providers": {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": _DEFAULTS.min_providers,
        "description": "a role needs replicas at at least this many providers (single-provider)",
    },
    "levels": {
        "type": "object",
        "properties": {rule: {"type": "string", "enum": list(LEVELS)} for rule in RULE_IDS},
        "additionalProperties": False,
        "description": "per-rule level (mandatory | advisory | disabled); in the pack only `disabled` acts, "
        "use enforcementLevel for the rest",
    },
    "quorum_roles": {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "description": "roles whose every replica votes (site-majority), besides resilient-stack:quorum=true labels",
    },
    "catalog": {
        "type": "object",
        "description": "extra catalog entries, same schema as `resilient-stack audit --catalog` files ({providers: [...]})",
    },
    "exemptions": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "reason": {"type": "string", "minLength": 1},
                "owner": {"type": "string", "minLength": 1},
                "expires": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                "rules": {"type": "array", "items": {"type": "string", "enum": list(RULE_IDS)}},
            },
            "required": ["reason", "owner", "expires"],
            "additionalProperties": False,
        },
        "description": "the only exemption reasons honoured (resilient-stack:exempt labels), each with its owner "
        "and last day; waived findings are reported by the advisory policy exempted-findings",
    },
}
CONFIG_SCHEMA = PolicyConfigSchema(properties=SCHEMA_PROPERTIES)


class PolicyConfigError(ResilientStackError, ValueError):
    """A policy config the settings model rejects: the analysis stops with this one-line message."""


@dataclass(frozen=True)
class Settings:
    config: PolicyConfig
    rules: RuleConfig
    catalog: Catalog
    key: str  # canonical JSON of the settings: the cache key of everything derived from them


_lock = threading.Lock()
_cache: dict[str, Settings] = {}
_CACHE_MAX = 32


def settings_from(raw: Mapping[str, Any] | None, policy: str) -> Settings:
    """The validated settings of one policy's config (``args.get_config()``)."""
    data = {str(k): v for k, v in (raw or {}).items() if k != "enforcementLevel"}
    try:
        key = json.dumps(data, sort_keys=True, default=str)
    except (TypeError, ValueError):
        key = repr(sorted(data.items(), key=lambda kv: kv[0]))
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    source = f"resilient-stack policy pack: config of policy '{policy}'"
    try:
        cfg = parse_policy_config(data, source)
        catalog = build_catalog(cfg)
    except InputError as exc:
        raise PolicyConfigError(str(exc)) from None
    settings = Settings(cfg, cfg.rule_config(), catalog, key)
    with _lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key] = settings
    return settings


def pulumi_level(level: str) -> EnforcementLevel:
    return EnforcementLevel(level)


def default_enforcement(rule: str) -> EnforcementLevel:
    """Pulumi's default level of the policy for ``rule``: the rule's level in the ``default`` profile."""
    return pulumi_level(default_level(rule))


def pack_config(cfg: PolicyConfig, profile: str | None = None) -> dict[str, Any]:
    """The ``--policy-pack-config`` document that makes the pack decide like ``audit --config``."""
    rules = cfg.rule_config(profile)
    props = cfg.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if profile:
        props["profile"] = profile
    out: dict[str, Any] = {rule: {"enforcementLevel": rules.level(rule), **props} for rule in RULE_IDS}
    out[EXEMPTED_POLICY] = dict(props)  # the helper reads the same settings (its level stays advisory)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make_pack_config.py",
        description="Turn a `resilient-stack audit --config` file into a `pulumi ... --policy-pack-config` "
        "file for the resilient-stack policy pack (same settings, same levels).",
    )
    parser.add_argument("config", nargs="?", help="organisation config (YAML/JSON); none: the defaults")
    parser.add_argument("--profile", choices=PROFILES, help="override the file's profile")
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    args = parser.parse_args(argv)
    try:
        cfg = load_policy_config(args.config)
        text = json.dumps(pack_config(cfg, args.profile), indent=2) + "\n"
        if args.output:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(text)
        else:
            sys.stdout.write(text)
    except InputError as exc:
        print(f"make_pack_config: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"make_pack_config: error: {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
