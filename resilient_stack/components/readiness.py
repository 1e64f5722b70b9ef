"""What a first ``pulumi up`` needs beyond a valid configuration: refused by ``pulumi up``, warned about by a preview.

A configuration can be valid and still not deployable as it is: a stack file copied from ``stacks/`` names no
backup credential and, for production, no DNS name for its HTTPS. A preview (``pulumi preview``, the mock runner,
the fire drill) goes on with what it can render and warns (:func:`deploy_problems`, ``preview``); ``pulumi up``
refuses with one line naming the key to set (:class:`~resilient_stack.components.stack_config.StackConfigError`).
:func:`advisories` are what every run only warns about (nobody can log in to the hosts).

The rules live here and in the models they read (:meth:`WebSettings.certificate_problem`); where they are enforced
is :func:`resilient_stack.components.stack.deploy_checks`. Every message names the key in the stack's own namespace
(``resilient-stack``, or the project's for a project made with ``pulumi new`` under another name).
"""

from __future__ import annotations

from dataclasses import dataclass

from resilient_stack.components.backup_config import ACCESS_KEY, SECRET_KEY
from resilient_stack.components.stack_config import NAMESPACE, StackConfig

__all__ = ["DeployProblem", "deploy_problems", "advisories"]


@dataclass(frozen=True)
class DeployProblem:
    """One reason ``pulumi up`` refuses: ``key`` (full), ``problem`` (the refusal, after the key) and ``preview``
    (what a preview renders instead)."""

    key: str
    problem: str
    preview: str

    def warning(self) -> str:
        """The preview's one-line warning."""
        return f"{self.key} {self.problem}; {self.preview}, and `pulumi up` will refuse"


def deploy_problems(cfg: StackConfig, namespace: str = NAMESPACE) -> list[DeployProblem]:
    """What ``pulumi up`` refuses in ``cfg``, in the order it names them (the backup credential first)."""
    out = []
    if cfg.backup_s3_access_key is None or cfg.backup_s3_secret_key is None:
        out.append(
            DeployProblem(
                f"{namespace}:{ACCESS_KEY}",
                "is not set: create the backup repository's dedicated object-store user "
                "(docs/operations.md#the-backup-credential) and `pulumi config set --secret "
                f"{namespace}:{ACCESS_KEY} ...` and `... {namespace}:{SECRET_KEY} ...`; the stack never falls back to the "
                "deploying user's project-wide key",
                "this preview renders placeholder backup keys",
            )
        )
    certificate = cfg.web.certificate_problem(namespace)
    if certificate is not None:
        out.append(
            DeployProblem(
                f"{namespace}:web.serverName", certificate, "this preview renders Debian's self-signed certificate"
            )
        )
    image = cfg.web.app.image if cfg.web.app is not None else None
    if image is not None and reserved_registry(image):
        out.append(
            DeployProblem(
                f"{namespace}:web.app.image",
                f"{image!r} is the template's placeholder (a reserved documentation domain): build your image (e.g. the "
                "example application, examples/app) and push it to your registry, then `pulumi config set --path "
                f"'{namespace}:web.app.image' REGISTRY/NAME:TAG`",
                "this preview renders the placeholder image",
            )
        )
    zone = cfg.monitoring.zone if cfg.monitoring is not None else None
    if zone is not None and reserved_name(zone.name):
        out.append(
            DeployProblem(
                f"{namespace}:monitoring.zone.name",
                f"{zone.name!r} is the template's placeholder (a reserved documentation domain): name the zone you "
                f"delegate to the stack's name servers, `pulumi config set --path '{namespace}:monitoring.zone.name' "
                "shop.your-domain.tld.`",
                "this preview renders name servers for the placeholder zone",
            )
        )
    return out


RESERVED_DOMAINS = ("example.com", "example.net", "example.org", "example", "test", "invalid", "localhost")


def reserved_name(name: str) -> bool:
    """Whether ``name`` is in a domain reserved for documentation and tests (RFC 2606, RFC 6761)."""
    name = name.lower().rstrip(".")
    return any(name == d or name.endswith("." + d) for d in RESERVED_DOMAINS)


def reserved_registry(image: str) -> bool:
    """Whether the image's registry is in a domain reserved for documentation and tests: no cloud host can pull
    from it."""
    return reserved_name(image.split("/", 1)[0].split(":", 1)[0])


def advisories(cfg: StackConfig, namespace: str = NAMESPACE) -> list[str]:
    """What every run warns about and deploys anyway: the ways in for an operator that are closed."""
    out = []
    if cfg.ssh_public_key is None:
        out.append(
            f"{namespace}:sshPublicKey is not set: nobody can log in to the hosts (the image's user `debian` "
            f"has no key), and a key set later reaches only the hosts created after it; `pulumi config set "
            f'{namespace}:sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)"`'
        )
    elif not cfg.admin_cidrs:
        out.append(
            f"{namespace}:adminCidrs is empty: SSH is closed on every host; open it for your office's or VPN's "
            f"network, in place (no host replaced): `pulumi config set --path '{namespace}:adminCidrs[0]' "
            "<network>/<prefix>`"
        )
    return out
