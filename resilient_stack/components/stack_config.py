"""The Pulumi stack configuration of resilient-stack, validated at the edge into frozen models.

Every key lives in the ``resilient-stack`` namespace of a ``stacks/Pulumi.<stack>.yaml`` file (structured
values are plain YAML there; the engine hands them to the program as JSON strings)::

    config:
      resilient-stack:placements:                 # where the web stack runs, one entry per region
        - {name: gra, cloud: ovh, region: GRA11, flavor: b3-8, image: Debian 12,
           privateCidr: 10.10.1.0/24, databaseRole: primary}
        - ...
      resilient-stack:backups: {cloud: ovh, region: DE1, s3Endpoint: s3.de.cloud.ovh.net, s3Region: de}

Every key with its type, default and description (``Field(description=...)`` below) is in
``docs/configuration-reference.md``, generated from these models by :mod:`resilient_stack.components.reference`.
The configuration becomes the SAME :class:`~resilient_stack.core.design.Design` the auditor reads
(:meth:`StackConfig.to_design`), and :func:`check_design` judges it with :func:`resilient_stack.core.estate.audit`
(the auditor's and the pack's pipeline): the components refuse what the auditor would reject, with the same rule ids and messages.

Errors are one line naming the config key: :class:`StackConfigError`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import Field, SecretStr, ValidationError, field_validator

from resilient_stack.components.app_config import APP_SECRETS, REGISTRY_PASSWORD
from resilient_stack.components.backup_config import ACCESS_KEY, SECRET_CONFIG_KEYS, SECRET_KEY, BackupConfig
from resilient_stack.components.config_base import (
    CloudName,  # noqa: F401 - re-exported
    documentation_network,
)
from resilient_stack.components.config_base import ConfigModel as _Model
from resilient_stack.components.config_base import as_the_cloud_compares as _as_the_cloud_compares  # noqa: F401
from resilient_stack.components.config_base import cidr as _cidr
from resilient_stack.components.monitoring_config import ALERT_SECRET_KEYS, MonitoringConfig
from resilient_stack.components.monitoring_config import problems as monitoring_problems
from resilient_stack.components.stack_fields import PlacementConfig  # noqa: F401 - re-exported
from resilient_stack.components.stack_settings import (  # noqa: F401 - re-exported
    NAMESPACE,
    DatabaseSettings,
    DnsConfig,
    RotationSettings,
    WebSettings,
)
from resilient_stack.core.catalog import Catalog
from resilient_stack.core.design import Design
from resilient_stack.core.estate import Estate, Settings, audit
from resilient_stack.core.policy import PolicyConfig, build_catalog
from resilient_stack.core.rules import DesignRejected, Report, RuleConfig
from resilient_stack.core.vocabulary import (
    AUTH_URL,
    BUCKET,
    DATABASE,
    DNS,
    FQDN,
    LOAD_BALANCER,
    MONITORING,
    PLACEMENT_NAME,
    S3_ENDPOINT,
    SQL_IDENT,
    SSH_PUBLIC_KEY_RE,
    UUID,
    WEB,
)
from resilient_stack.hosts import cloudinit
from resilient_stack.io.errors import InputError
from resilient_stack.io.readfile import decode_text, read_bytes
from resilient_stack.io.safeyaml import load_yaml_text

DEFAULT_PREFIX = "rs"

# Keys whose engine value is a plain string; every other key carries structured YAML (JSON on the wire).
_STRING_KEYS = frozenset(
    {"name", "sshPublicKey", "profile", REGISTRY_PASSWORD, *SECRET_CONFIG_KEYS, *ALERT_SECRET_KEYS}
)


class StackConfigError(InputError):
    """An unusable stack configuration: ``str(err)`` is one line naming the config key."""

    def __init__(self, key: str, problem: str, source: str = "stack config") -> None:
        self.key = key
        super().__init__(source, f"{key}: {problem}")


class StackConfig(_Model):
    """Everything ``resilient-stack:*`` of one stack, validated: the keys of a ``stacks/Pulumi.<stack>.yaml`` file."""

    name: str = Field(
        min_length=1,
        max_length=24,
        pattern=PLACEMENT_NAME,
        description="Prefix of every cloud-side name: hosts `<name>-<placement>-web-1` and `<name>-<placement>-db`, "
        "networks, containers. When absent, the program uses `rs-<stack>`.",
    )
    placements: tuple[PlacementConfig, ...] = Field(
        min_length=1,
        max_length=20,
        description="Where the stack runs, one entry per region. Names are unique, private networks do not overlap, "
        "exactly one placement has `databaseRole: primary`.",
    )
    backups: BackupConfig = Field(description="The backup store (pgBackRest repository) and where it lives.")
    database: DatabaseSettings = Field(default=DatabaseSettings(), description="PostgreSQL settings.")
    admin_cidrs: tuple[str, ...] = Field(
        default=(),
        description="Networks allowed to SSH (port 22) to every host, e.g. your office's or VPN's; `[]` closes SSH. "
        "Applied in place to running hosts (security groups and host firewalls). Refused: `0.0.0.0/0` and `::/0` (the "
        "whole Internet) and any network in or overlapping a documentation range (RFC 5737: `192.0.2.0/24`, "
        "`198.51.100.0/24`, `203.0.113.0/24`; RFC 3849: `2001:db8::/32`; RFC 9637: `3fff::/20`), from which nobody "
        "ever connects.",
    )
    ssh_public_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=16384,
        description="One OpenSSH public key line (`ssh-ed25519 AAAA... you@laptop`), installed by cloud-init for the "
        "image's default user (`debian`).",
    )
    web: WebSettings = Field(default=WebSettings(), description="What the web hosts serve.")
    dns: DnsConfig | None = Field(default=None, description="A records in a Designate zone; unset: no DNS record.")
    profile: Literal["default", "strict"] | None = Field(
        default=None,
        description="Placement rules: `default` (`single-provider` advisory) or `strict` (every rule mandatory). "
        "Wins over `policy.profile`; unset: `policy.profile`, else `default`.",
    )
    backup_s3_access_key: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Access key of the backup repository's dedicated object-store user (created outside the stack: "
        "docs/operations.md#the-backup-credential). A Pulumi secret: `pulumi config set --secret backupS3AccessKey "
        "KEY` (a bare key is the project's: `resilient-stack:` here, your project's name in a project made with "
        "`pulumi new`). Unset: a preview renders placeholder keys, `pulumi up` refuses.",
    )
    backup_s3_secret_key: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Its secret key, a Pulumi secret (`pulumi config set --secret backupS3SecretKey SECRET`); given "
        "with `backupS3AccessKey`.",
    )
    app_secrets: dict[str, SecretStr] | None = Field(
        default=None,
        description="The application's secrets (names to values), a Pulumi secret: `pulumi config set --secret "
        "--path 'resilient-stack:appSecrets.NAME' VALUE`. Each reaches the application's container as the "
        "environment variable NAME (a podman secret: root-only on the host, never in clear in the user data or the "
        "metadata); a change is a new release.",
    )
    app_registry_password: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="The password (or token) of `web.app.registry.username` at the image's registry, a Pulumi "
        "secret: `pulumi config set --secret resilient-stack:appRegistryPassword ...`.",
    )
    monitoring: MonitoringConfig | None = Field(
        default=None, description="Monitoring hosts (Prometheus, Alertmanager) and the alerts' receivers; unset: none."
    )
    alert_webhook: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="A URL the Alertmanagers post every alert to (and its resolution), a Pulumi secret: `pulumi "
        "config set --secret resilient-stack:alertWebhook https://...`. Needs `monitoring`.",
    )
    alert_smtp_password: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="The password of `monitoring.email.username`, a Pulumi secret (`pulumi config set --secret "
        "resilient-stack:alertSmtpPassword ...`).",
    )
    policy: PolicyConfig | None = Field(
        default=None,
        description="Organisation settings, the schema of `resilient-stack audit --config` files (snake_case keys): "
        "thresholds, rule levels, quorum roles, extra catalog entries (e.g. your clouds.yaml names).",
    )

    @field_validator("admin_cidrs")
    @classmethod
    def _admin_cidrs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(_cidr(c) for c in v)
        for c in out:
            if ipaddress.ip_network(c).prefixlen == 0:
                raise ValueError(f"{c!r} would open SSH to the whole Internet; name your admin networks")
            doc = documentation_network(c)
            if doc is not None:
                raise ValueError(
                    f"{c!r} is in or overlaps {doc}, a range reserved for documentation that nobody "
                    "connects from: SSH would stay closed; name your office's or VPN's network"
                )
        return tuple(dict.fromkeys(out))

    @field_validator("backup_s3_access_key", "backup_s3_secret_key")
    @classmethod
    def _one_line(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and (any(c.isspace() for c in v.get_secret_value()) or not v.get_secret_value().isprintable()):
            raise ValueError("must be one word of printable characters (no space, no line break)")
        return v

    @field_validator("ssh_public_key")
    @classmethod
    def _ssh_key(cls, v: str | None) -> str | None:
        if v is not None and not SSH_PUBLIC_KEY_RE.match(v):
            raise ValueError("not an OpenSSH public key line (e.g. 'ssh-ed25519 AAAA... you@laptop')")
        return v

    # -- derived views ------------------------------------------------------------------------
    @property
    def primary(self) -> PlacementConfig:
        return next(p for p in self.placements if p.database_role == "primary")

    @property
    def database_placements(self) -> tuple[PlacementConfig, ...]:
        return tuple(p for p in self.placements if p.hosts_database)

    @property
    def private_cidrs(self) -> tuple[str, ...]:
        return tuple(p.private_cidr for p in self.placements)

    @property
    def backup_container(self) -> str:
        return self.backups.container or f"{self.name}-pgbackrest"

    def placement(self, name: str) -> PlacementConfig:
        return next(p for p in self.placements if p.name == name)

    def policy_config(self) -> PolicyConfig:
        return self.policy or PolicyConfig()

    def rule_config(self) -> RuleConfig:
        """Organisation settings (``policy``), with ``profile`` taking precedence when set."""
        return self.policy_config().rule_config(self.profile)

    def catalog(self, extra_paths: tuple[str, ...] = ()) -> Catalog:
        """The built-in catalog plus the ``policy.catalog`` entries (e.g. your clouds.yaml names)."""
        return build_catalog(self.policy_config(), extra_paths)

    def to_design(self) -> Design:
        """The design the auditor reads: web, database (quorum), load-balancer, monitoring, name servers, backups."""
        placements = []
        for p in self.placements:
            replicas: dict[str, int] = {WEB: p.web_count}
            if p.load_balancer:
                replicas[LOAD_BALANCER] = 1
            if p.hosts_database:
                replicas[DATABASE] = 1
            if self.monitoring is not None and p.name in self.monitoring.placements:
                replicas.update({MONITORING: 1, **({DNS: 1} if self.monitoring.zone is not None else {})})
            placements.append(
                {
                    "name": p.name,
                    "cloud": p.cloud,
                    "auth_url": p.auth_url,
                    "region": p.region,
                    "availability_zone": p.availability_zone,
                    "replicas": replicas,
                    "quorum": [DATABASE] if p.hosts_database else [],
                    "exempt": p.exempt,
                }
            )
        b = self.backups
        return Design.model_validate(
            {
                "schema": "resilient-stack/design/v1",
                "name": self.name,
                "placements": placements,
                "backups": [
                    {
                        "name": b.name,
                        "protects": DATABASE,
                        "cloud": b.cloud,
                        "auth_url": b.auth_url,
                        "region": b.region,
                        "availability_zone": b.availability_zone,
                        "exempt": b.exempt,
                    }
                ],
                "quorum_roles": [DATABASE],
            }
        )


# --------------------------------------------------------------------------------------------------
# The rules, applied before anything is created
# --------------------------------------------------------------------------------------------------


def check_design(design: Design, rule_config: RuleConfig | None = None, catalog: Catalog | None = None) -> Report:
    """Evaluate the placement rules on ``design``; raise :class:`DesignRejected` on a blocking finding.

    A finding blocks when it is mandatory and not exempted (every resource it names carries an
    exemption). The report is returned when nothing blocks, so callers can show the advisories.
    """
    catalog = catalog if catalog is not None else build_catalog(PolicyConfig())
    # the design's quorum_roles are honoured by Design.placements_for (each replica of those roles votes),
    # as for a design file given to the auditor: no second reading of them here
    report = audit(
        Estate.of_design(catalog, design.placements_for(catalog)), Settings(rule_config or RuleConfig(), catalog)
    )
    blocking = [f for f in report.findings if f.blocking]
    if blocking:
        raise DesignRejected(blocking, report)
    return report


def validate_stack(config: StackConfig) -> Report:
    """The stack's design through the rules (:func:`check_design`) with its own policy and catalog."""
    return check_design(config.to_design(), config.rule_config(), config.catalog())


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


