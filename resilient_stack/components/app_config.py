"""``resilient-stack:web.app``: the user's application, an OCI image every web host runs (docs/application.md).

The secrets it gets are two keys of their own, Pulumi secrets, so that no secret sits in ``web``:
``resilient-stack:appSecrets`` (names to values: ``pulumi config set --secret --path
'resilient-stack:appSecrets.STRIPE_KEY' ...``) and ``resilient-stack:appRegistryPassword``. The rules the web hosts
hold an application to are the hosts layer's (:func:`resilient_stack.hosts.app.validate_app`): this model calls them.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from resilient_stack.components.config_base import ConfigModel as _Model
from resilient_stack.hosts import app as host_app

__all__ = ["APP_SECRETS", "REGISTRY_PASSWORD", "APP_SECRET_KEYS", "AppSettings", "AppRegistry", "AppRelease"]

APP_SECRETS = "appSecrets"  # bare config keys (in the stack's namespace), Pulumi secrets
REGISTRY_PASSWORD = "appRegistryPassword"
APP_SECRET_KEYS = (APP_SECRETS, REGISTRY_PASSWORD)


class AppRegistry(_Model):
    """``web.app.registry``: the credentials of a private registry (the password: ``appRegistryPassword``)."""

    username: str = Field(
        min_length=1,
        max_length=255,
        description="User name at the registry of `image` (its password is the secret `appRegistryPassword`: "
        "`pulumi config set --secret resilient-stack:appRegistryPassword ...`).",
    )


class AppRelease(_Model):
    """``web.app.release``: how a new release goes through the web hosts."""

    order: tuple[str, ...] = Field(
        default=(),
        description="Placement names, the order a release goes through the sites (one host at a time). Unset: the "
        "placements in the stack's order, the one that holds the database primary (when the release starts) last.",
    )
    health_timeout: int = Field(
        default=120,
        ge=5,
        le=3600,
        description="Seconds a new version has to answer its health check (`healthPath`, 2xx or 3xx) on a host; "
        "then the release stops there and every host keeps the version it serves.",
    )
    drain_seconds: int = Field(
        default=5,
        ge=0,
        le=600,
        description="Seconds the previous version keeps running on a host once nginx sends the visitors to the new "
        "one (requests it holds finish), before it is stopped.",
    )


class AppSettings(_Model):
    """``web.app``: the user's application, run on every web host behind nginx (docs/application.md)."""

    image: str = Field(
        min_length=1,
        max_length=512,
        description="The application's OCI image: `registry/name:tag` or `registry/name@sha256:...` (the registry is "
        "required: no short names). Changing it (or anything else in `web.app`, or `appSecrets`) is a new release: "
        "it goes through the web hosts one at a time, each behind a health check, with no host replaced.",
    )
    port: int = Field(
        default=8080,
        ge=1,
        le=65535,
        description="The port the application listens on in its container (it also gets it as `PORT`).",
    )
    health_path: str = Field(
        default="/healthz",
        min_length=1,
        max_length=256,
        description="The application's health check: a path that answers 2xx or 3xx when it can serve. A release "
        "waits for it on each host; the stack's `/healthz` is proxied to it.",
    )
    command: tuple[str, ...] = Field(
        default=(),
        description="Arguments replacing the image's `CMD` (the entrypoint stays). Unset: the image's own.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables (no secrets: those go in `appSecrets`). The stack sets `PORT`, "
        "`DATABASE_URL`, `PGPASSFILE`, libpq's `PG*` and `RESILIENT_STACK_*`; they cannot be overridden.",
    )
    migrate: tuple[str, ...] = Field(
        default=(),
        description="The release phase: arguments run once per release in a container of the new image (as the "
        "database's owner role), on one web host under a lock, before any host switches; a failure stops the "
        "release. Unset: none.",
    )
    registry: AppRegistry | None = Field(
        default=None,
        description="Credentials of a private registry; unset: the image is pulled anonymously.",
    )
    release: AppRelease = Field(default=AppRelease(), description="How a release goes through the web hosts.")

    @model_validator(mode="after")
    def _runnable(self) -> "AppSettings":
        host_app.validate_app(self.spec(()))  # the hosts layer's rules; `order` against the placements: later
        return self

    def spec(self, secret_names: tuple[str, ...]) -> host_app.AppSpec:
        """The hosts layer's view (``secret_names``: the names of ``appSecrets``)."""
        return host_app.AppSpec(
            image=self.image,
            port=self.port,
            health_path=self.health_path,
            command=self.command,
            env=dict(self.env),
            migrate=self.migrate,
            secret_names=tuple(sorted(secret_names)),
            registry_user=self.registry.username if self.registry else None,
            health_timeout=self.release.health_timeout,
            drain_seconds=self.release.drain_seconds,
            order=self.release.order,
        )
