"""A corpus of `pulumi stack export` documents with the verdict every checker must reach. Pure: no engine.

Each :class:`Case` is an export (``{"version": 3, "deployment": {...}}``), the options of both checkers
(profile or organisation config) and the EXPECTED verdict and set of blocking (mandatory) rule ids.
``tests/integration/engine/test_agreement.py`` runs `resilient-stack audit --format json` and `pulumi policy analyze
--json` on each and asserts both give exactly this; ``tests/policies`` can run the pack in-process on the
same documents (``tests.policies.support.run_in_process``).

Secrets: :data:`SECRETS_PROVIDER` is a real passphrase secrets-provider section and the ``CIPHERTEXT_*``
values real ciphertexts of it for :data:`PASSPHRASE` (made with the Pulumi CLI v3.274.1:
``PULUMI_CONFIG_PASSPHRASE=resilient-stack-corpus pulumi config set --secret k '"GRA11"'`` in a stack whose
``encryptionsalt`` is the salt below; a state secret is the encrypted JSON text of the value, the same
scheme). ``pulumi policy analyze --file`` decrypts them with that passphrase (the pack then sees the values
in clear) and redacts them to ``[secret]`` with any other; `resilient-stack audit` never decrypts.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tests import builders as b
from tests.builders import CONTAINER, INFOMANIAK_AUTH, INSTANCE, NETWORK, Export

ROOT = Path(__file__).resolve().parents[3]

SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270"
PASSPHRASE = "resilient-stack-corpus"
SECRETS_PROVIDER = {
    "type": "passphrase",
    "state": {"salt": "v1:AgBvpmRnTSk=:v1:OtDY/TNfdiIAItyC:ruIb72bsa/kX08L4UgPphltuaW6CpQ=="},
}
CIPHERTEXT = {
    "GRA11": "v1:3HLa8WeU4VvubQ7I:khWseJibZFnDz3DgdKvOAvW+RxYBCIU=",
    "WAW1": "v1:mrUkHzcm4Kfa/lw3:2rQOkdRZ/sxQooFcL0ssbjZl5dDrFw==",
    "hunter2hunter2": "v1:eGms3/E2hDog5Jn5:j6B2Di2rz4GQx5LCIHo3S0TsmSimKfWPV4yZ9gOmUAg=",
    # {"id": "0123abcd", "secret": "s3cr3t-s3cr3t"}
    "appcred": "v1:XSlkRKwSEkYIhfRq:0LSkeBYWRnXvsWKeKtEqAv8ESAG+4GYgtui4rFHT0rpXmogjhKAIeUgRFvv7362K9k08o7/xEQFMEw==",
}
PLAINTEXT = {
    "GRA11": "GRA11",
    "WAW1": "WAW1",
    "hunter2hunter2": "hunter2hunter2",
    "appcred": {"id": "0123abcd", "secret": "s3cr3t-s3cr3t"},
}

PLACEMENT_FAIL_2021 = frozenset({"single-site", "backup-colocated", "site-majority"})


def secret(name: str, *, show: bool = False) -> dict:
    """A state secret as `pulumi stack export` writes it (``show``: as ``--show-secrets`` writes it)."""
    if show:
        return {SECRET_SIG: SECRET_VALUE_SIG, "plaintext": json.dumps(PLAINTEXT[name])}
    return {SECRET_SIG: SECRET_VALUE_SIG, "ciphertext": CIPHERTEXT[name]}


@dataclass(frozen=True)
class Case:
    """One export and what both checkers must say about it."""

    name: str
    doc: dict
    verdict: str  # "pass" | "fail"
    mandatory: frozenset[str]  # the blocking rule ids (both tools)
    profile: str | None = None  # audit --profile X  /  make_pack_config.py --profile X
    org: dict | None = None  # audit --config ORG  /  make_pack_config.py ORG
    passphrase: str | None = None  # what `pulumi policy analyze` is given (None: the export has no secret)
    about: str = ""
    exempted: frozenset[str] = field(default_factory=frozenset)  # rules the audit lists as waived
    # why `pulumi policy analyze` cannot run this case on this machine ("" : it runs); the in-process pack still does
    no_engine: str = ""

    def __post_init__(self) -> None:
        assert self.verdict in ("pass", "fail") and (self.verdict == "fail") == bool(self.mandatory), self


# ---- helpers -----------------------------------------------------------------------------------------


def retarget(doc: dict, stack: str, project: str) -> dict:
    """The export with every URN moved to ``stack``/``project`` (the builders use dev/shop)."""
    text = json.dumps(doc)
    text = text.replace(f"urn:pulumi:{b.STACK}::{b.PROJECT}::", f"urn:pulumi:{stack}::{project}::")
    text = text.replace(f"pulumi:pulumi:Stack::{b.PROJECT}-{b.STACK}", f"pulumi:pulumi:Stack::{project}-{stack}")
    return json.loads(text)


def merge_into(real: dict, doc: dict) -> dict:
    """``doc``'s resources added to a real export (URNs retargeted, parented to the real root stack).

    Used to turn a real `pulumi up` state (real manifest, real secrets provider) into one that also holds
    OpenStack resources, which `pulumi up` cannot create offline: `pulumi stack import` accepts it.
    """
    out = copy.deepcopy(real)
    root = next(r for r in out["deployment"]["resources"] if r["type"] == "pulumi:pulumi:Stack")
    stack, project = root["urn"].split("::")[0].removeprefix("urn:pulumi:"), root["urn"].split("::")[1]
    moved = retarget(doc, stack, project)["deployment"]["resources"]
    old_root = next(r["urn"] for r in moved if r["type"] == "pulumi:pulumi:Stack")
    for r in moved:
        if r["type"] == "pulumi:pulumi:Stack":
            continue
        if r.get("parent") == old_root:
            r["parent"] = root["urn"]
        out["deployment"]["resources"].append(r)
    return out


def with_secrets_provider(doc: dict) -> dict:
    out = copy.deepcopy(doc)
    out["deployment"]["secrets_providers"] = copy.deepcopy(SECRETS_PROVIDER)
    return out


def _web_db_backup(e: Export, web: list[str], db: list[str], backup: str, *, quorum: bool = True) -> None:
    for i, p in enumerate(web):
        e.resource(INSTANCE, f"web-{i + 1}", p, role="web")
    for i, p in enumerate(db):
        e.resource(INSTANCE, f"db-{i + 1}", p, role="database", quorum=quorum)
    e.resource(CONTAINER, "backups", backup, role="backup", protects="database")


# ---- the cases ---------------------------------------------------------------------------------------


def spread() -> Case:
    return Case(
        "spread",
        b.spread_export().doc(),
        "pass",
        frozenset(),
        about="web and database over Gravelines, Warsaw and Infomaniak (Geneva); backups in Limburg",
    )


def strasbourg() -> Case:
    return Case(
        "strasbourg-2021",
        b.strasbourg_export().doc(),
        "fail",
        PLACEMENT_FAIL_2021,
        about="everything on the Strasbourg campus (SBG5 + SBG7), backups there too",
    )


def quorum_majority_on_one_site() -> Case:
    e = Export()
    gra11, gra9 = e.provider("gra11", region="GRA11"), e.provider("gra9", region="GRA9")
    waw, lim = e.provider("waw", region="WAW1"), e.provider("lim", region="DE1")
    _web_db_backup(e, [gra11, waw], [gra11, gra9, waw], lim)
    return Case(
        "quorum-majority-on-one-site",
        e.doc(),
        "fail",
        frozenset({"site-majority"}),
        about="3 voting members, 2 of them on the Gravelines campus (GRA11, GRA9): losing it loses the majority",
    )


def unknown_region() -> Case:
    e = Export()
    gra, nowhere = e.provider("gra", region="GRA11"), e.provider("nowhere", region="XYZ9")
    waw, lim = e.provider("waw", region="WAW1"), e.provider("lim", region="DE1")
    ik = e.provider("ik", region="dc4-a", auth_url=INFOMANIAK_AUTH)
    _web_db_backup(e, [gra, waw, nowhere], [gra, waw, ik], lim)
    return Case(
        "unknown-region",
        e.doc(),
        "fail",
        frozenset({"unknown-placement"}),
        about="one web host at OVHcloud region XYZ9, which no catalog knows: fails closed",
    )


def default_provider_only() -> Case:
    e = Export()
    default = e.provider("default", region="GRA11", default=True)
    _web_db_backup(e, [default, default], [default, default, default], default)
    return Case(
        "default-provider-only",
        e.doc(),
        "fail",
        frozenset({"single-building", "single-site", "backup-colocated", "site-majority"}),
        about="every resource on the default provider default_5_4_1, region GRA11 in its inputs",
    )


def default_provider_with_region_inputs() -> Case:
    e = Export()
    default = e.provider("default", region="GRA11", default=True)
    e.resource(INSTANCE, "web-1", default, role="web")
    e.resource(INSTANCE, "web-2", default, role="web", region="WAW1")
    e.resource(CONTAINER, "assets-1", default)
    e.resource(CONTAINER, "assets-2", default, region="UK1")
    return Case(
        "default-provider-region-inputs",
        e.doc(),
        "pass",
        frozenset(),
        about="default provider in GRA11; a resource's own `region` input (WAW1, UK1) wins over it",
    )


def one_provider(profile: str | None) -> Case:
    e = Export()
    shop, backups = {"tenantId": b.SHOP_PROJECT}, {"tenantId": b.BACKUP_PROJECT}  # the backups in their own project
    gra, waw = e.provider("gra", region="GRA11", **shop), e.provider("waw", region="WAW1", **shop)
    uk, lim = e.provider("uk", region="UK1", **shop), e.provider("lim", region="DE1", **backups)
    _web_db_backup(e, [gra, waw], [gra, waw, uk], lim)
    if profile == "strict":
        return Case(
            "one-provider-strict",
            e.doc(),
            "fail",
            frozenset({"single-provider"}),
            profile="strict",
            about="all OVHcloud, strict profile: single-provider is mandatory",
        )
    return Case(
        "one-provider-default",
        e.doc(),
        "pass",
        frozenset(),
        about="all OVHcloud (GRA11, WAW1, UK1; backups DE1): single-provider is advisory by default",
    )


def backups_in_the_members_project(profile: str | None) -> Case:
    """Every placement, the backups too, on the clouds.yaml entry `ovh`: one project (issue 22, M2)."""
    e = Export()
    gra = e.provider("gra", region="GRA11", auth_url=None, cloud="ovh")
    waw = e.provider("waw", region="WAW1", auth_url=None, cloud="ovh")
    ik = e.provider("ik", region="dc4-a", auth_url=INFOMANIAK_AUTH, cloud="infomaniak")
    lim = e.provider("lim", region="DE1", auth_url=None, cloud="ovh")
    _web_db_backup(e, [gra, waw, ik], [gra, waw, ik], lim)
    if profile == "strict":
        return Case(
            "backups-shared-project-strict",
            e.doc(),
            "fail",
            frozenset({"backup-shares-project"}),
            profile="strict",
            about="the backups in the members' project, strict: backup-shares-project blocks",
        )
    return Case(
        "backups-shared-project-default",
        e.doc(),
        "pass",
        frozenset(),
        about="the backups in the members' project: backup-shares-project is advisory by default",
    )


def org_config() -> Case:
    return Case(
        "org-min-sites-4",
        b.spread_export().doc(),
        "fail",
        frozenset({"single-site"}),
        org={"min_sites": 4, "quorum_roles": ["database"]},
        about="the spread export under an organisation config asking for 4 sites",
    )


def secret_provider_credentials() -> Case:
    e = b.spread_export()
    for r in e.resources:
        if r["type"] == "pulumi:providers:openstack":
            for key, name in (("password", "hunter2hunter2"), ("applicationCredentialSecret", "appcred")):
                r["inputs"][key] = secret(name)
                r["outputs"][key] = secret(name)
    return Case(
        "secret-provider-credentials",
        with_secrets_provider(e.doc()),
        "pass",
        frozenset(),
        passphrase=PASSPHRASE,
        about="providers with secret password/credential inputs, decryptable",
    )


def secret_region(*, show: bool = False) -> dict:
    """The spread export with the Gravelines provider's region a secret (encrypted, or shown in clear)."""
    e = b.spread_export()
    for r in e.resources:
        if r["urn"].endswith("::gra"):
            r["inputs"]["region"] = secret("GRA11", show=show)
            r["outputs"]["region"] = secret("GRA11", show=show)
    return with_secrets_provider(e.doc()) if not show else e.doc()