def config_key(loc: tuple[Any, ...] | list[Any], namespace: str = NAMESPACE) -> str:
    """``('placements', 1, 'privateCidr')`` -> ``resilient-stack:placements[1].privateCidr``."""
    if not loc:
        return f"{namespace}:*"
    out = f"{namespace}:{loc[0]}"
    for part in loc[1:]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


_PATTERN_HINTS = {
    PLACEMENT_NAME: "use lower-case letters and digits, single dashes between them, starting with a letter (e.g. 'gra')",
    UUID: "must be a network ID (a UUID), e.g. from `openstack network show NAME -f value -c id`",
    S3_ENDPOINT: "must be a bare host[:port], without scheme or path (e.g. 's3.de.cloud.ovh.net')",
    FQDN: "must be a fully qualified name ending with a dot (e.g. 'www.example.com.')",
    AUTH_URL: "must be an http(s) URL (e.g. 'https://auth.cloud.ovh.net/v3')",
    BUCKET: "must be a valid S3 bucket name: 3-63 lower-case letters, digits, dots and dashes",
    SQL_IDENT: "must be a lower-case SQL identifier (letters, digits and '_', not starting with a digit)",
}


def _problem(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown key (keys are camelCase; see docs/configuration-reference.md for the list)"
    if kind == "string_pattern_mismatch":
        pattern = (err.get("ctx") or {}).get("pattern", "")
        return _PATTERN_HINTS.get(pattern, f"does not match the pattern {pattern}")
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return " ".join(msg.split())


def _cross_checks(cfg: StackConfig, source: str, namespace: str) -> None:
    """Checks across keys, each naming the key to fix."""

    def fail(path: str, problem: str) -> None:
        raise StackConfigError(f"{namespace}:{path}", problem, source)

    names = [p.name for p in cfg.placements]
    for i, p in enumerate(cfg.placements):
        key = f"placements[{i}]"
        if p.name in names[:i]:
            fail(f"{key}.name", f"placement name {p.name!r} is already used by placements[{names.index(p.name)}]")
        if p.load_balancer and not p.floating_network_id:
            fail(
                f"{key}.floatingNetworkId",
                "is required when loadBalancer is true: the router gateway takes the floating network's ID "
                f"(no lookups); find it with `openstack network show {p.effective_floating_network} -f value -c id`",
            )
        if p.web_count == 0 and not p.hosts_database:
            fail(f"{key}.webCount", "is 0 but the placement hosts no database member either: remove it")
        for j, q in enumerate(cfg.placements[:i]):
            if ipaddress.ip_network(p.private_cidr).overlaps(ipaddress.ip_network(q.private_cidr)):
                fail(
                    f"{key}.privateCidr",
                    f"{p.private_cidr} overlaps placements[{j}].privateCidr {q.private_cidr}; "
                    "give each placement its own network",
                )
    primaries = [i for i, p in enumerate(cfg.placements) if p.database_role == "primary"]
    if len(primaries) != 1:
        where = f" (placements {', '.join(map(str, primaries))})" if primaries else ""
        fail("placements", f"exactly one placement must have databaseRole: primary, found {len(primaries)}{where}")
    if cfg.backups.name in names:
        fail("backups.name", f"{cfg.backups.name!r} is also a placement name")
    if cfg.dns is not None and cfg.dns.placement is not None and cfg.dns.placement not in names:
        fail("dns.placement", f"{cfg.dns.placement!r} is not a placement name")
    if cfg.database.app_user == cfg.database.replication_user:
        fail("database.replicationUser", "must differ from database.appUser")
    webhook = cfg.alert_webhook.get_secret_value() if cfg.alert_webhook is not None else None
    if found := monitoring_problems(
        cfg.monitoring, placements=names, webhook=webhook, smtp_password=cfg.alert_smtp_password is not None
    ):
        fail(*found)
    application = cfg.web.app
    if application is None and cfg.app_secrets:
        fail(APP_SECRETS, "is set but web.app is not: there is no application to give them to")
    if (cfg.app_registry_password is not None) != (application is not None and application.registry is not None):
        fail(
            REGISTRY_PASSWORD if cfg.app_registry_password is None else "web.app.registry",
            "web.app.registry.username and appRegistryPassword go together (`pulumi config set --secret "
            f"{namespace}:{REGISTRY_PASSWORD} ...`)",
        )
    if application is not None:
        try:
            cloudinit.validate_app(
                application.spec(tuple(cfg.app_secrets or ())),
                placements=[p.name for p in cfg.placements if p.web_count > 0],
            )
        except ValueError as exc:
            fail(APP_SECRETS if str(exc).startswith("secret ") else "web.app", str(exc))
        try:
            cloudinit.check_secrets_budget(
                {k: v.get_secret_value() for k, v in (cfg.app_secrets or {}).items()},
                cfg.app_registry_password.get_secret_value() if cfg.app_registry_password else None,
            )
        except ValueError as exc:
            fail(APP_SECRETS, str(exc))
    if (cfg.backup_s3_access_key is None) != (cfg.backup_s3_secret_key is None):
        missing = ACCESS_KEY if cfg.backup_s3_access_key is None else SECRET_KEY
        fail(
            missing,
            f"is required with {SECRET_KEY if missing == ACCESS_KEY else ACCESS_KEY}: give both keys of "
            "the backup repository's user (`pulumi config set --secret`)",
        )


def default_name(stack: str | None) -> str:
    """``rs-<stack>`` reduced to the pattern of ``resilient-stack:name``."""
    slug = re.sub(r"[^a-z0-9]+", "-", (stack or "").lower()).strip("-")
    name = f"{DEFAULT_PREFIX}-{slug}" if slug else DEFAULT_PREFIX
    return name[:24].rstrip("-")


def parse_stack_config(
    raw: Mapping[str, Any],
    source: str = "stack config",
    *,
    stack: str | None = None,
    namespace: str = NAMESPACE,
) -> StackConfig:
    """Validate ``{bareKey: value}`` (structured values already decoded) into a :class:`StackConfig`.

    ``stack`` provides the default ``name`` (``rs-<stack>``); ``namespace`` is the one named in errors.
    Raises :class:`StackConfigError`.
    """
    if not isinstance(raw, Mapping):
        raise StackConfigError(f"{namespace}:*", "the configuration must be a mapping of keys to values", source)
    data = dict(raw)
    data.setdefault("name", default_name(stack))
    try:
        cfg = StackConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = (
            f" (and {exc.error_count() - 1} more problem{'s' if exc.error_count() > 2 else ''})"
            if exc.error_count() > 1
            else ""
        )
        raise StackConfigError(config_key(tuple(err["loc"]), namespace), _problem(err) + more, source) from None
    _cross_checks(cfg, source, namespace)
    return cfg


def decode_engine_values(
    values: Mapping[str, str],
    source: str = "stack config",
    namespace: str = NAMESPACE,
) -> dict[str, Any]:
    """Pulumi hands every config value to the program as a string: decode the structured ones (JSON).

    ``values`` maps bare keys to the engine's strings; plain-string keys (``name``, ``sshPublicKey``,
    ``profile``) are kept as they are.
    """
    out: dict[str, Any] = {}
    for key, text in values.items():
        if key in _STRING_KEYS or not isinstance(text, str):
            out[key] = text
            continue
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            raise StackConfigError(
                f"{namespace}:{key}",
                "is not structured config (give it as YAML in the stack file, "
                f"or `pulumi config set --path {namespace}:{key}...`)",
                source,
            ) from None
    return out


def _engine_config() -> dict[str, Any]:
    """Every config value the running Pulumi program received (full keys)."""
    from pulumi.runtime import config as runtime_config

    # The language host hands PULUMI_CONFIG to set_all_config; read the environment only when nothing was set.
    return dict(runtime_config.CONFIG.get()) or dict(runtime_config.get_config_env())


def engine_config_values(namespace: str = NAMESPACE) -> dict[str, str]:
    """The raw config strings of ``namespace`` that the running Pulumi program received.

    Reads the runtime's configuration (set by the language host, or by ``set_all_config`` under mocks)
    rather than asking ``pulumi.Config`` key by key, so that a misspelt key is reported instead of
    silently ignored.
    """
    prefix = f"{namespace}:"
    return {k[len(prefix) :]: v for k, v in _engine_config().items() if isinstance(k, str) and k.startswith(prefix)}


def program_namespace(project: str, stack: str | None = None) -> str:
    """``resilient-stack``, or the project's own name for a project made with ``pulumi new`` under another name (the
    template's bare keys then land in that project's namespace) that has no ``resilient-stack:*`` key.

    A stack reads ONE namespace: keys in both (``pulumi config set resilient-stack:KEY`` in a project made with
    ``pulumi new``, or a bare key beside a copied stack file) are refused, naming the first stray key and the command
    that moves it to the namespace holding the stack's ``placements``.
    """
    keys = sorted(k for k in _engine_config() if isinstance(k, str))
    ours = [k for k in keys if k.startswith(f"{NAMESPACE}:")]
    theirs = [k for k in keys if project != NAMESPACE and k.startswith(f"{project}:")]
    if not theirs:
        return NAMESPACE
    if not ours:
        return project
    home = NAMESPACE if f"{NAMESPACE}:placements" in keys and f"{project}:placements" not in keys else project
    strays = theirs if home == NAMESPACE else ours
    stray = strays[0]
    bare = stray.split(":", 1)[1]
    target = bare if home == project else f"{home}:{bare}"  # a bare key is the project's: `pulumi config set KEY`
    secret = " --secret" if bare in (*SECRET_CONFIG_KEYS, *ALERT_SECRET_KEYS) else ""
    more = (
        f" (and {len(strays) - 1} more key{'s' if len(strays) > 2 else ''} of {stray.split(':', 1)[0]}:)"
        if len(strays) > 1
        else ""
    )
    raise StackConfigError(
        stray,
        f"this stack's configuration is in the {home}: namespace (its placements are "
        f"there) and a stack reads one: `pulumi config rm {stray}`, then `pulumi config set{secret} "
        f"{target} ...`{more}",
        f"stack {stack}" if stack else "stack config",
    )


def from_pulumi_config(stack: str | None = None) -> StackConfig:
    """The running program's configuration (see :func:`program_namespace`), validated (:class:`StackConfigError`)."""
    import pulumi

    stack = stack or pulumi.get_stack()
    from pulumi.runtime.config import is_config_secret

    namespace = program_namespace(pulumi.get_project(), stack)
    source = f"stack {stack}"
    values = decode_engine_values(engine_config_values(namespace), source, namespace)
    for key in (SECRET_KEY, APP_SECRETS, REGISTRY_PASSWORD, *ALERT_SECRET_KEYS):
        if key in values and not is_config_secret(f"{namespace}:{key}"):
            raise StackConfigError(
                f"{namespace}:{key}",
                "is in clear in the stack file; set it as a secret: "
                f"`pulumi config set --secret {namespace}:{key} ...`",
                source,
            )
    return parse_stack_config(values, source, stack=stack, namespace=namespace)


def read_stack_file(path: str | Path) -> tuple[dict[str, Any], str]:
    """``(config mapping, stack name)`` of a ``Pulumi.<stack>.yaml`` file (values as YAML gave them)."""
    p = str(path)
    raw = load_yaml_text(decode_text(read_bytes(p), p), p)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping) or not isinstance(raw.get("config") or {}, Mapping):
        raise InputError(p, "not a Pulumi stack config file (expected a 'config' mapping)")
    name = Path(p).name
    stack = name[len("Pulumi.") :].rsplit(".", 1)[0] if name.startswith("Pulumi.") else Path(p).stem
    return dict(raw.get("config") or {}), stack


