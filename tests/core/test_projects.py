"""backup-shares-project (issue 22, M2 of the 2026-12 review): the project of each placement and the rule that
compares the backups' with the replicas'. Placements resolved through the real catalog; resource placements read
from hand-built views, as the readers and the policy pack build them."""

from datetime import date

from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.placement import place, project_label, same_project
from resilient_stack.core.resources import ResourceView, place_all, provider_facts
from resilient_stack.core.rules import Exemption, RuleConfig, default_level, evaluate
from resilient_stack.core.vocabulary import SECRET_SIG
from tests import builders as b

CAT = load_catalog()
RULE = "backup-shares-project"
IK = b.INFOMANIAK_AUTH


def db(name, region, cloud="ovh", **kw):
    return place(CAT, resource=f"{name}/database/1", role="database", region=region, cloud=cloud, **kw)


def backup(region="DE1", cloud="ovh", name="bk", **kw):
    return place(
        CAT, resource=f"{name}/backup/database", role="backup", protects="database", region=region, cloud=cloud, **kw
    )


def found(placements, config=None):
    return [f for f in evaluate(placements, config, CAT).findings if f.rule == RULE]


MEMBERS = [db("gra", "GRA11"), db("waw", "WAW1"), db("ik", "dc4-a", cloud="infomaniak")]


def test_levels_advisory_by_default_mandatory_when_strict():
    assert default_level(RULE) == "advisory" and default_level(RULE, "strict") == "mandatory"


def test_backups_in_the_members_clouds_yaml_entry_are_reported_naming_backup_project_and_members():
    (f,) = found([*MEMBERS, backup()])
    assert (f.level, f.role, f.resources, f.blocking) == ("advisory", "database", ("bk/backup/database",), False)
    assert f.message.startswith(
        "the only backup of `database` is in a project that also holds `database` replicas: bk/backup/database (DE1) "
        "is in clouds.yaml entry `ovh`, which also holds gra/database/1 (GRA11), waw/database/1 (WAW1); whoever "
        "holds that project's credentials can delete the data and its backups together: keep at least one backup "
        "in a project of its own"
    )
    assert "ik/database/1" not in f.message  # Infomaniak runs another Keystone: not the same project
    (strict,) = found([*MEMBERS, backup()], RuleConfig(profile="strict"))
    assert strict.level == "mandatory" and strict.blocking


def test_backups_in_an_entry_of_their_own_pass():
    assert found([*MEMBERS, backup(cloud="ovh-backups")]) == []


def test_one_backup_in_a_project_of_its_own_is_enough():
    assert found([*MEMBERS, backup(name="a"), backup(region="UK1", cloud="ovh-backups", name="b")]) == []
    (f,) = found([*MEMBERS, backup(name="a"), backup(region="UK1", name="b")])
    assert f.message.startswith("each of the 2 backups of `database` is in a project that also holds")
    assert f.resources == ("a/backup/database", "b/backup/database")


def test_clouds_yaml_entries_are_compared_as_the_client_looks_them_up():
    # clouds.yaml keys are case-sensitive; ASCII whitespace is trimmed as everywhere
    assert found([*MEMBERS, backup(cloud=" ovh\t")]) != []
    assert found([*MEMBERS, backup(cloud="OVH")]) == []


def test_a_project_the_input_does_not_tell_is_not_a_pass():
    # members placed by their auth URL alone: their project is unknown
    members = [
        db("gra", "GRA11", cloud=None, auth_url=b.OVH_AUTH),
        db("waw", "WAW1", cloud=None, auth_url=b.OVH_AUTH),
        db("ik", "dc4-a", cloud=None, auth_url=IK),
    ]
    (f,) = found([*members, backup(cloud="ovh-backups")])
    assert f.level == "advisory"
    assert f.message.startswith(
        "no backup of `database` is known to be in a project that holds no `database` "
        "replica: whether bk/backup/database (DE1) shares a project with gra/database/1 "
        "(GRA11), waw/database/1 (WAW1) cannot be told (gra/database/1 (GRA11), "
        "waw/database/1 (WAW1): no clouds.yaml entry (`cloud`) names its project)"
    )
    assert "identify both the same way" in f.message
    # the backups' own project unknown: the same, naming the backup
    (f,) = found([*MEMBERS, backup(cloud=None, auth_url=b.OVH_AUTH)])
    assert "(bk/backup/database (DE1): no clouds.yaml entry (`cloud`) names its project)" in f.message


def test_two_kinds_of_identity_cannot_be_compared():
    members = [db("gra", "GRA11", project="id:5259cd7d", project_problem=None)]
    assert same_project(members[0], backup(cloud="ovh-backups")) is None
    (f,) = found([*members, backup(cloud="ovh-backups")])
    assert "clouds.yaml entry `ovh-backups` and project id 5259cd7d cannot be compared" in f.message


