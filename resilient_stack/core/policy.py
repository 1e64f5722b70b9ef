"""Organisation policy settings (``--config FILE`` / policy-pack config), validated at the edge.

File (YAML or JSON)::

    profile: default            # default | strict (strict makes every rule mandatory)
    min_buildings: 2            # a role needs replicas in at least this many buildings
    min_sites: 2                # ... sites (campuses)
    min_providers: 2            # ... providers (single-provider is advisory unless strict)
    levels:                     # per-rule override: mandatory | advisory | disabled
      single-provider: mandatory
    quorum_roles: [database]    # roles whose every replica votes (besides resilient-stack:quorum=true)
    catalog:                    # extra catalog entries, same schema as --catalog files
      providers: [...]
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from resilient_stack.core.catalog import Catalog, load_catalog
from resilient_stack.core.catalog_schema import CatalogFile, plain
from resilient_stack.core.rules import RULE_IDS, RuleConfig
from resilient_stack.io.errors import InputError
from resilient_stack.io.readfile import decode_text, read_bytes
from resilient_stack.io.safeyaml import load_yaml_text

Level = Literal["mandatory", "advisory", "disabled"]
_DEFAULT = RuleConfig()


class PolicyConfig(BaseModel):
    """Organisation settings: a ``resilient-stack audit --config`` file, the ``resilient-stack:policy`` key of a
    stack, and the settings of every policy of the pack (``--policy-pack-config``). Keys are snake_case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # defaults are RuleConfig's: an audit without --config decides exactly as with an empty one
    profile: Literal["default", "strict"] = Field(  # type: ignore[assignment]
        default=_DEFAULT.profile,
        description="`default` (`single-provider` advisory, every other rule mandatory) or `strict` (every rule "
        "mandatory). `--profile` on the command line, or a stack's `profile` key, wins.",
    )
    min_buildings: int = Field(
        default=_DEFAULT.min_buildings, ge=1, le=100,
        description="`single-building` fires when a role's replicas sit in fewer buildings than this.",
    )
    min_sites: int = Field(
        default=_DEFAULT.min_sites, ge=1, le=100,
        description="`single-site` fires when a role's replicas sit on fewer sites (campus or city) than this.",
    )
    min_providers: int = Field(
        default=_DEFAULT.min_providers, ge=1, le=100,
        description="`single-provider` fires when a role's replicas sit at fewer providers than this.",
    )
    levels: dict[Literal[RULE_IDS], Level] = Field(  # type: ignore[valid-type]
        default={},
        description="Per-rule level, overriding the profile: `mandatory` blocks, `advisory` is reported only, "
        "`disabled` is never reported.",
    )
    quorum_roles: tuple[str, ...] = Field(
        default=(),
        description="Roles whose every replica is a voting member, checked by `site-majority` (besides the "
        "replicas labelled `resilient-stack:quorum=true`).",
    )
    catalog: CatalogFile | None = Field(
        default=None,
        description="Extra catalog entries, the schema of `--catalog` files (e.g. your own clouds.yaml names, or a "
        "provider the built-in catalog does not know).",
    )

    def rule_config(self, profile: str | None = None) -> RuleConfig:
        return RuleConfig(
            profile=profile or self.profile,
            min_buildings=self.min_buildings,
            min_sites=self.min_sites,
            min_providers=self.min_providers,
            levels=dict(self.levels),
            quorum_roles=frozenset(self.quorum_roles),
        )


def parse_policy_config(raw: Any, source: str) -> PolicyConfig:
    if raw is None:
        return PolicyConfig()
    if not isinstance(raw, dict):
        raise InputError(source, "config must be a mapping")
    try:
        return PolicyConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise InputError(source, f"invalid config at {loc}: {err['msg']}") from None


def load_policy_config(path: str | None) -> PolicyConfig:
    if not path:
        return PolicyConfig()
    return parse_policy_config(load_yaml_text(decode_text(read_bytes(path), path), path), path)


def build_catalog(config: PolicyConfig, extra_paths: list[str] | tuple[str, ...] = ()) -> Catalog:
    """The built-in catalog + the config's inline entries + ``--catalog`` files (later wins)."""
    inline = [("config catalog", plain(config.catalog))] if config.catalog is not None else []
    return load_catalog(extra_paths, inline)