ENCRYPTED = "<encrypted in the stack file>"  # what load_stack_file gives a secret it cannot (and need not) read


def load_stack_file(path: str | Path) -> StackConfig:
    """Validate the ``resilient-stack:*`` keys of a stack file (e.g. ``stacks/Pulumi.production.yaml``)."""
    config, stack = read_stack_file(path)
    prefix = f"{NAMESPACE}:"
    readable: dict[str, Any] = {}
    for key, value in config.items():
        if not (isinstance(key, str) and key.startswith(prefix)):
            continue
        bare = key[len(prefix) :]
        if bare in (APP_SECRETS, REGISTRY_PASSWORD):
            encrypted = lambda v: isinstance(v, Mapping) and set(v) == {"secure"}  # noqa: E731
            if bare == REGISTRY_PASSWORD and encrypted(value):
                readable[bare] = ENCRYPTED  # set, encrypted for the engine: this reader knows that much
                continue
            if bare == APP_SECRETS and encrypted(value):
                continue  # one encrypted JSON document: not even the names are readable here
            if bare == APP_SECRETS and isinstance(value, Mapping) and all(encrypted(v) for v in value.values()):
                readable[bare] = {name: ENCRYPTED for name in value}  # their names (the spec's), not their values
                continue
            raise StackConfigError(
                key, "is in clear in the stack file; set it with `pulumi config set --secret`", str(path)
            )
        if isinstance(value, Mapping) and "secure" in value:
            if bare in (*SECRET_CONFIG_KEYS, *ALERT_SECRET_KEYS):
                continue  # the backup repository's keys, the receivers': set, encrypted for the engine; not needed here
            raise StackConfigError(key, "is an encrypted secret; this reader cannot decrypt it", str(path))
        if bare in (SECRET_KEY, *ALERT_SECRET_KEYS):
            raise StackConfigError(
                key, "is in clear in the stack file; set it with `pulumi config set --secret`", str(path)
            )
        readable[bare] = value
    raw = readable
    return parse_stack_config(raw, str(path), stack=stack)