def secret_region_redacted() -> Case:
    return Case(
        "secret-region-redacted",
        secret_region(),
        "fail",
        frozenset({"unknown-placement"}),
        passphrase="not-the-passphrase",
        about="a provider's region is a secret the CLI cannot decrypt: redacted, fails closed in both",
    )


def exempted() -> Case:
    e = b.spread_export()
    s5 = e.provider("sbg5", region="SBG5")
    e.resource(INSTANCE, "lab-1", s5, role="lab", exempt="throwaway lab, rebuilt from scratch")
    e.resource(INSTANCE, "lab-2", s5, role="lab", exempt="throwaway lab, rebuilt from scratch")
    return Case(
        "exempted-single-site-role",
        e.doc(),
        "pass",
        frozenset(),
        org={
            "exemptions": [
                {"reason": "throwaway lab, rebuilt from scratch", "owner": "platform-team", "expires": "2999-12-31"}
            ]
        },
        exempted=frozenset({"single-building", "single-site", "single-provider"}),
        about="a `lab` role on one site, every replica exempt, the organisation allows it: waived (the audit "
        "lists it, the pack reports it as advisory)",
    )


def exempted_not_allowed() -> Case:
    e = b.spread_export()
    s5 = e.provider("sbg5", region="SBG5")
    for i in (1, 2):
        e.resource(INSTANCE, f"lab-{i}", s5, role="lab", exempt="throwaway lab, rebuilt from scratch")
    return Case(
        "exempted-not-allowed",
        e.doc(),
        "fail",
        frozenset({"single-building", "single-site"}),
        about="the same labels without the organisation's allowance: a label alone waives nothing",
    )


