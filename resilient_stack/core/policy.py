"""Organisation policy settings (``--config FILE`` / policy-pack config), validated at the edge.

File (YAML or JSON)::

    profile: default            # default | strict (strict makes every rule mandatory)
    min_buildings: 2            # a role needs replicas in at least this many buildings
    min_sites: 2                # ... sites (campuses)
    min_providers: 2            # ... providers (single-provider is advisory unless strict)
    levels:                     # per-rule override: mandatory | advisory | disabled
      single-provider: mandatory
    quorum_roles: [database]    # roles whose every replica votes (besides resilient-stack:quorum=true)
    exemptions:                 # the only exemption reasons honoured (labels / design `exempt:`), until expiry
      - {reason: "throwaway lab", owner: platform-team, expires: 2027-03-31, rules: [single-site]}
    catalog:                    # extra catalog entries, same schema as --catalog files
      providers: [...]
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from resilient_stack.core.catalog import Catalog, load_catalog
from resilient_stack.core.catalog_schema import CatalogFile, plain
from resilient_stack.core.rules import RULE_IDS, Exemption, RuleConfig
from resilient_stack.io.errors import InputError, problems_text
from resilient_stack.io.readfile import decode_text, read_bytes
from resilient_stack.io.safeyaml import load_yaml_text

Level = Literal["mandatory", "advisory", "disabled"]
_DEFAULT = RuleConfig()


class ExemptionSpec(BaseModel):
    """One entry of ``exemptions``: a reason the organisation accepts, who owns it and until when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(
        min_length=1,
        max_length=500,
        description="The exact text of the `resilient-stack:exempt` label (or a design's `exempt:`) it allows.",
    )
    owner: str = Field(min_length=1, max_length=200, description="Who answers for it (a team, a person, a ticket).")
    expires: date = Field(
        description="Last day it is honoured (`YYYY-MM-DD`, UTC); after it, the findings it waived count again and "
        "the report says the exemption expired.",
    )
    rules: tuple[Literal[RULE_IDS], ...] = Field(  # type: ignore[valid-type]
        default=(),
        description="The rule ids it may waive; empty: every rule.",
    )


class PolicyConfig(BaseModel):
    """Organisation settings: a ``resilient-stack audit --config`` file, the ``resilient-stack:policy`` key of a
    stack, and the settings of every policy of the pack (``--policy-pack-config``). Keys are snake_case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # defaults are RuleConfig's: an audit without --config decides exactly as with an empty one
    profile: Literal["default", "strict"] = Field(  # type: ignore[assignment]
        default=_DEFAULT.profile,  # type: ignore[arg-type]
        description="`default` (`single-provider` advisory, every other rule mandatory) or `strict` (every rule "
        "mandatory). `--profile` on the command line, or a stack's `profile` key, wins.",
    )
    min_buildings: int = Field(
        default=_DEFAULT.min_buildings,
        ge=1,
        le=100,
        description="`single-building` fires when a role's replicas sit in fewer buildings than this.",
    )
    min_sites: int = Field(
        default=_DEFAULT.min_sites,
        ge=1,
        le=100,
        description="`single-site` fires when a role's replicas sit on fewer sites (campus or city) than this.",
    )
    min_providers: int = Field(
        default=_DEFAULT.min_providers,
        ge=1,
        le=100,
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
    exemptions: tuple[ExemptionSpec, ...] = Field(
        default=(),
        max_length=1000,
        description="The exemptions the organisation allows. A `resilient-stack:exempt` label (or a design's "
        "`exempt:`) waives findings only when its reason is listed here and not expired; every report lists the "
        "exemptions claimed and whether each is honoured.",
    )

    @field_validator("exemptions")
    @classmethod
    def _one_entry_per_reason(cls, v: tuple[ExemptionSpec, ...]) -> tuple[ExemptionSpec, ...]:
        reasons = [e.reason for e in v]
        dupes = sorted({r for r in reasons if reasons.count(r) > 1})
        if dupes:
            raise ValueError(f"the reason {dupes[0]!r} is listed more than once")
        return v

    def rule_config(self, profile: str | None = None) -> RuleConfig:
        return RuleConfig(
            profile=profile or self.profile,
            min_buildings=self.min_buildings,
            min_sites=self.min_sites,
            min_providers=self.min_providers,
            levels=dict(self.levels),
            quorum_roles=frozenset(self.quorum_roles),
            exemptions=tuple(Exemption(e.reason, e.owner, e.expires, frozenset(e.rules)) for e in self.exemptions),
        )


def parse_policy_config(raw: Any, source: str) -> PolicyConfig:
    if raw is None:
        return PolicyConfig()
    if not isinstance(raw, dict):
        raise InputError(source, "config must be a mapping")
    try:
        return PolicyConfig.model_validate(raw)
    except ValidationError as exc:
        raise InputError(source, problems_text(exc.errors(), "config")) from None


def load_policy_config(path: str | None) -> PolicyConfig:
    if not path:
        return PolicyConfig()
    return parse_policy_config(load_yaml_text(decode_text(read_bytes(path), path), path), path)


def build_catalog(config: PolicyConfig, extra_paths: list[str] | tuple[str, ...] = ()) -> Catalog:
    """The built-in catalog + the config's inline entries + ``--catalog`` files (later wins)."""
    inline = [("config catalog", plain(config.catalog))] if config.catalog is not None else []
    return load_catalog(extra_paths, inline)