def test_disabled_and_exempted():
    assert found([*MEMBERS, backup()], RuleConfig(levels={RULE: "disabled"})) == []
    allowed = RuleConfig(exemptions=(Exemption("lab", "platform", date(2999, 12, 31)),))
    (f,) = found([*MEMBERS, backup(exempt="lab")], allowed)
    assert f.exempted == "lab" and not f.blocking
    scoped = RuleConfig(
        exemptions=(Exemption("lab", "platform", date(2999, 12, 31), frozenset({"single-site"})),), profile="strict"
    )
    (f,) = found([*MEMBERS, backup(exempt="lab")], scoped)
    assert f.exempted is None and f.blocking


def test_a_role_without_replicas_or_without_backups_gives_nothing():
    assert found([backup()]) == []
    assert found(MEMBERS) == []


def test_the_json_report_names_each_placements_project():
    rep = evaluate([*MEMBERS, backup(cloud="ovh-backups")], catalog=CAT).as_dict()
    projects = {p["resource"]: p.get("project") for p in rep["placements"]}
    assert projects == {
        "gra/database/1": "clouds.yaml entry `ovh`",
        "waw/database/1": "clouds.yaml entry `ovh`",
        "ik/database/1": "clouds.yaml entry `infomaniak`",
        "bk/backup/database": "clouds.yaml entry `ovh-backups`",
    }


# ---- the project of a Pulumi resource: its OpenStack provider's inputs, a pulumi-ovh resource's serviceName ----


def _placed(provider_inputs, typ=b.INSTANCE, inputs=None):
    view = ResourceView("urn:pulumi:dev::shop::x::vm", typ, {"region": "GRA11", **(inputs or {})}, None, None)
    (p,) = place_all(view, CAT, provider_facts(provider_inputs))
    return p


def test_with_cloud_set_the_clouds_yaml_entry_decides_whatever_tenant_the_provider_names():
    # terraform-provider-openstack ignores tenantId/tenantName/authUrl when `cloud` is set
    p = _placed({"cloud": "ovh", "tenantId": "AB12", "authUrl": b.OVH_AUTH})
    assert (p.project, p.project_problem) == ("cloud:ovh", None)


def test_without_cloud_the_tenant_id_then_the_tenant_name_at_the_auth_host():
    assert _placed({"tenantId": "AB12", "tenantName": "x", "authUrl": b.OVH_AUTH}).project == "id:ab12"
    p = _placed({"tenantName": "8862312663216886", "authUrl": b.OVH_AUTH})
    assert p.project == "name:auth.cloud.ovh.net|8862312663216886"
    assert project_label(p.project) == "project '8862312663216886' at auth.cloud.ovh.net"


def test_a_provider_that_names_no_project_or_hides_it_leaves_it_unknown():
    p = _placed({"authUrl": b.OVH_AUTH})
    assert p.project is None and "sets no `cloud`, `tenantId` or `tenantName`" in p.project_problem
    assert p.resolved  # the placement itself is fine
    secret = {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x"}
    p = _placed({"authUrl": b.OVH_AUTH, "tenantId": secret})
    assert p.project is None and p.project_problem == "its provider's tenantId is a secret"


def test_the_same_tenant_id_is_one_project_two_are_two():
    one = _placed({"tenantId": "AB12", "authUrl": b.OVH_AUTH})
    other = _placed({"tenantId": "ab12", "authUrl": b.OVH_AUTH})
    third = _placed({"tenantId": "cd34", "authUrl": b.OVH_AUTH})
    assert same_project(one, other) is True and same_project(one, third) is False


def test_a_pulumi_ovh_resource_is_in_its_service_name_project():
    view = ResourceView(
        "urn:pulumi:dev::shop::ovh:CloudProject/database:Database::pg",
        "ovh:CloudProject/database:Database",
        {"serviceName": "a8cab5ea", "nodes": [{"region": "GRA"}, {"region": "WAW"}], "backupRegions": ["DE"]},
        None,
        None,
    )
    placements = place_all(view, CAT, None)
    assert {p.project for p in placements} == {"ovh:a8cab5ea"}
    (f,) = found(placements)  # a managed database's backups are in its own project, always
    assert "is in OVHcloud project a8cab5ea, which also holds pg#nodes[0]" in f.message
    missing = place_all(view._replace(inputs={**view.inputs, "serviceName": None}), CAT, None)
    assert all(p.project is None and "no serviceName" in p.project_problem for p in missing)


def test_many_backups_and_replicas_cost_groups_not_pairs_and_the_message_stays_short():
    import time

    members = [db(f"m{i}", ("GRA11", "WAW1", "UK1")[i % 3]) for i in range(5000)]
    backups = [backup(name=f"b{i}") for i in range(5000)]
    t0 = time.perf_counter()
    (f,) = found([*members, *backups])
    assert time.perf_counter() - t0 < 5  # pairs would be 25 million comparisons
    assert len(f.resources) == 5000 and f.message.count("is in clouds.yaml entry `ovh`") == 6
    assert "; and 4994 more backups; " in f.message and len(f.message) < 2000
    assert found([*members, *backups, backup(name="own", cloud="ovh-backups")]) == []