def fleet(apps: int = 40) -> Case:
    """Several stacks' worth of resources in one export: ``apps`` spread applications and one 2021 replay."""
    e = Export()
    gra, waw = e.provider("gra", region="GRA11"), e.provider("waw", region="WAW1")
    ik = e.provider("ik", region="dc4-a", auth_url=INFOMANIAK_AUTH)
    lim, s5, s7 = e.provider("lim", region="DE1"), e.provider("sbg5", region="SBG5"), e.provider("sbg7", region="SBG7")
    for a in range(apps):
        for p, n in ((gra, "gra"), (waw, "waw"), (ik, "ik")):
            e.resource(INSTANCE, f"app{a}-web-{n}", p, role=f"app{a}-web")
            e.resource(INSTANCE, f"app{a}-db-{n}", p, role=f"app{a}-db", quorum=True)
            e.resource(NETWORK, f"app{a}-net-{n}", p, role=f"app{a}-web", tags_style=True)
            e.resource(CONTAINER, f"app{a}-assets-{n}", p)
        e.resource(CONTAINER, f"app{a}-backups", lim, role="backup", protects=f"app{a}-db")
    e.resource(INSTANCE, "legacy-web-1", s5, role="legacy-web")
    e.resource(INSTANCE, "legacy-web-2", s7, role="legacy-web")
    e.resource(INSTANCE, "legacy-db-1", s5, role="legacy-db", quorum=True)
    e.resource(INSTANCE, "legacy-db-2", s7, role="legacy-db", quorum=True)
    e.resource(CONTAINER, "legacy-backups", s5, role="backup", protects="legacy-db")
    return Case(
        f"fleet-{apps}-apps",
        e.doc(),
        "fail",
        PLACEMENT_FAIL_2021,
        about=f"{len(e.resources)} resources: {apps} spread applications and one Strasbourg legacy app",
    )


