"""The application's commands over SSH: its releases, its logs, a shell in its container.

    resilient-stack release status|rollback|retry STACK      the release log, from the first web host that answers
    resilient-stack app logs STACK [--host HOST]             every selected host's output at once, line by line
    resilient-stack app exec STACK --host HOST -- COMMAND... a command in one host's application container

Each runs ``sudo resilient-stack-app ...`` on the web hosts (:mod:`resilient_stack.hosts.remote` builds the
command lines). The release log lives in the application's database, so any web host gives the same answer: a host
ssh cannot reach (ssh's exit 255) hands over to the next (``rollback`` and ``retry`` only before they started). The operator's own ssh does the connecting (``--ssh``:
keys, jump hosts, known hosts), so this module holds no secret and opens no connection itself.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import IO, Sequence

from resilient_stack.hosts.remote import (
    SSH_FAILED,
    WebHost,
    logs_args,
    parse_ssh,
    prefixer,
    release_args,
    remote_command,
    select,
    ssh_argv,
    web_hosts,
)
from resilient_stack.io.errors import InputError
from resilient_stack.ops.outputs import load_outputs


@dataclass(frozen=True)
class Session:
    """Where the commands go: the stack's web hosts, and how to reach them."""

    stack: str
    source: str  # what errors about the outputs name: the file, <stdin> or the stack
    hosts: list[WebHost]
    ssh: list[str]
    user: str

    def argv(self, host: WebHost, remote: str, tty: bool = False) -> list[str]:
        return ssh_argv(self.ssh, self.user, host, remote, tty)


def open_session(
    stack: str, outputs: str | None = None, cwd: str | None = None, user: str = "debian", ssh: str = "ssh"
) -> Session:
    """The stack's web hosts from its outputs (``outputs``: a file, ``-``, or None for ``pulumi stack output``)."""
    ssh_command = parse_ssh(ssh)
    document, source = load_outputs(stack, outputs, cwd)
    return Session(stack, source, web_hosts(document, source), ssh_command, user)


def note(line: str) -> None:
    """One line for the operator on stderr, after whatever stdout holds so far."""
    sys.stdout.flush()
    print(f"resilient-stack: {line}", file=sys.stderr, flush=True)


def _start(argv: list[str], **kwargs) -> subprocess.Popen:
    """The local ssh process; an ssh command that cannot be started is the operator's input (``--ssh``)."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        return subprocess.Popen(argv, **kwargs)
    except OSError as exc:
        raise InputError("--ssh", f"cannot run {argv[0]}: {exc.strerror or exc}") from None


def _wait(proc: subprocess.Popen) -> int:
    """The process's exit status; interrupted (Ctrl-C), it is stopped before the interruption goes on."""
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        raise


def release(session: Session, command: str, as_json: bool = False, to: int | None = None) -> int:
    """``resilient-stack-app status|rollback|retry`` on the first web host that answers; its output passes through
    and its exit status is the command's. Every host unreachable is one line (InputError).

    ``status`` hands over to the next host on ssh's 255. ``rollback`` and ``retry`` register a release: ssh's 255
    also means a connection lost mid-command, so they never run twice; the host is chosen first (a command that does
    nothing, ``true``), then the command runs there once."""
    remote = remote_command(command, release_args(command, as_json, to))
    probe = command != "status"
    tried: list[str] = []
    for host in session.hosts:
        code = _wait(_start(session.argv(host, "true" if probe else remote), stdin=subprocess.DEVNULL))
        if code != SSH_FAILED:
            if probe:
                code = _wait(_start(session.argv(host, remote), stdin=subprocess.DEVNULL))
                if code == SSH_FAILED:
                    note(
                        f"release {command}: {host.label}: ssh failed (exit {SSH_FAILED}) after it answered: not "
                        "run again elsewhere; `resilient-stack release status` says whether it was registered"
                    )
                    return code
            note(f"release {command}: answered by {host.label}")
            return code
        tried.append(host.label)
        if len(tried) < len(session.hosts):
            note(f"{host.label}: ssh failed (exit {SSH_FAILED}); trying the next web host")
    raise InputError(
        session.stack,
        f"no web host answered over SSH (exit {SSH_FAILED} from {', '.join(tried)}): "
        "check --user, --ssh (a key: -i KEY; a bastion: -J HOST) and that your address "
        "is in adminCidrs",
    )


def logs(
    session: Session,
    wanted: str | None = None,
    since: str | None = None,
    lines: int | None = None,
    follow: bool = False,
) -> int:
    """The application's output on every selected host at once, each line behind its host's label as it comes.
    0 when every host answered; 1 when one did not (each said on stderr, with its exit status), the others shown."""
    hosts = select(session.hosts, wanted, session.source)
    remote = remote_command("logs", logs_args(since, lines, follow))
    prefix, lock = prefixer(hosts), threading.Lock()
    running = [
        (
            host,
            _start(
                session.argv(host, remote), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            ),
        )
        for host in hosts
    ]
    pumps = [
        threading.Thread(target=_pump, args=(stream, host, err, prefix, lock), daemon=True)
        for host, proc in running
        for stream, err in ((proc.stdout, False), (proc.stderr, True))
    ]
    for pump in pumps:
        pump.start()
    try:
        for pump in pumps:
            pump.join()
        codes = [(host, proc.wait()) for host, proc in running]
    except KeyboardInterrupt:
        for _, proc in running:
            proc.terminate()
        raise
    failed = [(host, code) for host, code in codes if code != 0]
    for host, code in failed:
        why = "unreachable (ssh" if code == SSH_FAILED else "the logs command failed (exit"
        note(f"{host.label}: {why} {code})")
    return 1 if failed else 0


def _pump(stream: IO[bytes], host: WebHost, err: bool, prefix, lock: threading.Lock) -> None:
    """Copy one host's stream to ours, line by line, each behind the host's label (stderr to stderr)."""
    for raw in iter(stream.readline, b""):
        line = prefix(host, raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        with lock:
            out = sys.stderr if err else sys.stdout
            out.write(line + "\n")
            out.flush()
    stream.close()


def interactive() -> bool:
    """Whether stdin is a terminal (then ssh gets ``-t``: a shell, a console with line editing)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        return False


def exec_command(session: Session, wanted: str, command: Sequence[str]) -> int:
    """COMMAND in the application's container of one host (a placement: its first); the remote exit status."""
    host = select(session.hosts, wanted, session.source)[0]
    code = _wait(_start(session.argv(host, remote_command("exec", command), tty=interactive())))
    if code == SSH_FAILED:
        note(f"{host.label}: exit {SSH_FAILED}: ssh could not connect (or the connection was lost)")
    return code
