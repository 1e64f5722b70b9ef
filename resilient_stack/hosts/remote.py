"""The operator's commands on the web hosts, the pure part: which hosts, which ssh command line, which labels.

``resilient-stack release ...`` and ``resilient-stack app ...`` run ``sudo resilient-stack-app COMMAND`` (the
release agent's command on every web host: ``payloads/web/release.py``) over SSH, as Kamal's ``app logs`` and
``app exec`` do. The hosts come from the stack's outputs (``placements.<name>.publicAddresses``, through
:mod:`resilient_stack.hosts.inventory`); a host is named by its address or by its placement's name. The remote
command is one shell-quoted string (ssh hands the remote shell one line), so every argument arrives as it was given.
Pure: no subprocess, no network; :mod:`resilient_stack.ops.app` runs what this module builds.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass
from typing import Any, Sequence

from resilient_stack.hosts.inventory import inventory, web_placements
from resilient_stack.io.errors import InputError

APP = "/usr/local/sbin/resilient-stack-app"  # the release agent's command on every web host (root only)
SSH_FAILED = 255  # ssh's own exit status: the connection or the authentication failed, the command did not run
DEFAULT_SSH = "ssh -o BatchMode=yes -o ConnectTimeout=10"


@dataclass(frozen=True)
class WebHost:
    """One web host of the stack: its public address and the placement it belongs to."""

    address: str
    placement: str

    @property
    def label(self) -> str:
        return f"{self.address} ({self.placement})"


def web_hosts(outputs: Any, source: str) -> list[WebHost]:
    """Every web host of the stack, placements by name. The outputs must be a whole resilient-stack stack's (the
    inventory's checks); a stack without a web host is an error, since every command here needs one."""
    inventory(outputs, source)
    hosts = [WebHost(address, placement) for placement, address in web_placements(outputs["placements"], source)]
    if not hosts:
        raise InputError(source, "no web host in the stack's outputs (placements.<name>.publicAddresses are empty)")
    return hosts


def _as_address(name: str) -> str | None:
    try:
        return str(ipaddress.ip_address(name.strip()))
    except ValueError:
        return None


def select(hosts: Sequence[WebHost], wanted: str | None, source: str) -> list[WebHost]:
    """The hosts ``--host`` names: every host (None), the host at an address, or every host of a placement."""
    if wanted is None:
        return list(hosts)
    address = _as_address(wanted)
    chosen = [h for h in hosts if h.address == address] if address else [h for h in hosts if h.placement == wanted]
    if not chosen:
        placements = sorted({h.placement for h in hosts})
        raise InputError(
            source,
            f"--host {wanted}: no web host at that address nor placement of that name; the web "
            f"hosts: {', '.join(h.label for h in hosts)} (placements: {', '.join(placements)})",
        )
    return chosen


def remote_command(command: str, args: Sequence[str] = ()) -> str:
    """The line the remote shell runs: ``sudo resilient-stack-app COMMAND ARGS...``, each argument quoted."""
    return shlex.join(["sudo", APP, command, *args])


def ssh_argv(ssh: Sequence[str], user: str, host: WebHost, remote: str, tty: bool = False) -> list[str]:
    """The local command line: the ssh command (with the user's options), ``-t`` for an interactive command, then
    ``--`` (nothing of the destination is read as an option), ``USER@ADDRESS`` and the remote line."""
    return [*ssh, *(["-t"] if tty else []), "--", f"{user}@{host.address}", remote]


def parse_ssh(command: str) -> list[str]:
    """``--ssh``: a command line split as a shell would (``ssh -i KEY -J bastion``). Raises InputError when empty."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise InputError("--ssh", f"cannot split {command!r}: {exc}") from None
    if not argv:
        raise InputError("--ssh", "empty: give the ssh command, e.g. 'ssh -i ~/.ssh/KEY'")
    return argv


def release_args(command: str, as_json: bool = False, to: int | None = None) -> list[str]:
    """The arguments of ``resilient-stack-app status|rollback|retry``."""
    if command == "status":
        return ["--json"] if as_json else []
    if command == "rollback":
        return ["--to", str(to)] if to is not None else []
    return []


def logs_args(since: str | None = None, lines: int | None = None, follow: bool = False) -> list[str]:
    """journalctl's arguments for ``resilient-stack-app logs``."""
    return [
        *(["--since", since] if since else []),
        *(["-n", str(lines)] if lines is not None else []),
        *(["-f"] if follow else []),
    ]


def prefixer(hosts: Sequence[WebHost]):
    """``prefix(host, line)``: the line behind its host's label, the labels padded to one width so the lines of
    several hosts interleave legibly."""
    width = max((len(h.label) for h in hosts), default=0)

    def prefix(host: WebHost, line: str) -> str:
        return f"{host.label:<{width}} | {line}"

    return prefix