# Measured 2026-12-06: `pulumi policy analyze --file` of an export that names a pulumi:providers:ovh provider waited
# until killed (300 s) with no ovh plugin installed, and pulumi-ovh cannot be built offline here (../shared/engine.md).
NO_OVH_PLUGIN = "pulumi-ovh's plugin cannot be built here; policy analyze of an export naming its provider never ends"


def _ovh(e: Export, typ: str, name: str, **inputs) -> str:
    """A pulumi-ovh resource (its region is its own: the ovh provider has none), with its provider in the export."""
    prov = b.urn("pulumi:providers:ovh", "default_2_0_0")
    if not any(r["urn"] == prov for r in e.resources):
        e.resources.append(
            {
                "urn": prov,
                "type": "pulumi:providers:ovh",
                "custom": True,
                "id": "ovh-prov",
                "inputs": {"version": "2.0.0"},
                "outputs": {"version": "2.0.0"},
            }
        )
    u = b.urn(typ, name)
    e.resources.append(
        {
            "urn": u,
            "type": typ,
            "custom": True,
            "id": f"id-{name}",
            "inputs": inputs,
            "outputs": dict(inputs),
            "provider": f"{prov}::ovh-prov",
            "parent": e.resources[0]["urn"],
        }
    )
    return u


def unrelated_managed_databases() -> Case:
    """Issue 26, point 2: two managed databases, each whole in one region, on two sites: neither is spread."""
    e = b.spread_export()
    for name, region, backup in (("orders", "GRA", "WAW"), ("billing", "WAW", "GRA")):
        _ovh(
            e,
            "ovh:CloudProject/database:Database",
            name,
            serviceName="p1",
            engine="postgresql",
            plan="business",
            flavor="db1-7",
            version="15",
            nodes=[{"region": region}] * 3,
            backupRegions=[backup],
        )
    return Case(
        "unrelated-managed-databases",
        e.doc(),
        "fail",
        frozenset({"single-site", "single-building"}),
        about="two OVHcloud managed databases, one in Gravelines, one in Warsaw: two replica sets, each on one site",
        no_engine=NO_OVH_PLUGIN,
    )


