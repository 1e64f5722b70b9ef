"""The user's application on the web hosts: an OCI image run by Debian's podman under systemd, behind nginx.

Every web host runs the application's current release in one of two slots (``a``, ``b``: containers
``rs-app-a``/``-b`` that podman runs and restarts, the agent starts again after a reboot; published on the loopback at
:data:`SLOT_PORTS`). nginx sends the host's visitors to the slot of the current release (an ``upstream``
:data:`~resilient_stack.hosts.paths.APP_UPSTREAM` that the agent rewrites, then a graceful reload: in-flight
requests finish on the previous version). A new version starts in the other slot, must answer its health check,
and only then receives the visitors; the previous one is stopped after a drain.

The agent (``payloads/web/release.py``, :data:`AGENT`, a systemd service on every web host) coordinates the
stack's web hosts through the application's database, where it keeps the release log (schema ``resilient_stack``):

* a new application spec (image, command, environment, secrets' version, ...: :func:`release_key`) in the
  runtime document is registered once as a release; ``rollback`` registers the previous one again;
* the release phase: the ``migrate`` command runs once per release, on one host, under an advisory lock, before
  any host switches; a failed migration fails the release;
* then one host at a time, site by site (``release.order``, else the stack's placements in order with the
  primary's last: the primary as the release finds it), each waiting for the hosts before it; a host whose new version fails its health check stops the release
  there, and every other host keeps serving the previous one. A host serving nothing yet (a new stack, a new host)
  starts at once.

What the container gets (the agent's ``prepare``): ``DATABASE_URL``, libpq's ``PG*`` variables and ``PGPASSFILE`` (the
password is a file, never in the environment), the user's ``env`` and secrets (podman secrets: root-only on the
host), ``RESILIENT_STACK_*`` (placement, host, release, the write token). Pure: the validation of the application's settings (the one rule set: the stack configuration and the
renderers call it) and the rendering of the host's files.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from resilient_stack.hosts import payload
from resilient_stack.hosts.cluster import migrate_role  # noqa: F401 - the release phase's role, re-exported
from resilient_stack.hosts.document import write_file
from resilient_stack.hosts.paths import (
    APP_CREDENTIALS,
    APP_STATE_DIR,
    APP_UPSTREAM,
    CA_CERT,
    RUNTIME_CONFIG,
    SYNC_SERVICE,
    SYSTEMD_DIR,
)

__all__ = [
    "AGENT",
    "AGENT_SERVICE",
    "SLOT_PORTS",
    "PACKAGES",
    "AppSpec",
    "validate_app",
    "release_key",
    "secrets_version",
    "upstream_conf",
    "files",
    "runtime_section",
    "secret_section",
    "RESERVED_ENV",
    "SECRETS_BUDGET",
    "reserved_length",
    "check_secrets_budget",
]

AGENT = "/usr/local/sbin/resilient-stack-app"
AGENT_SERVICE = "resilient-stack-app-agent"
SLOT_PORTS = {"a": 18080, "b": 18081}
# catatonit: the containers' init (podman run --init), so that SIGTERM stops an application that does not handle it
PACKAGES = ["podman", "catatonit", "netavark", "aardvark-dns", "iptables", "uidmap", "python3", "python3-psycopg2"]
PGPASS_MOUNT = "/run/resilient-stack/pgpass"
CA_MOUNT = "/run/resilient-stack/ca.crt"

# An image reference: a registry host (a dot or a port in its first part, or localhost), a path, a tag and/or a
# digest. Short names are refused: which registry podman would ask is a per-host setting, and an image must come
# from the registry the user means.
_IMAGE = re.compile(
    r"^(?P<registry>(?:localhost|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)(?::\d{1,5})?"
    r"|localhost(?::\d{1,5})?|[a-z0-9-]+:\d{1,5})"
    r"/(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# nginx's site reads it raw (``proxy_pass http://rs_app<path>;``): no ';' (ends the directive) and no '$' (a variable)
_HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~!&'()*+,=:@/?%-]{0,255}$")
RESERVED_ENV = (
    "PORT",
    "DATABASE_URL",
    "PGPASSFILE",
    "PGHOST",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGSSLROOTCERT",
    "PGSSLMODE",
    "PGTARGETSESSIONATTRS",
    "PGCHANNELBINDING",
    "PGCONNECT_TIMEOUT",
)
RESERVED_PREFIX = "RESILIENT_STACK_"


@dataclass(frozen=True)
class AppSpec:
    """What runs on every web host: the image and how to run it. ``env`` holds no secret (secrets travel sealed:
    :func:`secret_section`); ``order``: placement names, the order of a release (empty: the placements in order, the primary's last)."""

    image: str
    port: int = 8080
    health_path: str = "/healthz"
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    migrate: tuple[str, ...] = ()
    secret_names: tuple[str, ...] = ()
    registry_user: str | None = None
    health_timeout: int = 120
    drain_seconds: int = 5
    order: tuple[str, ...] = ()

    def registry(self) -> str:
        m = _IMAGE.match(self.image)
        return m.group("registry") if m else ""

    def document(self) -> dict[str, Any]:
        """The non-secret spec as the runtime document carries it (and the release log records it)."""
        return {
            "image": self.image,
            "port": self.port,
            "health_path": self.health_path,
            "command": list(self.command),
            "env": dict(sorted(self.env.items())),
            "migrate": list(self.migrate),
            "secrets": sorted(self.secret_names),
            "registry": self.registry(),
            "registry_user": self.registry_user,
            "health_timeout": self.health_timeout,
            "drain_seconds": self.drain_seconds,
        }


def _env_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _ENV_NAME.match(name):
        raise ValueError(f"{what} {name!r} is not an environment variable name (letters, digits, '_')")
    if name in RESERVED_ENV or name.startswith(RESERVED_PREFIX):
        raise ValueError(f"{what} {name!r} is set by the stack (see docs/application.md#what-the-container-gets)")
    return name


def _word_list(items: Any, what: str) -> tuple[str, ...]:
    if isinstance(items, str) or not isinstance(items, (list, tuple)):
        raise ValueError(f"{what} must be a list of strings")
    for item in items:
        if not isinstance(item, str) or not item or len(item) > 4096 or "\n" in item or "\x00" in item:
            raise ValueError(f"{what}: every item is a non-empty line of at most 4096 characters")
    if len(items) > 64:
        raise ValueError(f"{what}: at most 64 items")
    return tuple(items)


def validate_app(spec: AppSpec, placements: Sequence[str] | None = None) -> AppSpec:
    """Refuse (``ValueError``, one line naming the setting) what the web hosts could not run. ``placements``: the
    stack's placement names with web hosts (``order`` must name only those), or None when not known yet."""
    if not isinstance(spec.image, str) or not _IMAGE.match(spec.image):
        raise ValueError(
            f"image {spec.image!r} is not a full image reference: registry/name:tag or "
            "registry/name@sha256:..., e.g. ghcr.io/acme/shop:1.4.2 (a short name is refused: "
            "give the registry)"
        )
    m = _IMAGE.match(spec.image)
    assert m is not None  # matched just above
    if not m.group("tag") and not m.group("digest"):
        raise ValueError(f"image {spec.image!r} names no tag or digest: give the version (:1.4.2 or @sha256:...)")
    if isinstance(spec.port, bool) or not isinstance(spec.port, int) or not 1 <= spec.port <= 65535:
        raise ValueError(f"port must be 1 to 65535, got {spec.port!r}")
    if not isinstance(spec.health_path, str) or not _HEALTH_PATH.match(spec.health_path):
        raise ValueError(
            f"healthPath must be a URL path starting with '/' (no space, ';' or '$'), got {spec.health_path!r}"
        )
    _word_list(spec.command, "command")
    _word_list(spec.migrate, "migrate")
    if not isinstance(spec.env, Mapping) or len(spec.env) > 256:
        raise ValueError("env must be a mapping of at most 256 names to values")
    for name, value in spec.env.items():
        _env_name(name, "env")
        if not isinstance(value, str) or len(value) > 32768 or "\n" in value or "\x00" in value:
            raise ValueError(f"env {name}: the value must be one line of at most 32768 characters")
    for name in spec.secret_names:
        _env_name(name, "secret")
        if name in spec.env:
            raise ValueError(f"secret {name!r} is also in env: give it once")
    if spec.registry_user is not None and (
        not isinstance(spec.registry_user, str)
        or not spec.registry_user
        or any(c.isspace() or c == ":" for c in spec.registry_user)
    ):
        raise ValueError("registry.username must be one word without ':'")
    for what, number, low, high in (
        ("healthTimeout", spec.health_timeout, 5, 3600),
        ("drainSeconds", spec.drain_seconds, 0, 600),
    ):
        if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
            raise ValueError(f"{what} must be {low} to {high} seconds, got {number!r}")
    if len(set(spec.order)) != len(spec.order):
        raise ValueError(f"release order names a placement twice: {list(spec.order)}")
    if placements is not None:
        unknown = [p for p in spec.order if p not in placements]
        if unknown:
            raise ValueError(
                f"release order names {unknown}, which hold no web host (placements with web hosts: {list(placements)})"
            )
    return spec


def secrets_version(secrets: Mapping[str, str], key: str) -> str:
    """A version of the application's secrets that says whether they changed and nothing else: an HMAC keyed with a
    stack secret (the same on every host, so they agree on the release; no value can be tried against it)."""
    text = json.dumps(dict(sorted(secrets.items())), separators=(",", ":"))
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()[:32]


def release_key(spec_doc: Mapping[str, Any], version: str) -> str:
    """What tells two releases apart: the spec and the secrets' version."""
    text = json.dumps({"spec": spec_doc, "secrets": version}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def upstream_conf(slot: str | None) -> str:
    """nginx's ``upstream rs_app``: the slot of the current release (none yet: a server marked down, 502)."""
    server = f"server 127.0.0.1:{SLOT_PORTS[slot]};" if slot else f"server 127.0.0.1:{SLOT_PORTS['a']} down;"
    return (
        f"# Managed by resilient-stack-app: the application's current slot\n"
        f"upstream rs_app {{\n    {server}\n    keepalive 16;\n}}\n"
    )


def runtime_section(
    *,
    spec: AppSpec,
    version: str,
    host: str,
    placement: str,
    label: str,
    placements: Sequence[str],
    members: Mapping[str, str],
    db_hosts: Sequence[str],
    db_port: int,
    dbname: str,
) -> dict[str, Any]:
    """The ``app`` part of a web host's runtime document (no secret): the spec, the secrets' version, this host,
    and what the agent needs to order a release (the placements with web hosts, each database member's placement)."""
    doc = spec.document()
    return {
        "spec": doc,
        "secrets_version": version,
        "key": release_key(doc, version),
        "host": host,
        "placement": placement,
        "label": label,
        "placements": list(placements),
        "order": list(spec.order),
        "members": dict(members),
        "database": {"hosts": list(db_hosts), "port": db_port, "dbname": dbname},
    }


SECRETS_BUDGET = 16384  # characters the user's secrets and the registry's password may take in a web host's metadata


def reserved_length(value: str) -> int:
    """The room a secret value takes in the sealed document: its JSON-escaped length rounded up to a power of two
    (at least 256), so that a rotation to a value of about the same size keeps the metadata's items as they are."""
    escaped = len(json.dumps(value)) - 2
    size = 256
    while size < escaped:
        size *= 2
    return size


def check_secrets_budget(secrets: Mapping[str, str], registry_password: str | None = None) -> int:
    """The room the secrets take (:func:`reserved_length`), or ValueError when more than :data:`SECRETS_BUDGET`:
    with the rest of a web host's sealed secrets and runtime document, they must fit in 128 metadata items of 255
    characters (Nova's default quota of metadata items per instance)."""
    total = sum(reserved_length(v) for v in secrets.values())
    total += reserved_length(registry_password) if registry_password else 0
    if total > SECRETS_BUDGET:
        raise ValueError(
            f"secret values take {total} characters once sealed (each rounded up to a power of two, "
            f"JSON-escaped): at most {SECRETS_BUDGET} fit a web host's metadata (Nova's default quota, 128 "
            "items per instance)"
        )
    return total


def secret_section(
    *,
    credentials: Sequence[tuple[str, str]],
    migrate: tuple[str, str],
    write_token: str,
    secrets: Mapping[str, str],
    registry_password: str | None,
) -> dict[str, Any]:
    """The ``app`` part of a web host's sealed document: the application's database credentials (current first),
    the release phase's, the write token, the user's secrets and the registry's password."""
    for name, value in secrets.items():
        _env_name(name, "secret")
        if not isinstance(value, str) or "\x00" in value or len(value) > 65536:
            raise ValueError(f"secret {name}: at most 65536 characters, no NUL")
    return {
        "credentials": [{"user": u, "password": p} for u, p in credentials],
        "migrate": {"user": migrate[0], "password": migrate[1]},
        "write_token": write_token,
        "secrets": dict(sorted(secrets.items())),
        **({"registry_password": registry_password} if registry_password else {}),
    }


def files() -> list[dict[str, Any]]:
    """The agent, its service and the first (empty) upstream (``write_files`` entries)."""
    return [
        write_file(
            AGENT,
            payload.render(
                "web/release.py",
                runtime_config=RUNTIME_CONFIG,
                sync_unit=f"{SYNC_SERVICE}.service",
                credentials=APP_CREDENTIALS,
                state_dir=APP_STATE_DIR,
                upstream=APP_UPSTREAM,
                ca_cert=CA_CERT,
                port_a=SLOT_PORTS["a"],
                port_b=SLOT_PORTS["b"],
                pgpass_mount=PGPASS_MOUNT,
                ca_mount=CA_MOUNT,
                upstreams=json.dumps({slot: upstream_conf(slot) for slot in SLOT_PORTS}),
            )
            + payload.render("web/release_commands.py"),
            permissions="0755",
        ),
        write_file(
            f"{SYSTEMD_DIR}/{AGENT_SERVICE}.service", payload.render(f"systemd/{AGENT_SERVICE}.service", agent=AGENT)
        ),
        write_file(APP_UPSTREAM, upstream_conf(None)),
    ]
