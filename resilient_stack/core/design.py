"""The design file: roles, replicas and placements, written before anything is deployed.

Schema (YAML or JSON)::

    schema: resilient-stack/design/v1     # optional
    name: shop-production
    placements:                           # where replicas run
      - name: gra                         # unique label
        cloud: ovh                        # clouds.yaml cloud name, or
        auth_url: https://auth.cloud.ovh.net/v3   # ... the OpenStack auth URL (either may be omitted
        region: GRA11                     #     when the region name is unique in the catalog)
        availability_zone: null           # pin an AZ in multi-AZ regions (EU-WEST-PAR, ...)
        replicas: {web: 2, database: 1, object-storage: 1}
        quorum: [database]                # roles whose replicas here are voting members
        exempt: null                      # reason string: findings naming only exempt replicas are waived
    backups:
      - {protects: database, cloud: ovh-backups, region: DE1}   # a site and a project with no database member
    quorum_roles: [database]              # roles whose every replica is a voting member

The components' stack configuration produces the same model, so one design is checked the same way
before ``pulumi up`` and by the auditor.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.placement import BACKUP_ROLE, Placement, place
from resilient_stack.core.vocabulary import DESIGN_NAME, ROLE_NAME, ROLE_NAME_RE
from resilient_stack.io.errors import InputError, problems_text

NAME_RE = DESIGN_NAME
MAX_PLACEMENTS = 1000  # entries of `placements` (and of `backups`)
MAX_REPLICAS = 10_000  # replicas and backups a design expands to: the rules look at each one


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Where(_Frozen):
    """Where something runs: a region of the catalog, identified by its cloud or auth URL."""

    # names are kept as written: the catalog compares them as the clouds do (ASCII only, trimmed of ASCII
    # whitespace), so "WAW1\u00a0" is an unknown placement on every path instead of WAW1 here only
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)

    cloud: str | None = Field(
        default=None,
        min_length=1,
        description="A clouds.yaml cloud name the catalog knows (`ovh`, `infomaniak`, ...). It also names the "
        "placement's project (`backup-shares-project`): without it, the project is unknown.",
    )
    auth_url: str | None = Field(
        default=None,
        min_length=1,
        description="The OpenStack auth URL; its host identifies the provider. Either `cloud` or `auth_url` may "
        "be omitted when the region name is unique in the catalog.",
    )
    region: str = Field(
        min_length=1,
        max_length=128,
        description="Region name (`GRA11`), matched as the clouds match it (ASCII).",
    )
    availability_zone: str | None = Field(
        default=None,
        min_length=1,
        description="Pin an availability zone, in multi-AZ regions (EU-WEST-PAR): each AZ counts as a building.",
    )


class DesignPlacement(Where):
    """One entry of ``placements``: replicas of some roles in one region."""

    name: str = Field(pattern=NAME_RE, description="Label of the placement, unique in the design.")
    replicas: dict[str, int] = Field(
        min_length=1,
        description="Replicas per role here (`{web: 2, database: 1}`): role names are lower-case letters, digits "
        "and dashes, counts 0 to 1000; `backup` is not a role here (see `backups`).",
    )
    quorum: tuple[str, ...] = Field(
        default=(),
        description="Roles whose replicas here are voting members (`site-majority`).",
    )
    exempt: str | None = Field(
        default=None,
        min_length=1,
        description="An exemption reason: findings naming only exempt replicas are waived and listed with it.",
    )

    @field_validator("replicas")
    @classmethod
    def _roles(cls, v: dict[str, int]) -> dict[str, int]:
        for role, count in v.items():
            if not ROLE_NAME_RE.match(role):
                raise ValueError(f"role {role!r} must be lower-case letters, digits and dashes")
            if role == BACKUP_ROLE:
                raise ValueError("backups are listed under 'backups', not as replicas")
            if not 0 <= count <= 1000:
                raise ValueError(f"replicas of {role!r} must be between 0 and 1000")
        return v


class DesignBackup(Where):
    """One entry of ``backups``: where the backups of one role are kept."""

    protects: str = Field(
        pattern=ROLE_NAME, description="The role whose data these backups hold; a role some placement runs."
    )
    name: str | None = Field(default=None, pattern=NAME_RE, description="Label, unique among placements and backups.")
    exempt: str | None = Field(default=None, min_length=1, description="An exemption reason for this backup.")


class Design(_Frozen):
    """A design file (``resilient-stack audit DESIGN.yaml``): roles, replicas and placements, written before
    anything is deployed. A stack's configuration becomes the same model."""

    schema_: Literal["resilient-stack/design/v1"] = Field(
        default="resilient-stack/design/v1",
        alias="schema",
        description="The schema identifier.",
    )
    name: str = Field(pattern=NAME_RE, description="Name of the design, shown in reports.")
    placements: tuple[DesignPlacement, ...] = Field(min_length=1, description="Where the replicas run.")
    backups: tuple[DesignBackup, ...] = Field(
        default=(),
        description="Backups, each on a site that should hold no replica of the role it protects.",
    )
    quorum_roles: tuple[str, ...] = Field(
        default=(),
        description="Roles whose every replica is a voting member (`site-majority`).",
    )

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, raw: Any) -> Any:
        # before any entry is validated: a document of a million placements is refused at once
        if isinstance(raw, dict):
            for key in ("placements", "backups"):
                entries = raw.get(key)
                if isinstance(entries, (list, tuple)) and len(entries) > MAX_PLACEMENTS:
                    raise ValueError(f"{len(entries)} {key}, more than the cap of {MAX_PLACEMENTS}")
        return raw

    @model_validator(mode="after")
    def _replica_cap(self) -> "Design":
        total = sum(n for p in self.placements for n in p.replicas.values()) + len(self.backups)
        if total > MAX_REPLICAS:
            raise ValueError(f"the design expands to {total} replicas and backups, more than the cap of {MAX_REPLICAS}")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> "Design":
        names = [p.name for p in self.placements] + [b.name for b in self.backups if b.name]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate placement names: {', '.join(dupes)}")
        roles = {r for p in self.placements for r in p.replicas}
        for b in self.backups:
            if b.protects not in roles:
                raise ValueError(f"backup protects role {b.protects!r}, which no placement runs")
        return self

    def placements_for(self, catalog: Catalog) -> list[Placement]:
        """One Placement per replica and per backup; a replica votes when its role is in the placement's
        ``quorum`` or in the design's ``quorum_roles``."""
        out: list[Placement] = []
        voting_roles = set(self.quorum_roles)
        for p in self.placements:
            for role, count in p.replicas.items():
                for i in range(count):
                    out.append(
                        place(
                            catalog,
                            resource=f"{p.name}/{role}/{i + 1}",
                            role=role,
                            region=p.region,
                            auth_url=p.auth_url,
                            cloud=p.cloud,
                            availability_zone=p.availability_zone,
                            quorum=role in p.quorum or role in voting_roles,
                            exempt=p.exempt,
                        )
                    )
        for i, b in enumerate(self.backups):
            out.append(
                place(
                    catalog,
                    resource=f"{b.name or f'backup-{i + 1}'}/backup/{b.protects}",
                    role=BACKUP_ROLE,
                    region=b.region,
                    auth_url=b.auth_url,
                    cloud=b.cloud,
                    availability_zone=b.availability_zone,
                    protects=b.protects,
                    exempt=b.exempt,
                )
            )
        return out


def validation_message(exc: ValidationError) -> str:
    """Every problem of the design, on one line (:func:`resilient_stack.io.errors.problems_text`)."""
    return problems_text(exc.errors(), "design")


def parse_design(raw: Any, source: str) -> Design:
    try:
        return Design.model_validate(raw)
    except ValidationError as exc:
        raise InputError(source, validation_message(exc)) from None