def one_database_over_three_regions() -> Case:
    e = b.spread_export()
    _ovh(
        e,
        "ovh:CloudProject/database:Database",
        "orders",
        serviceName="p1",
        engine="postgresql",
        plan="business",
        flavor="db1-7",
        version="15",
        nodes=[{"region": "GRA"}, {"region": "WAW"}, {"region": "DE"}],
        backupRegions=["UK"],
    )
    return Case(
        "one-managed-database-over-three-regions",
        e.doc(),
        "pass",
        frozenset(),
        about="one managed database whose nodes sit in three regions on three sites: one spread replica set",
        no_engine=NO_OVH_PLUGIN,
    )


def corpus() -> list[Case]:
    """Every hand-written case (fresh documents on each call)."""
    builders: list[Callable[[], Case]] = [
        spread,
        strasbourg,
        quorum_majority_on_one_site,
        unknown_region,
        default_provider_only,
        default_provider_with_region_inputs,
        lambda: one_provider(None),
        lambda: one_provider("strict"),
        lambda: backups_in_the_members_project(None),
        lambda: backups_in_the_members_project("strict"),
        org_config,
        secret_provider_credentials,
        secret_region_redacted,
        exempted,
        exempted_not_allowed,
        fleet,
        unrelated_managed_databases,
        one_database_over_three_regions,
    ]
    return [f() for f in builders]


# ---- the shipped stacks, under mocks -----------------------------------------------------------------

SHIPPED = {
    "production": ("pass", frozenset()),
    "staging": ("pass", frozenset()),
    "sbg2021": ("fail", PLACEMENT_FAIL_2021),
}


def shipped_stack(stack: str) -> Case:
    """``stacks/Pulumi.<stack>.yaml`` run under mocks, as `pulumi stack export` would show its state.

    The sbg2021 replay is refused by the program, so it is built with ``enforce_rules=False`` (the fire
    drill's escape hatch): the export is what the 2021 design WOULD have deployed. The mock ciphertexts
    never decrypt: the CLI analyses them redacted.
    """
    from resilient_stack.testing.mockrun import run_program, to_stack_export

    verdict, mandatory = SHIPPED[stack]
    recorded = run_program(ROOT / "stacks" / f"Pulumi.{stack}.yaml", enforce_rules=(verdict == "pass"))
    doc = to_stack_export(recorded, secrets_providers=SECRETS_PROVIDER)
    return Case(
        f"stack-{stack}",
        doc,
        verdict,
        mandatory,
        passphrase=PASSPHRASE,
        about=f"stacks/Pulumi.{stack}.yaml under mocks ({len(recorded)} resources)",
    )


def write(case: Case, directory: Path) -> Path:
    path = directory / f"{case.name}.json"
    path.write_text(json.dumps(case.doc))
    return path
