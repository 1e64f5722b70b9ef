"""The stack configuration's settings models besides the placements and the backups: ``web`` (what the web hosts
serve), ``database`` (PostgreSQL, the cluster, the rotation of its secrets) and ``dns`` (a record set in Designate).
Validated at the edge into frozen models; :class:`resilient_stack.components.stack_config.StackConfig` holds them.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from resilient_stack.components.app_config import AppSettings
from resilient_stack.components.config_base import (
    CloudName,  # noqa: F401 - re-exported
)
from resilient_stack.components.config_base import ConfigModel as _Model
from resilient_stack.components.config_base import as_the_cloud_compares as _as_the_cloud_compares  # noqa: F401
from resilient_stack.components.config_base import cidr as _cidr
from resilient_stack.components.stack_fields import PlacementConfig  # noqa: F401 - re-exported
from resilient_stack.core.vocabulary import (
    FQDN,
    PLACEMENT_NAME,
    SQL_IDENT,
)
from resilient_stack.hosts import cloudinit

NAMESPACE = "resilient-stack"  # the stack's keys' namespace (a project of another name: its own)


class WebSettings(_Model):
    """``resilient-stack:web``: what every web host serves (nginx from Debian, an index page and ``/healthz``)."""

    title: str = Field(
        default="Resilient Stack",
        min_length=1,
        max_length=200,
        description="Title of the index page, which also shows the placement that served it (e.g. "
        "`ovhcloud/GRA11/gra`).",
    )
    https: bool = Field(
        default=False,
        description="Also serve port 443; port 80 then redirects there, except `/healthz` (health checks) and ACME's "
        "challenge. With a DNS `serverName`, each web host gets a Let's Encrypt certificate (certbot, HTTP-01) and "
        "sends HSTS with it; until then, and without a DNS name, Debian's self-signed certificate, without HSTS.",
    )
    server_name: str = Field(
        default="_",
        min_length=1,
        max_length=253,
        description="nginx `server_name`: one or more names separated by spaces; `_` answers any name. DNS names "
        "(with `https`) are the names of the ACME certificate: point them at the stack's record set. With `https`, "
        "`pulumi up` needs DNS names here (or `selfSigned`).",
    )
    self_signed: bool = Field(
        default=False,
        description="Accept Debian's self-signed certificate: `https` without a DNS `serverName` serves it, and every "
        "browser shows a certificate warning (a test stack, or until your DNS name exists). `false`: `pulumi up` of "
        "`https` without a DNS `serverName` refuses (a preview warns). Refused without `https`, and with a DNS "
        "`serverName` (whose hosts get a Let's Encrypt certificate).",
    )

    app: AppSettings | None = Field(
        default=None,
        description="The application every web host runs (an OCI image under podman, behind nginx: "
        "docs/application.md). Unset: the web hosts serve the index page only.",
    )

    @model_validator(mode="after")
    def _renderable(self) -> "WebSettings":
        # the web hosts' user data is rendered from these values: the hosts layer's rule for the web role
        cloudinit.validate_web(app_title=self.title, https=self.https, server_name=self.server_name)
        if self.self_signed and not self.https:
            raise ValueError(
                "selfSigned is true but https is not: there is no certificate to accept; remove selfSigned"
            )
        if self.self_signed and self.dns_names is not None:
            raise ValueError(
                f"selfSigned is true but serverName {self.server_name!r} is a DNS name: the web hosts get "
                "a Let's Encrypt certificate for it; remove selfSigned"
            )
        return self

    @property
    def dns_names(self) -> list[str] | None:
        """The names the web hosts certify with Let's Encrypt, or None when ``serverName`` holds none (``_``, an
        address, a wildcard, a single label): the hosts layer's rule (:func:`cloudinit.acme_names`)."""
        return cloudinit.acme_names(self.server_name)

    def certificate_problem(self, namespace: str = NAMESPACE) -> str | None:
        """Why ``pulumi up`` refuses these settings (``https`` would serve a self-signed certificate nobody accepted),
        else None. The message names ``web.serverName``, the key to set."""
        if not self.https or self.self_signed or self.dns_names is not None:
            return None
        what = "is not set" if self.server_name == "_" else f"{self.server_name!r} holds no DNS name to certify"
        return (
            f"{what} and web.https is on: every web host would serve Debian's self-signed certificate and every "
            f"browser would warn; set your site's DNS name(s) (`pulumi config set --path '{namespace}:web.serverName' "
            f"'<your DNS names>'`: a Let's Encrypt certificate each), or accept the warning with web.selfSigned: true"
        )


