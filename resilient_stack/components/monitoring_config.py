"""``resilient-stack:monitoring``: where the stack's monitoring hosts run, when its alerts fire, whom they reach.

One monitoring host (Prometheus + Alertmanager, :mod:`resilient_stack.hosts.monitoring`) in each placement named by
``placements``; the rules judge the ``monitoring`` role like any other (``single-site``: two placements on one campus
are refused). The receivers' secrets are two keys of their own, Pulumi secrets, so that none sits in ``monitoring``:
``resilient-stack:alertWebhook`` (a URL Alertmanager posts to: webhook URLs often carry a token) and
``resilient-stack:alertSmtpPassword`` (with ``monitoring.email.username``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from resilient_stack.components.config_base import ConfigModel as _Model
from resilient_stack.core.vocabulary import FQDN, PLACEMENT_NAME
from resilient_stack.hosts import monitoring as host_monitoring

__all__ = ["WEBHOOK", "SMTP_PASSWORD", "ALERT_SECRET_KEYS", "MonitoringConfig", "EmailSettings", "webhook_problem"]

WEBHOOK = "alertWebhook"  # bare config keys (in the stack's namespace), Pulumi secrets
SMTP_PASSWORD = "alertSmtpPassword"
ALERT_SECRET_KEYS = (WEBHOOK, SMTP_PASSWORD)
_ADDRESS = r"^[^@\s<>,;]{1,64}@[A-Za-z0-9.-]{1,253}$"
_SMARTHOST = r"^[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$"


def webhook_problem(url: str) -> str | None:
    """Why ``url`` is not a webhook Alertmanager can post to, or None."""
    if any(c.isspace() for c in url) or not url.isprintable():
        return "must be one URL (no space, no line break)"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL"
    return None


class EmailSettings(_Model):
    """``monitoring.email``: alerts by e-mail over SMTP (STARTTLS required; the password: ``alertSmtpPassword``)."""

    to: tuple[str, ...] = Field(min_length=1, max_length=20, description="Addresses the alerts go to.")
    sender: str = Field(alias="from", pattern=_ADDRESS, description="The `From:` address.")
    smarthost: str = Field(
        pattern=_SMARTHOST, description="The SMTP server, `host:port` (e.g. `smtp.example.com:587`)."
    )
    username: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="SMTP login; its password is the secret `alertSmtpPassword`. Unset: no authentication.",
    )

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for a in v:
            if not re.fullmatch(_ADDRESS, a):
                raise ValueError(f"{a!r} is not an e-mail address")
        return v


class ThresholdSettings(_Model):
    """``monitoring.thresholds``: when the alerts fire."""

    replica_lag_mb: int = Field(
        default=256, ge=1, le=1_000_000, description="A standby this many MB of WAL behind the primary for 5 minutes."
    )
    wal_ready_files: int = Field(
        default=16, ge=1, le=100_000, description="WAL segments (16 MB) waiting to be archived for 10 minutes."
    )
    disk_percent: int = Field(
        default=85, ge=10, le=99, description="A host's root or data file system this full (percent) for 10 minutes."
    )
    certificate_days: int = Field(
        default=14,
        ge=1,
        le=365,
        description="A web host's HTTPS certificate, or a certificate of a database member (the cluster's CA, its "
        "own, the administrator's), expires within this many days.",
    )

    backup_max_age_hours: float = Field(
        default=26,
        ge=0.05,
        le=24 * 40,
        description="The repository's newest backup older than this many hours (the daily differential at 02:00 "
        "and a margin); fractions for a schedule of minutes (`backups.schedule`): 0.1 is 6 minutes.",
    )

    def thresholds(self) -> host_monitoring.Thresholds:
        return host_monitoring.Thresholds(
            replica_lag_mb=self.replica_lag_mb,
            wal_ready_files=self.wal_ready_files,
            disk_percent=self.disk_percent,
            certificate_days=self.certificate_days,
            backup_max_age_hours=self.backup_max_age_hours,
        )


class ZoneSettings(_Model):
    """``monitoring.zone``: the monitoring hosts are also the authoritative name servers of this zone (PowerDNS):
    its name and `www` answer only the web hosts whose `/healthz` answers (checked every 5 s by each name server)."""

    name: str = Field(
        min_length=2,
        max_length=253,
        pattern=FQDN,
        description="The zone, absolute with its final dot (`shop.example.com.`): delegate it to the stack's name "
        "servers once, at your registrar or in the parent zone, with the NS and glue records of the stack output "
        "`delegation`. The stack answers its name and `www.` under it.",
    )
    ttl: int = Field(
        default=20,
        ge=5,
        le=3600,
        description="TTL of the answers, in seconds: a burned site's web hosts leave every resolver's answers "
        "within the check (every 5 s, 5 s timeout) plus this.",
    )


class MonitoringConfig(_Model):
    """``resilient-stack:monitoring``: Prometheus and Alertmanager on hosts of their own, in several sites."""

    placements: tuple[str, ...] = Field(
        min_length=1,
        max_length=5,
        description="Placement names, one monitoring host in each. Put them on two sites at least (and two "
        "providers): `single-site` refuses monitoring that one fire takes down with what it watches. Their "
        "Alertmanagers form one cluster: each alert reaches the receivers once.",
    )
    flavor: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Flavor of the monitoring hosts (2 GB of memory is plenty); unset: each placement's `flavor`.",
    )
    email: EmailSettings | None = Field(default=None, description="Alerts by e-mail; unset: none.")
    thresholds: ThresholdSettings = Field(default=ThresholdSettings(), description="When the alerts fire.")
    zone: ZoneSettings | None = Field(
        default=None,
        description="A DNS zone the monitoring hosts serve (the way in that follows the healthy sites; the `dns` "
        "role, judged by the same rules); unset: none.",
    )

    @field_validator("placements")
    @classmethod
    def _names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            if not re.fullmatch(PLACEMENT_NAME, name):
                raise ValueError(f"{name!r} is not a placement name")
        if len(set(v)) != len(v):
            raise ValueError("each placement once: one monitoring host per placement")
        return v


def problems(
    monitoring: MonitoringConfig | None, *, placements: list[str], webhook: str | None, smtp_password: bool
) -> tuple[str, str] | None:
    """The first ``(key, problem)`` across keys (the key relative to the namespace), or None."""
    if monitoring is None:
        if webhook is not None or smtp_password:
            return (
                WEBHOOK if webhook is not None else SMTP_PASSWORD
            ), "is set but monitoring is not: nothing sends alerts"
        return None
    for i, name in enumerate(monitoring.placements):
        if name not in placements:
            return f"monitoring.placements[{i}]", f"{name!r} is not a placement name"
    if webhook is not None and (problem := webhook_problem(webhook)) is not None:
        return WEBHOOK, problem
    needs = monitoring.email is not None and monitoring.email.username is not None
    if needs != smtp_password:
        return (SMTP_PASSWORD if needs else "monitoring.email.username"), (
            "monitoring.email.username and alertSmtpPassword go together (`pulumi config set --secret "
            f"{SMTP_PASSWORD} ...`)"
        )
    return None
