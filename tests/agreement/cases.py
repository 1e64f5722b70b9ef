"""One corpus of placements, and the findings every path must decide for it. Pure: no engine, no subprocess.

A :class:`Case` is a design (the schema of design files, ``resilient_stack.core.design``), the organisation
settings it is checked with (``--config``; ``profile`` as ``--profile``) and the EXPECTED findings, as
``(rule, level, role)`` triples (exempted findings separately). ``tests/agreement/test_one_answer.py`` runs each
case through every path that decides placements and asserts that each gives exactly these findings:

- the design file, with its own ``quorum_roles`` (``resilient-stack audit DESIGN``);
- the same placements with the quorum roles in the organisation settings (``audit DESIGN --config ORG``);
- the components' own check (``check_design``; for stack-shaped cases also ``validate_stack`` on the stack
  configuration and the whole program under the mock runner, whose export is then audited and analysed);
- a stack export holding one resource per replica, audited and analysed by the policy pack in-process (as the
  policy SDK drives it), with voting members labelled, and again with the quorum roles in the settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INFOMANIAK = "https://api.pub2.infomaniak.cloud/identity/v3"
OVH = "https://auth.cloud.ovh.net/v3"
STACK_ROLES = {"web", "database", "load-balancer"}  # the stack creates no object-storage replica

M, A = "mandatory", "advisory"
SHARED_PROJECT = ("backup-shares-project", A, "database")  # backups in the members' clouds.yaml entry (`ovh`)


def pl(
    name: str,
    region: str,
    *,
    cloud: str | None = "ovh",
    auth_url: str | None = None,
    az: str | None = None,
    web: int = 0,
    db: int = 0,
    storage: int = 0,
    lb: int = 0,
    quorum: tuple[str, ...] = (),
    exempt: str | None = None,
    **replicas: int,
) -> dict[str, Any]:
    """A design placement; ``storage``: object-storage containers (a foreign design's; the stack creates none)."""
    counts = {
        "web": web,
        "database": db,
        "object-storage": storage,
        "load-balancer": lb,
        **{k.replace("_", "-"): v for k, v in replicas.items()},
    }
    out: dict[str, Any] = {"name": name, "region": region, "replicas": {k: v for k, v in counts.items() if v}}
    if cloud is not None and auth_url is None:
        out["cloud"] = cloud
    if auth_url is not None:
        out["auth_url"] = auth_url
    if az is not None:
        out["availability_zone"] = az
    if quorum:
        out["quorum"] = list(quorum)
    if exempt is not None:
        out["exempt"] = exempt
    return out


def backup(
    region: str,
    *,
    protects: str = "database",
    cloud: str | None = "ovh",
    name: str = "backups",
    exempt: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "protects": protects, "region": region}
    if cloud is not None:
        out["cloud"] = cloud
    if exempt is not None:
        out["exempt"] = exempt
    return out


@dataclass(frozen=True)
class Case:
    name: str
    placements: list[dict]
    backups: list[dict]
    expected: list[tuple[str, str, str]]  # (rule, level, role) of the findings that are not exempted
    quorum_roles: tuple[str, ...] = ("database",)
    org: dict = field(default_factory=dict)  # organisation settings (--config), without quorum_roles
    profile: str | None = None
    exempted: list[tuple[str, str]] = field(default_factory=list)  # (rule, role) of exempted findings
    stack: bool = False  # expressible as a stack configuration (the components' program runs it)
    about: str = ""

    def design(self, *, quorum_in_design: bool = True) -> dict:
        doc: dict[str, Any] = {
            "schema": "resilient-stack/design/v1",
            "name": self.name,
            "placements": self.placements,
            "backups": self.backups,
        }
        if quorum_in_design and self.quorum_roles:
            doc["quorum_roles"] = list(self.quorum_roles)
        return doc

    def settings(self, *, quorum_in_settings: bool = False) -> dict:
        out = dict(self.org)
        if quorum_in_settings and self.quorum_roles:
            out["quorum_roles"] = list(self.quorum_roles)
        return out

    @property
    def quorum_by_role_only(self) -> bool:
        """No placement names its own voting roles: the design's quorum_roles say everything."""
        return not any(p.get("quorum") for p in self.placements)


def stack_config(case: Case) -> dict[str, Any]:
    """The ``resilient-stack:*`` values (bare keys) of a stack whose design is ``case``'s placements."""
    assert case.stack and set(case.quorum_roles) == {"database"}, case.name
    placements = []
    primary = False
    for i, p in enumerate(case.placements):
        r = p["replicas"]
        assert set(r) <= STACK_ROLES and r.get("database", 0) <= 1 and r.get("load-balancer", 0) <= 1, p
        role = "none"
        if r.get("database"):
            role = "replica" if primary else "primary"
            primary = True
        entry = {
            "name": p["name"],
            "region": p["region"],
            "webCount": r.get("web", 0),
            "flavor": "b3-8",
            "image": "Debian 12",
            "privateCidr": f"10.30.{i + 1}.0/24",
            "databaseRole": role,
        }
        for key, camel in (
            ("cloud", "cloud"),
            ("auth_url", "authUrl"),
            ("availability_zone", "availabilityZone"),
            ("exempt", "exempt"),
        ):
            if key in p:
                entry[camel] = p[key]
        if r.get("load-balancer"):
            entry["loadBalancer"] = True
            entry["floatingNetworkId"] = "0f8e3a1c-6a52-4f61-9d0e-3f2b8c9d1a77"
        placements.append(entry)
    (b,) = case.backups
    assert b["protects"] == "database"
    backups = {"name": b["name"], "region": b["region"], "s3Endpoint": "s3.example.net", "s3Region": "de"}
    for key, camel in (("cloud", "cloud"), ("exempt", "exempt")):
        if key in b:
            backups[camel] = b[key]
    out: dict[str, Any] = {"name": case.name[:20].rstrip("-"), "placements": placements, "backups": backups}
    if case.org:
        out["policy"] = dict(case.org)
    if case.profile:
        out["profile"] = case.profile
    return out


ALLOW_LAB = {"reason": "lab", "owner": "platform-team", "expires": "2999-12-31"}
SPREAD = [
    pl("gra", "GRA11", web=2, db=1),
    pl("waw", "WAW1", web=2, db=1),
    pl("ik", "dc4-a", cloud=None, auth_url=INFOMANIAK, web=1, db=1),
]


def corpus() -> list[Case]:
    roles2 = ("database", "web")  # the stack's replicated roles
    # two web placements on one campus, each with its own container, all exempt "lab" (the exemption cases)
    lab = [pl(n, r, web=1, storage=1, exempt="lab") for n, r in (("s5", "SBG5"), ("s7", "SBG7"))]
    roles3 = ("database", "object-storage", "web")  # a foreign design's, with its own containers
    return [
        Case(
            "production",
            SPREAD,
            [backup("DE1", cloud="ovh-backups")],
            [],
            stack=True,
            about="web and database over Gravelines, Warsaw and Infomaniak; backups in Limburg, in a project of "
            "their own",
        ),
        Case(
            "staging",
            [pl("gra", "GRA11", web=1, db=1), pl("waw", "WAW1", web=1, db=1), pl("uk", "UK1", db=1)],
            [backup("DE1")],
            [("single-provider", A, r) for r in roles2] + [SHARED_PROJECT],
            stack=True,
            about="one provider and one project: single-provider and backup-shares-project are advisory by default",
        ),
        Case(
            "staging-strict",
            [pl("gra", "GRA11", web=1, db=1), pl("waw", "WAW1", web=1, db=1), pl("uk", "UK1", db=1)],
            [backup("DE1")],
            [("single-provider", M, r) for r in roles2] + [("backup-shares-project", M, "database")],
            profile="strict",
            stack=True,
        ),
        Case(
            "backups-project-unknown",
            [
                pl("gra", "GRA11", auth_url=OVH, web=1, db=1),
                pl("waw", "WAW1", auth_url=OVH, web=1, db=1),
                pl("ik", "dc4-a", cloud=None, auth_url=INFOMANIAK, web=1, db=1),
            ],
            [backup("DE1", cloud="ovh-backups")],
            [SHARED_PROJECT],
            stack=True,
            about="members placed by their auth URL alone: their project is unknown, so the backups' separate "
            "project cannot be proven (fails closed, at the rule's level)",
        ),
        Case(
            "backups-project-disabled",
            [
                pl("gra", "GRA11", web=1, db=1),
                pl("waw", "WAW1", web=1, db=1),
                pl("ik", "dc4-a", cloud=None, auth_url=INFOMANIAK, web=1, db=1),
            ],
            [backup("DE1")],
            [],
            org={"levels": {"backup-shares-project": "disabled"}},
            stack=True,
        ),
        Case(
            "sbg2021",
            [pl("s5", "SBG5", web=1, db=1), pl("s7", "SBG7", web=1, db=1)],
            [backup("SBG5")],
            [("single-site", M, r) for r in roles2]
            + [("backup-colocated", M, "database"), ("site-majority", M, "database")]
            + [("single-provider", A, r) for r in roles2]
            + [SHARED_PROJECT],
            stack=True,
            about="the March 2021 replay: one campus holds everything",
        ),
        Case(
            "quorum-roles-only",
            [
                pl("gra", "GRA11", web=1),
                pl("waw", "WAW1", web=1),
                pl("s5", "SBG5", db=1),
                pl("s7", "SBG7", db=1),
                pl("g2", "GRA9", db=1),
            ],
            [backup("DE1")],
            [("site-majority", M, "database")] + [("single-provider", A, r) for r in roles2] + [SHARED_PROJECT],
            stack=True,
            about="issue 18: top-level quorum_roles and two of three voting members on one campus",
        ),
        Case(
            "stockholm-two-providers",
            [
                pl("sto", "Sto2", cloud="cleura", web=2, storage=1),
                pl("bin", "europe-se-1", cloud="binero", web=2, storage=1),
            ],
            [],
            [("single-site", M, "object-storage"), ("single-site", M, "web")],
            quorum_roles=(),
            about="two providers in one city are one physical site",
        ),
        Case(
            "nbsp-region",
            [pl("gra", "GRA11", web=1, db=1), pl("waw", "WAW1\u00a0", web=1, db=1), pl("uk", "UK1", db=1)],
            [backup("DE1")],
            [("unknown-placement", M, r) for r in roles2] + [SHARED_PROJECT],
            stack=True,
            about="a no-break space: no region of any cloud, on every path; while unknown-placement blocks, the "
            "diversity rules count an unplaced replica as a place of its own (no knock-on findings)",
        ),
        Case(
            "kelvin-region",
            [pl("gra", "GRA11", web=1, db=1), pl("uk", "U\u212a1", web=1, db=1), pl("waw", "WAW1", db=1)],
            [backup("DE1")],
            [("unknown-placement", M, r) for r in roles2] + [SHARED_PROJECT],
            stack=True,
            about="a Kelvin sign folds to K in Python, never at a cloud",
        ),
        Case(
            "typo-no-cascade",
            [pl("gra", "GRA1l", web=1, storage=1), pl("waw", "WAW1", web=1, storage=1)],
            [],
            [("unknown-placement", M, "object-storage"), ("unknown-placement", M, "web")],
            quorum_roles=(),
            about="a typo is one unknown-placement per replica, not knock-on single-site findings",
        ),
        Case(
            "multi-az-one-site",
            [
                pl("a", "EU-WEST-PAR", az="eu-west-par-a", web=1, db=1),
                pl("b", "EU-WEST-PAR", az="eu-west-par-b", web=1, db=1),
                pl("c", "EU-WEST-PAR", az="eu-west-par-c", db=1),
            ],
            [backup("DE1")],
            [("single-site", M, r) for r in roles2]
            + [("site-majority", M, "database")]
            + [("single-provider", A, r) for r in roles2]
            + [SHARED_PROJECT],
            stack=True,
            about="three availability zones are three buildings of one site",
        ),
        Case(
            "org-thresholds",
            SPREAD,
            [backup("DE1")],
            [("single-site", M, r) for r in roles2] + [("single-provider", M, r) for r in roles2] + [SHARED_PROJECT],
            org={"min_sites": 4, "min_providers": 3, "levels": {"single-provider": "mandatory"}},
            stack=True,
            about="thresholds and levels from the organisation settings",
        ),
        Case(
            "org-levels",
            [pl("s5", "SBG5", web=1, db=1), pl("s7", "SBG7", web=1, db=1)],
            [backup("SBG5")],
            [("single-site", A, r) for r in roles2] + [("site-majority", M, "database"), SHARED_PROJECT],
            org={"levels": {"single-site": "advisory", "backup-colocated": "disabled", "single-provider": "disabled"}},
            stack=True,
        ),
        Case(
            "backup-on-a-replica-site",
            SPREAD,
            [backup("WAW1")],
            [("backup-colocated", M, "database"), SHARED_PROJECT],
            stack=True,
        ),
        Case(
            "exempt-allowed",
            lab,
            [],
            [],
            quorum_roles=(),
            org={"exemptions": [ALLOW_LAB]},
            exempted=[
                ("single-site", "object-storage"),
                ("single-site", "web"),
                ("single-provider", "object-storage"),
                ("single-provider", "web"),
            ],
            about="findings naming only replicas whose exemption the organisation allows are waived and listed",
        ),
        Case(
            "exempt-not-allowed",
            lab,
            [],
            [
                ("single-site", M, "object-storage"),
                ("single-site", M, "web"),
                ("single-provider", A, "object-storage"),
                ("single-provider", A, "web"),
            ],
            quorum_roles=(),
            about="a label alone waives nothing (self-service exemptions)",
        ),
        Case(
            "exempt-expired",
            lab,
            [],
            [
                ("single-site", M, "object-storage"),
                ("single-site", M, "web"),
                ("single-provider", A, "object-storage"),
                ("single-provider", A, "web"),
            ],
            quorum_roles=(),
            org={"exemptions": [{**ALLOW_LAB, "expires": "2020-01-31"}]},
        ),
        Case(
            "exempt-scoped",
            lab,
            [],
            [("single-site", M, "object-storage"), ("single-site", M, "web")],
            quorum_roles=(),
            org={"exemptions": [{**ALLOW_LAB, "rules": ["single-provider"]}]},
            exempted=[("single-provider", "object-storage"), ("single-provider", "web")],
            about="an exemption limited to some rules waives only those",
        ),
        Case(
            "sbg2021-exempt",
            [pl("s5", "SBG5", web=1, db=1, exempt="replay"), pl("s7", "SBG7", web=1, db=1, exempt="replay")],
            [backup("SBG5", exempt="replay")],
            [],
            org={"exemptions": [{"reason": "replay", "owner": "drills", "expires": "2999-12-31"}]},
            exempted=[("single-site", r) for r in roles2]
            + [("backup-colocated", "database"), ("site-majority", "database")]
            + [("single-provider", r) for r in roles2]
            + [("backup-shares-project", "database")],
            stack=True,
            about="every member exempt, the organisation allows it: built, and every finding listed as exempted",
        ),
        Case(
            "majority-per-placement",
            [
                pl("gra", "GRA11", web=2, db=2, storage=1, quorum=("database",)),
                pl("waw", "WAW1", web=2, db=1, storage=1, quorum=("database",)),
            ],
            [backup("DE1")],
            [("site-majority", M, "database")] + [("single-provider", A, r) for r in roles3] + [SHARED_PROJECT],
            quorum_roles=(),
            about="voting members named per placement (no top-level quorum_roles)",
        ),
    ]