class RotationSettings(_Model):
    """``resilient-stack:database.rotation``: the current generation of each rotatable secret. Raise one by one to
    rotate it in place (docs/operations.md#rotating-secrets-and-renewing-certificates): the running hosts take the new value within a few
    minutes, with no host replaced; earlier generations stay in the state."""

    replication: int = Field(default=0, ge=0, le=1000, description="Generation of the replication role's password.")
    rewind: int = Field(default=0, ge=0, le=1000, description="Generation of the `pg_rewind` role's password.")
    api: int = Field(default=0, ge=0, le=1000, description="Generation of the password of Patroni's REST API.")
    certificates: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Generation of the members' TLS keys and certificates (the cluster's CA stays): raise it to renew "
        "them before they are due (they are renewed by any `pulumi up` within 30 days of their expiry).",
    )
    app: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Generation of the application's password. The application's two login roles alternate: the new "
        "password goes to the other one, and the previous one stays valid for 15 minutes once the primary has the "
        "new one, so no request fails while the web hosts take it.",
    )
    backup_passphrase: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Generation of the backup repository's passphrase. pgBackRest cannot re-encrypt a repository: a "
        "new passphrase starts a new repository path in the same container (`/pgbackrest-g<n>`), with a new full "
        "backup; the earlier ones stay readable with their passphrases (stack output `backupRepositories`).",
    )

    def generations(self) -> dict[str, int]:
        return {
            "replication": self.replication,
            "rewind": self.rewind,
            "api": self.api,
            "app": self.app,
            "backup": self.backup_passphrase,
            "certificates": self.certificates,
        }


class DatabaseSettings(_Model):
    """``resilient-stack:database``: the PostgreSQL 15 tier. Which placement holds the primary and the replicas is
    set per placement (``databaseRole``)."""

    app_database: str = Field(
        default="app",
        pattern=SQL_IDENT,
        description="Name of the application database (a lower-case SQL identifier).",
    )
    app_user: str = Field(
        default="app",
        pattern=SQL_IDENT,
        description="Application role; its password is generated (`random.RandomPassword`, a Pulumi secret).",
    )
    replication_user: str = Field(
        default="replicator",
        pattern=SQL_IDENT,
        description="Replication role; its password is generated. Must differ from `appUser`.",
    )
    password_length: int = Field(
        default=32,
        ge=16,
        le=128,
        description="Length of the generated passwords (letters and digits).",
    )
    replication_cidrs: tuple[str, ...] = Field(
        default=(),
        description="Optional extra networks admitted for replication by every member's `pg_hba.conf`. Not needed: "
        "every database member's public address is allocated before the hosts and admitted as a /32. CIDRs; wider "
        "than a /8 is refused.",
    )
    app_cidrs: tuple[str, ...] = Field(
        default=(),
        description="Optional extra networks your own applications connect from: admitted to `appDatabase` as "
        "`appUser` by every member's `pg_hba.conf` (TLS + SCRAM) and by the `db` security groups. The stack's web "
        "hosts are always admitted, each as a /32. CIDRs; wider than a /8 is refused.",
    )

    volume_size: int = Field(
        default=20,
        ge=1,
        le=16384,
        description="Size (GB) of each database host's data volume, which holds PostgreSQL's data and etcd's member "
        "data and is kept when the host is replaced.",
    )
    volume_type: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Cinder volume type of the data volumes (e.g. `high-speed`); unset: the cloud's default.",
    )
    synchronous: bool = Field(
        default=False,
        description="Synchronous replication (Patroni's synchronous mode): a commit is acknowledged once a standby in "
        "another site holds it, so the member promoted after a fire holds every acknowledged write (RPO 0). Costs "
        "a round trip to that site per commit. When no standby is left the primary goes on alone, and says so. "
        "Needs every database member in its own site.",
    )
    rotation: RotationSettings = Field(
        default=RotationSettings(),
        description="The current generation of each rotatable secret (raise one to rotate it in place).",
    )
    bootstrap_from: Literal["empty", "backup"] = Field(
        default="empty",
        description="How the `databaseRole: primary` member initialises a NEW cluster: `empty` (`initdb`), or "
        "`backup`: it restores the backup repository's newest backup and replays the archived WAL (Patroni's custom "
        "bootstrap, `/usr/local/sbin/resilient-stack-restore`), and the other members clone it. The restore path "
        "after every database host was lost (docs/operations.md#restore); a running cluster is never touched by it, "
        "and only hosts created after the change read it.",
    )

    @field_validator("replication_cidrs", "app_cidrs")
    @classmethod
    def _replication_cidrs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(_cidr(c) for c in v)
        for c in out:
            if ipaddress.ip_network(c).prefixlen < 8:
                raise ValueError(f"{c!r} is wider than a /8: name the networks your database hosts use")
        return out


class DnsConfig(_Model):
    """``resilient-stack:dns``: optional A records in an OpenStack Designate zone. One record set lists every
    placement's entry points (the load balancer's floating IP, else the web hosts' public addresses)."""

    zone_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9-]+$",
        description="ID of an OpenStack Designate zone. (OVHcloud's own DNS is not Designate: this program does not "
        "manage it.)",
    )
    name: str = Field(
        min_length=2,
        max_length=253,
        pattern=FQDN,
        description="Record name, fully qualified with the final dot (`www.example.com.`).",
    )
    ttl: int = Field(default=300, ge=30, le=86400, description="TTL of the record set, in seconds.")
    placement: str | None = Field(
        default=None,
        pattern=PLACEMENT_NAME,
        description="The placement whose provider (cloud and region) holds the zone; unset: the first placement.",
    )
